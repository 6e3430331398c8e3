// The session's queue: each unit of upstream work that ends in one ReadyForQuery, with
// what the session must know to match the upstream's answers to it (see README.md).
import { performance } from 'node:perf_hooks';
import type { RowBudget } from './cursors.js';
import type { Change } from './name-table.js';

export interface StatementRun {
  /** Recording seq; -1 when the session is not recorded. */
  seq: number;
  started: number;
  /** The decision's limits.max_rows. */
  maxRows?: number;
  /** Rows its portal or cursor has left (a result read in pieces shares one limit). */
  budget?: RowBudget;
  /** It completed upstream (its name changes, if any, were made). */
  ok?: boolean;
  /**
   * It runs outside a transaction block, and it or a statement before it in the same
   * implicit transaction may change something: its completion commits that (see
   * txn-state.ts, mayChange), so a result cut at its row limit cannot be undone.
   */
  commitsChanges?: boolean;
  /** A COPY TO whose first CopyData is a header line, not a row. */
  copyHeader?: boolean;
  /**
   * What it does to the transaction, for what a later error undoes: it opens a block
   * ('begin'), ends one ('end'; 'end_chain' opens the next), or may commit by itself
   * (an opaque statement: a procedure that COMMITs).
   */
  txn?: 'begin' | 'end' | 'end_chain' | 'opaque';
  /** It ended a block that PostgreSQL rolled back (a COMMIT answered ROLLBACK). */
  rolledBack?: boolean;
}

/** A unit of upstream work that ends with one ReadyForQuery (a Query or a Sync). */
export interface Item {
  started: number;
  /** Policy limit: the upstream statement is cancelled after this long (ms). */
  timeoutMs?: number;
  timer?: NodeJS.Timeout;
  /** When `timer` fires (performance.now() ms). */
  deadline?: number;
  /**
   * Refusal markers sent in this item: the ErrorResponse to send instead of the marker's
   * (null drops it), and the marker's index among the item's extended messages (a marker
   * Query comes after them all). An earlier error makes PostgreSQL skip the marker.
   */
  replace: { at: number; err: Buffer | null }[];
  /** Forwarded statements awaiting their outcome, in execution order. */
  runs: StatementRun[];
  /**
   * A statement of this item was cut at its row limit and the client got an error: if the
   * upstream transaction is still open and healthy, abort it so both sides agree.
   */
  abortOpenTxn?: boolean;
  /**
   * It runs a BEGIN, COMMIT, ROLLBACK or PREPARE TRANSACTION: until it is answered the
   * transaction state after it is not known (a statement before one may fail).
   */
  txnControl?: boolean;
  /**
   * The transaction state after the runs sent so far, had they all succeeded: what a later
   * group of the same item runs in (after a failure PostgreSQL skips it up to the Sync).
   */
  txnAfter?: boolean;
  /** A statement with a row limit runs inside a transaction block (see Session.forward). */
  limitedInTxn?: boolean;
  /**
   * A statement that may change something was sent outside a transaction block, in the
   * implicit transaction still open at the end of the runs sent so far.
   */
  implicitChanges?: boolean;
  /**
   * A WITH HOLD cursor was declared outside a block: the commit at the item's end runs its
   * query whole.
   */
  holdAtEnd?: boolean;
  /** A Bind no Execute runs may run code (see DecidedRun `bound`): it runs under the limit. */
  bindsRun?: boolean;
  /** Its time limit ran out before its Sync came: the commit at the Sync is cancelled. */
  overdue?: boolean;
  /** Ended by a Sync (extended protocol) rather than by a Query. */
  bySync?: boolean;
  /**
   * What a statement sent in it may have moved search_path by (see path-moves.ts): a later
   * statement of it that names a relation without its schema is refused.
   */
  pathMovedBy?: string;
  /**
   * Recorded statements of it that completed in its current implicit transaction (since
   * its start, or its last COMMIT or ROLLBACK): undone with it when that fails (a later
   * statement's error, or the commit's at its end).
   */
  okSeqs?: number[];
  /** A block is open after the runs answered so far (unset: as at the item's start). */
  inBlock?: boolean;
  /** Extended-protocol messages sent in this item (each is answered once, or skipped). */
  sent?: number;
  /**
   * Settings guards sent in this item and not answered yet: the index of each one's first
   * message among the item's extended messages (see guard.ts).
   */
  guards?: number[];
  /** Index of the first of them that failed, once an ErrorResponse came. */
  errAt?: number;
  /** Name changes its messages and statements make, in order, settled at its ReadyForQuery. */
  changes?: Change[];
  /**
   * COPY FROM STDIN statements it sent whose CopyInResponse (or failure) has not come: until
   * it does, the session does not know whether PostgreSQL reads the client's next messages
   * as COPY data (a Sync among them ignored), so it reads none (see Session.holding).
   */
  startsDue?: number;
}

export const newItem = (): Item => ({ started: performance.now(), replace: [], runs: [] });

/** An item is answered: each name change stands if PostgreSQL made it. */
export function settleChanges(item: Item): void {
  for (const c of item.changes!)
    c.settle(c.ran ? c.ran.ok === true : item.errAt === undefined || c.pos < item.errAt);
}

/**
 * `head` ended with a Sync that the server ignored (it came during copy-in): its answers and
 * the next item's come with one ReadyForQuery, so `head` becomes part of `next`. Returns
 * how many extended messages moved ahead of next's own (their answers come first).
 */
export function foldInto(head: Item, next: Item): number {
  const shift = head.sent ?? 0;
  next.runs.unshift(...head.runs);
  for (const r of next.replace) r.at += shift;
  next.replace.unshift(...head.replace);
  if (head.abortOpenTxn) next.abortOpenTxn = true;
  if (head.txnControl) next.txnControl = true;
  if (head.limitedInTxn) next.limitedInTxn = true;
  if (head.implicitChanges) next.implicitChanges = true;
  if (head.okSeqs) next.okSeqs = head.okSeqs.concat(next.okSeqs ?? []);
  // What `head` ran (up to its COPY, which started) stands for what `next` runs after it.
  if (next.txnAfter === undefined) next.txnAfter = head.txnAfter;
  if (head.startsDue) next.startsDue = (next.startsDue ?? 0) + head.startsDue;
  if (shift) {
    for (const c of next.changes ?? []) if (!c.ran) c.pos += shift;
    if (next.guards) next.guards = next.guards.map((g) => g + shift);
    next.sent = (next.sent ?? 0) + shift;
  }
  if (head.guards?.length) next.guards = head.guards.concat(next.guards ?? []);
  if (head.changes) next.changes = head.changes.concat(next.changes ?? []);
  if (head.timeoutMs !== undefined)
    next.timeoutMs = Math.min(next.timeoutMs ?? Infinity, head.timeoutMs);
  return shift;
}

/**
 * The item's next statement starts running now, if it was sent earlier (behind statements
 * PostgreSQL was still running): its recorded duration is its own, not theirs too.
 */
export function startsNow(item: Item): void {
  const now = performance.now();
  if (item.runs[0].started < now) item.runs[0].started = now;
}
