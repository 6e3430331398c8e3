// Statement facts: what the gateway knows about one SQL statement, as policies see it.

export type StatementClass =
  'read' | 'write' | 'ddl' | 'dcl' | 'transaction' | 'session' | 'utility' | 'unknown';

export type Access = 'read' | 'write';

export type Clause =
  'select' | 'where' | 'join' | 'group' | 'having' | 'order' | 'returning' | 'set' | 'values';

export interface RelationFact {
  /** Resolved schema (against the pinned search_path), or the one written. */
  schema: string;
  name: string;
  /** "table" unless known otherwise: "function" (in FROM), "cte" is never reported. */
  kind: string;
  access: Access;
  /** Database part of a three-part name, when one was written. */
  catalog?: string;
}

export interface ColumnFact {
  schema: string;
  table: string;
  column: string;
  clause: Clause;
  /**
   * True when the column reaches the output only through an expression (a function,
   * operator, cast, aggregate, row constructor...), not as a bare reference.
   */
  derived?: boolean;
}

export type FunctionEffect = 'read' | 'side_effect' | 'unknown';

export interface FunctionFact {
  schema: string;
  name: string;
  effect: FunctionEffect;
}

export interface StatementFacts {
  text: string;
  fingerprint: string;
  /** Command tag, e.g. "SELECT", "DELETE", "CREATE TABLE". */
  command: string;
  class: StatementClass;
  relations: RelationFact[];
  columns: ColumnFact[];
  functions: FunctionFact[];
  has_where: boolean;
  opaque: boolean;
  parse_error?: string;
  /** Extra facts by statement kind (copy, transaction, set, prepare...). */
  [extra: string]: unknown;
}

/** Result of analysing one client SQL string (possibly several statements). */
export interface AnalyzedText {
  statements: StatementFacts[];
  /** Set when the whole string was refused before or during parsing. */
  error?: { code: string; message: string };
  /** True for an empty (or comments-only) query string. */
  empty: boolean;
}
