// Compile-time checks over the rule tree: one rule kind per path, no recursive rules.
import { RegoError } from './errors.js';
import type { DNode } from './runtime.js';

/** A path holds one kind of rule; only object (ref-head) rules may have rules below them. */
export function checkKinds(n: DNode): void {
  const isFn = n.arity !== undefined;
  const kinds =
    (n.complete.length > 0 || (n.dflt && !isFn) ? 1 : 0) +
    (n.sets.length > 0 ? 1 : 0) +
    (n.grefs.length > 0 ? 1 : 0) +
    (isFn ? 1 : 0);
  const first = n.complete[0] ?? n.sets[0] ?? n.funcs[0] ?? n.grefs[0] ?? n.dflt;
  const below = [...n.children.values()].some((ch) => subtreeHasRules(ch));
  if (first && (kinds > 1 || (below && n.grefs.length === 0)))
    throw new RegoError(
      'rego_type_error',
      `conflicting rules data.${n.path.join('.')} found`,
      first.loc.file,
      first.loc.line,
      first.loc.col,
    );
  for (const ch of n.children.values()) checkKinds(ch);
}

/** Rules that depend on themselves (directly or through other rules) are compile errors. */
export function checkRecursion(deps: Map<DNode, Set<DNode>>): void {
  const state = new Map<DNode, 1 | 2>();
  const below = (n: DNode, out: DNode[]) => {
    if (deps.has(n)) out.push(n);
    for (const ch of n.children.values()) below(ch, out);
    return out;
  };
  const visit = (n: DNode, stack: DNode[]): void => {
    const st = state.get(n);
    if (st === 2) return;
    if (st === 1) {
      const cycle = stack.slice(stack.indexOf(n)).map((x) => 'data.' + x.path.join('.'));
      const r = n.complete[0] ?? n.sets[0] ?? n.grefs[0] ?? n.funcs[0] ?? n.dflt;
      throw new RegoError(
        'rego_recursion_error',
        `rule ${cycle[0]} is recursive: ${[...cycle, cycle[0]].join(' -> ')}`,
        r?.loc.file,
        r?.loc.line,
        r?.loc.col,
      );
    }
    state.set(n, 1);
    stack.push(n);
    for (const t of deps.get(n) ?? []) for (const m of below(t, [])) visit(m, stack);
    stack.pop();
    state.set(n, 2);
  };
  for (const n of deps.keys()) visit(n, []);
}

export function hasRulesAt(n: DNode): boolean {
  return n.complete.length > 0 || n.grefs.length > 0 || n.sets.length > 0 || n.dflt !== undefined;
}

export function subtreeHasRules(n: DNode): boolean {
  if (n.complete.length || n.sets.length || n.grefs.length || n.funcs.length || n.dflt) return true;
  for (const ch of n.children.values()) if (subtreeHasRules(ch)) return true;
  return false;
}
