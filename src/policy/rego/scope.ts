// Compile-time scopes (var name -> frame slot) and var-collection helpers over the AST.
import type { Term } from './ast.js';

export class Scope {
  readonly vars = new Map<string, number>();
  constructor(
    readonly parent: Scope | null,
    readonly alloc: { n: number },
  ) {}
  /** Names declared with := that nested scopes cannot see before the declaring literal. */
  readonly hidden = new Set<string>();
  lookup(name: string, fromChild = false): number | undefined {
    const v = this.vars.get(name);
    if (v !== undefined && !(fromChild && this.hidden.has(name))) return v;
    return this.parent ? this.parent.lookup(name, true) : undefined;
  }
  declare(name: string): number {
    const slot = this.alloc.n++;
    if (name !== '_') this.vars.set(name, slot);
    return slot;
  }
}

export interface ModCtx {
  file: string;
  pkg: string[];
  imports: Map<string, string[]>;
  ruleNames: Set<string>;
}

export function refSegs(t: Term): string[] | undefined {
  if (t.t === 'var') return [t.name];
  if (t.t !== 'ref' || t.head.t !== 'var') return undefined;
  const out = [t.head.name];
  for (const p of t.path) {
    if (p.t !== 'scalar' || typeof p.v !== 'string') return undefined;
    out.push(p.v);
  }
  return out;
}

export function termHasVar(t: Term, name: string): boolean {
  const s = new Set<string>();
  patternVars(t, s);
  return s.has(name);
}

export function patternVars(t: Term, out: Set<string>): void {
  if (t.t === 'var') {
    if (t.name !== '_') out.add(t.name);
  } else if (t.t === 'array') for (const x of t.items) patternVars(x, out);
  else if (t.t === 'object') for (const [, v] of t.items) patternVars(v, out);
}

/** Var names used in a term (not inside nested closures). */
export function termVars(t: Term, out: Set<string>): void {
  switch (t.t) {
    case 'var':
      if (t.name !== '_') out.add(t.name);
      return;
    case 'ref':
      termVars(t.head, out);
      for (const p of t.path) termVars(p, out);
      return;
    case 'array':
    case 'set':
      for (const x of t.items) termVars(x, out);
      return;
    case 'object':
      for (const [k, v] of t.items) {
        termVars(k, out);
        termVars(v, out);
      }
      return;
    case 'call':
      for (const a of t.args) termVars(a, out);
      return;
    default:
      return;
  }
}
