// A statement after a search_path move in the same unit of work. PostgreSQL resolves each
// statement's names as it runs it, under the search_path the statements before it left; it
// reports a changed search_path only at the ReadyForQuery that ends the unit. The gateway
// decided the unit's names against the pinned search_path, so a statement that may move it
// (set_config, a SET, a function the gateway cannot see into) followed in the same Query
// string or Sync group by one that names a relation without its schema is refused whole:
// that name may read another schema's relation than the one the policy allowed.
import type { StatementFacts } from '../sql/types.js';
import { ClientError, type ErrorFields } from '../wire/index.js';

/**
 * Whether running a statement may move search_path, by what it names: a SET of it, RESET
 * ALL, set_config(), or a function the gateway cannot see into. Code the client writes
 * itself (DO, SQL text a function runs) is not counted: a policy that allows it allows
 * whatever that code reads, moving the path or not.
 */
export function mayMovePath(f: StatementFacts): boolean {
  const set = f.set as { name?: string | null; keeps_pinned?: boolean } | undefined;
  // A SET of the pinned value changes nothing; RESET ALL resets search_path too.
  if (set) return set.name == null || (set.name === 'search_path' && !set.keeps_pinned);
  return f.functions.some((fn) => fn.name === 'set_config' || fn.effect === 'unknown');
}

/** Whether a statement names a relation without its schema: it reads it by search_path. */
export function namesByPath(f: StatementFacts): boolean {
  return f.relations.some((r) => r.unqualified === true);
}

/** What moved the path, for the error: the function named, or the statement's command. */
function mover(f: StatementFacts): string {
  const fn = f.functions.find((x) => x.name === 'set_config' || x.effect === 'unknown');
  return fn ? `${fn.name}()` : f.command;
}

/**
 * Statements that run in this order in one unit of work (their facts): the first that names a relation by
 * search_path after one that may move it (`refused`: its index and what moved the path),
 * else what moved it, if anything did. `moved`: what a statement sent earlier in the same
 * unit (before a Flush) moved it by.
 */
export function afterPathMove(
  runs: readonly { facts: StatementFacts }[],
  moved?: string,
): { refused?: { index: number; by: string }; by?: string } {
  let by = moved;
  for (let i = 0; i < runs.length; i++) {
    const f = runs[i].facts;
    if (by !== undefined && namesByPath(f)) return { refused: { index: i, by } };
    if (by === undefined && mayMovePath(f)) by = mover(f);
  }
  return { by };
}

/** The refusal of such a unit. */
export function pathMoveError(by: string, unit: 'query' | 'group'): ErrorFields {
  return ClientError.denied(
    `statement refused: it names a relation without its schema after ${by}, earlier in the same ${unit === 'query' ? 'query string' : 'pipeline before a Sync'}, which may change search_path`,
    undefined,
    unit === 'query'
      ? 'qualify the names with their schema, or send that statement in a query of its own'
      : 'qualify the names with their schema, or send Sync before that statement',
  );
}

/** The reason recorded for such a refusal. */
export function pathMoveReason(by: string): string {
  return `names a relation without its schema after ${by}, which may change search_path, earlier in the same unit of work`;
}
