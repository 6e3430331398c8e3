// SQL cursors, and limits.max_rows across a result read in pieces: a portal run by several
// Executes with a row count, or a SQL cursor read by several FETCHes, may return at most
// max_rows rows in all, not max_rows per piece.
import type { StatementFacts } from '../sql/types.js';
import type { DecisionRecord } from '../policy/types.js';

/** Rows a portal or cursor may still return under its statement's limit. */
export interface RowBudget {
  readonly max: number;
  left: number;
}

export function rowBudget(maxRows: number | undefined): RowBudget | undefined {
  return maxRows === undefined ? undefined : { max: maxRows, left: maxRows };
}

/** The row limit of one run: its own decision's, and what its portal or cursor has left. */
export function runLimit(
  maxRows: number | undefined,
  budget: RowBudget | undefined,
): number | undefined {
  if (!budget) return maxRows;
  return maxRows === undefined ? budget.left : Math.min(maxRows, budget.left);
}

/** The limit named to the agent when a run is cut. */
export function statedLimit(maxRows: number | undefined, budget: RowBudget | undefined): number {
  return Math.min(maxRows ?? Infinity, budget?.max ?? Infinity);
}

/** A SQL cursor sent upstream: what it was decided on, and its rows left. */
export interface Cursor {
  facts: StatementFacts;
  decision: DecisionRecord;
  rows?: RowBudget;
}

/**
 * The SQL cursors (DECLARE … CURSOR) a session has sent upstream. A cursor is a portal
 * upstream: a protocol Execute of its name reads it as a FETCH would.
 */
export class Cursors {
  private readonly byName = new Map<string, Cursor>();
  /** Most cursors tracked at once (the oldest is forgotten past it: fail closed). */
  constructor(private readonly cap = 1000) {}

  get(name: string): Cursor | undefined {
    return this.byName.get(name);
  }

  /**
   * Follow a statement sent upstream: DECLARE opens a cursor with its decision's row
   * limit; CLOSE, CLOSE ALL and DISCARD ALL end cursors. A FETCH gets its cursor's budget.
   */
  follow(facts: StatementFacts, decision: DecisionRecord): RowBudget | undefined {
    const declare = facts.cursor as { name?: string } | undefined;
    if (declare?.name !== undefined) {
      this.byName.delete(declare.name);
      if (this.byName.size >= this.cap) this.byName.delete(this.byName.keys().next().value!);
      const d = decision.decision;
      const rows = rowBudget(d.kind === 'allow' ? d.limits?.max_rows : undefined);
      this.byName.set(declare.name, { facts, decision, rows });
      return undefined;
    }
    const op = facts.cursor_op as { kind?: string; name?: string | null } | undefined;
    if (op?.kind === 'fetch' && typeof op.name === 'string') return this.byName.get(op.name)?.rows;
    if (op?.kind === 'close') {
      if (typeof op.name === 'string') this.byName.delete(op.name);
      else this.byName.clear();
    }
    if ((facts.discard as { target?: string } | undefined)?.target === 'all') this.byName.clear();
    return undefined;
  }
}
