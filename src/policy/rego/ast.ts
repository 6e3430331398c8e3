// Rego abstract syntax tree produced by the parser and consumed by the compiler.
import type { Value } from './value.js';

export interface Pos {
  line: number;
  col: number;
}

export type Term = Pos &
  (
    | { t: 'scalar'; v: Value }
    | { t: 'var'; name: string }
    | { t: 'ref'; head: Term; path: Term[] }
    | { t: 'array'; items: Term[] }
    | { t: 'set'; items: Term[] }
    | { t: 'object'; items: [Term, Term][] }
    | { t: 'arraycomp'; term: Term; body: Expr[] }
    | { t: 'setcomp'; term: Term; body: Expr[] }
    | { t: 'objcomp'; key: Term; value: Term; body: Expr[] }
    | { t: 'call'; name: string; args: Term[] }
  );

export interface With {
  target: Term;
  value: Term;
}

export type Expr = Pos &
  (
    | { k: 'expr'; neg: boolean; term: Term; with: With[] }
    | { k: 'some'; vars: string[] }
    | { k: 'somein'; key?: Term; val: Term; coll: Term; with: With[] }
    | { k: 'every'; key?: Term; val: Term; dom: Term; body: Expr[]; with: With[] }
  );

export interface ElseClause extends Pos {
  value?: Term;
  body: Expr[];
}

export interface Rule extends Pos {
  isDefault: boolean;
  /** Head reference: first element is the rule name (a var), then path terms. */
  ref: Term[];
  args?: Term[];
  contains?: Term;
  value?: Term;
  body: Expr[];
  elses: ElseClause[];
}

export interface Import extends Pos {
  path: string[];
  alias?: string;
}

export interface Module {
  file: string;
  pkg: string[];
  imports: Import[];
  rules: Rule[];
}
