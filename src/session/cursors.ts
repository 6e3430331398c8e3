// SQL cursors, and limits.max_rows across a result read in pieces: a portal run by several
// Executes with a row count, or a SQL cursor read by several FETCHes, may return at most
// max_rows rows in all, not max_rows per piece.
import type { StatementFacts } from '../sql/types.js';
import type { DecisionRecord } from '../policy/types.js';
import { NameTable, UNCERTAIN, runAt, type Change, type Lookup } from './name-table.js';

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

/** A result's row limit under a new decision: its new max_rows, less what was read. */
export function renewed(rows: RowBudget | undefined, rec: DecisionRecord): RowBudget | undefined {
  const max = rec.decision.kind === 'allow' ? rec.decision.limits?.max_rows : undefined;
  if (max === undefined) return undefined;
  const used = rows ? rows.max - rows.left : 0;
  return { max, left: Math.max(0, max - used) };
}

/** A SQL cursor sent upstream: what it was decided on, and its rows left. */
export interface Cursor {
  facts: StatementFacts;
  decision: DecisionRecord;
  /** Whether a transaction block was open when it was decided (WITH HOLD outlives it). */
  inTxn: boolean;
  /** Declared in a transaction block (its COMMIT runs a WITH HOLD cursor's query whole). */
  readonly inBlock?: boolean;
  /** WITH HOLD, and the transaction that declared it committed: it lives on past it. */
  outlived?: boolean;
  rows?: RowBudget;
}

/**
 * The SQL cursors (DECLARE … CURSOR) a session has open upstream. A cursor is a portal
 * upstream: a protocol Execute of its name reads it as a FETCH would. DECLARE, CLOSE and
 * DISCARD ALL change the table once PostgreSQL has run them (see name-table.ts).
 */
export class Cursors {
  private readonly table: NameTable<Cursor>;
  /** `cap`: most cursors tracked at once (the oldest is forgotten past it: fail closed). */
  constructor(cap = 1000) {
    this.table = new NameTable<Cursor>(cap);
  }

  get(name: string): Lookup<Cursor> {
    return this.table.get(name);
  }

  /** WITH HOLD cursors declared in the open transaction block (COMMIT runs them whole). */
  *heldOver(): IterableIterator<Cursor> {
    for (const c of this.table.all()) if (c.inBlock && held(c) && !c.outlived) yield c;
  }

  /**
   * The transaction ended (its ReadyForQuery says idle): cursors without HOLD are gone, and
   * WITH HOLD ones live on if it committed; if it rolled back (an error in it, a COMMIT of
   * a failed block), those it declared are gone too.
   */
  transactionEnded(committed: boolean): void {
    this.table.endLive(
      (c) => !held(c) || (!committed && !c.outlived),
      committed ? (c) => void (c.outlived = true) : undefined,
    );
  }

  /**
   * A cursor decided again (a reload, or read in another transaction state than it was
   * decided in): what it reads from here on is held to `rec`, and its row limit is the new
   * max_rows less the rows already read under a limit.
   */
  redecided(c: Cursor, rec: DecisionRecord, inTxn: boolean): void {
    c.decision = rec;
    c.inTxn = inTxn;
    c.rows = renewed(c.rows, rec);
  }

  /** See NameTable.forgot. */
  forgot(name: string): boolean {
    return this.table.forgot(name);
  }

  /** The budget a FETCH reads its cursor under, if it has one. */
  budget(facts: StatementFacts): Lookup<RowBudget> {
    const op = facts.cursor_op as { kind?: string; name?: string | null } | undefined;
    if (op?.kind !== 'fetch' || typeof op.name !== 'string') return undefined;
    const c = this.table.get(op.name);
    return c === UNCERTAIN ? UNCERTAIN : c?.rows;
  }

  /** Stage what an allowed statement (run `run` of its group) does to cursors. */
  stage(facts: StatementFacts, decision: DecisionRecord, run: number, inTxn: boolean): void {
    const at = runAt(run);
    const declare = facts.cursor as { name?: string } | undefined;
    if (declare?.name !== undefined) {
      const d = decision.decision;
      const rows = rowBudget(d.kind === 'allow' ? d.limits?.max_rows : undefined);
      this.table.stage(declare.name, { facts, decision, inTxn, inBlock: inTxn, rows }, at);
      return;
    }
    // A block's end drops its cursors without HOLD; ROLLBACK also those WITH HOLD that no
    // committed transaction kept, while a COMMIT keeps them (whether it committed shows at
    // the ReadyForQuery: see transactionEnded; one AND CHAIN leaves none, so its block
    // counts as committed as it completes). Savepoints: see stageSavepoint.
    const tx = facts.transaction as { kind?: string; chain?: boolean } | undefined;
    if (tx?.kind === 'commit' || tx?.kind === 'prepare')
      this.table.stageTxn(
        {
          kind: 'end',
          drop: (c) => !held(c),
          kept: tx.chain === true ? (c) => void (c.outlived = true) : undefined,
          // COMMIT AND CHAIN of a failed block rolls it back: its WITH HOLD cursors go too
          // (a plain COMMIT's shows at its ReadyForQuery, see transactionEnded).
          ifRolledBack: { drop: (c) => !held(c) || !c.outlived },
        },
        at,
      );
    else if (tx?.kind === 'rollback')
      this.table.stageTxn({ kind: 'end', drop: (c) => !held(c) || !c.outlived }, at);
    const op = facts.cursor_op as { kind?: string; name?: string | null } | undefined;
    if (op?.kind === 'close') {
      if (typeof op.name === 'string') this.table.stage(op.name, null, at);
      else this.table.stageClear(at);
    }
    if ((facts.discard as { target?: string } | undefined)?.target === 'all')
      this.table.stageClear(at);
  }

  /** Stage a savepoint set, released or rolled back to (ROLLBACK TO drops those made since). */
  stageSavepoint(
    ev: { kind: 'savepoint' | 'release' | 'rollback_to'; name: string },
    at: number,
  ): void {
    this.table.stageTxn(ev, at);
  }

  /** Stage that `name` names no cursor (another kind of portal took it). */
  forget(name: string, at: number): void {
    if (this.table.get(name) !== undefined) this.table.stage(name, null, at);
  }

  commit(out: Change[]): void {
    this.table.commit(out);
  }

  rollback(): void {
    this.table.rollback();
  }

  endSpan(): void {
    this.table.endSpan();
  }
}

/** A cursor declared WITH HOLD (it can outlive its transaction). */
function held(c: Cursor): boolean {
  return (c.facts.cursor as { hold?: boolean } | undefined)?.hold === true;
}
