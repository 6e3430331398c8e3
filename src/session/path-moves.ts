// A statement after a search_path move in the same unit of work. PostgreSQL resolves each
// statement's names as it runs it, under the search_path the statements before it left; it
// reports a changed search_path only at the ReadyForQuery that ends the unit. The gateway
// decided the unit's names against the pinned search_path, so a statement that may move it
// (see mayMovePath) followed in the same Query string or Sync group by one that names a
// relation or a function without its schema is refused whole: that name may find another
// schema's relation or function than the one the policy allowed.
import { CALLS_BY_PATH } from '../sql/index.js';
import type { StatementFacts } from '../sql/types.js';
import { ClientError, type ErrorFields } from '../wire/index.js';

/** A unit of work: a Query string, or an extended group up to its Sync. */
export type Unit = 'query' | 'group';

/**
 * Whether running a statement may move search_path, by what it names: a SET of it, RESET
 * ALL, set_config() of it (or of a setting not named by a literal), a write to pg_settings,
 * and, in a Query string, a function the gateway cannot see into. In a group, such a call is not counted: drivers
 * pipeline calls and statements into one group (psycopg's pipeline mode, pgjdbc's batches),
 * which would all be refused; a path such a call moves is met only by PostgreSQL's report
 * at the group's end, after the rest of the group ran (see session/README.md). Code the
 * client writes itself (DO, SQL text a function runs) is not counted either: a policy that
 * allows it allows whatever that code reads.
 */
export function mayMovePath(f: StatementFacts, unit: Unit): boolean {
  const set = f.set as { name?: string | null; keeps_pinned?: boolean } | undefined;
  // A SET of the pinned value changes nothing; RESET ALL resets search_path too.
  if (set) return set.name == null || (set.name === 'search_path' && !set.keeps_pinned);
  if (setsPath(f)) return true;
  return unit === 'query' && f.functions.some((fn) => fn.effect === 'unknown');
}

/**
 * set_config of search_path (or of a setting not named by a literal), or a write to
 * pg_settings, whose rule calls set_config with the row's name.
 */
function setsPath(f: StatementFacts): boolean {
  const named = f.settings_set as (string | null)[] | undefined;
  if (named?.some((n) => n === null || n.toLowerCase() === 'search_path')) return true;
  return f.relations.some(
    (r) => r.access === 'write' && r.schema === 'pg_catalog' && r.name === 'pg_settings',
  );
}

/**
 * Whether a statement names a relation, or a function outside pg_catalog, without its
 * schema: PostgreSQL finds it by search_path.
 */
export function namesByPath(f: StatementFacts): boolean {
  return (
    f.relations.some((r) => r.unqualified === true) ||
    (f as unknown as Record<symbol, unknown>)[CALLS_BY_PATH] === true
  );
}

/** What moved the path, for the error: the statement's command, or the function it calls. */
function mover(f: StatementFacts): string {
  if (f.set) return f.command;
  if (setsPath(f)) return f.settings_set ? 'set_config()' : f.command;
  const fn = f.functions.find((x) => x.effect === 'unknown');
  return fn ? `${fn.name}()` : f.command;
}

/**
 * Statements that run in this order in one unit of work (their facts): the first that names
 * something by search_path after one that may move it (`refused`: its index and what moved
 * the path), else what moved it, if anything did. `moved`: what a statement sent earlier in the same
 * unit (before a Flush) moved it by; `fetched`: the facts of the query a FETCH or MOVE
 * runs, if known.
 */
export function afterPathMove(
  runs: readonly { facts: StatementFacts }[],
  unit: Unit,
  moved: string | undefined,
  fetched: (f: StatementFacts) => StatementFacts | undefined,
): { refused?: { index: number; by: string }; by?: string } {
  let by = moved;
  for (let i = 0; i < runs.length; i++) {
    const f = runs[i].facts;
    if (by !== undefined && namesByPath(f)) return { refused: { index: i, by } };
    if (by !== undefined) continue;
    if (mayMovePath(f, unit)) by = mover(f);
    else {
      // A FETCH runs its cursor's query (declared in an earlier unit, maybe).
      const q = f.cursor_op === undefined ? undefined : fetched(f);
      if (q && mayMovePath(q, unit)) by = `${mover(q)} in cursor ${JSON.stringify(cursorOf(f))}`;
    }
  }
  return { by };
}

function cursorOf(f: StatementFacts): string {
  const op = f.cursor_op as { name?: unknown } | undefined;
  return typeof op?.name === 'string' ? op.name : '';
}

/** The refusal of such a unit. */
export function pathMoveError(by: string, unit: Unit): ErrorFields {
  return ClientError.denied(
    `statement refused: it names a relation or function without its schema after ${by}, earlier in the same ${unit === 'query' ? 'query string' : 'pipeline before a Sync'}, which may change search_path`,
    undefined,
    unit === 'query'
      ? 'qualify the names with their schema, or send that statement in a query of its own'
      : 'qualify the names with their schema, or send Sync before that statement',
  );
}

/** The reason recorded for such a refusal. */
export function pathMoveReason(by: string): string {
  return `names a relation or function without its schema after ${by}, which may change search_path, earlier in the same unit of work`;
}
