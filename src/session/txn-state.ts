// The transaction state statements run in, as far as the session can tell before the
// upstream answers: what `input.session.in_transaction` shows the policy (see README.md).
import type { StatementFacts } from '../sql/types.js';
import { UNCERTAIN } from './name-table.js';
import type { DecidedRun } from './batch.js';
import type { Item, StatementRun } from './items.js';

/** Whether a transaction block is open after `f` runs, given whether one was before. */
export function inTransactionAfter(f: StatementFacts, before: boolean): boolean {
  const tx = f.transaction as { kind?: string; chain?: boolean } | undefined;
  switch (tx?.kind) {
    case 'begin':
    case 'start':
      return true;
    case 'commit':
    case 'rollback':
      return tx.chain === true;
    case 'prepare':
      return false;
    default:
      return before;
  }
}

/** What a statement does to the transaction (see StatementRun.txn). */
export function txnEffect(f: StatementFacts): StatementRun['txn'] {
  const tx = f.transaction as { kind?: string; chain?: boolean } | undefined;
  switch (tx?.kind) {
    case 'begin':
    case 'start':
      return 'begin';
    case 'commit':
    case 'rollback':
      return tx.chain === true ? 'end_chain' : 'end';
    case 'prepare':
      return 'end';
    default:
      return f.opaque ? 'opaque' : undefined;
  }
}

/**
 * Which statements of one implicit transaction (a Query string, or an extended group up
 * to its Sync) a later BEGIN pulls into the block it opens: PostgreSQL makes the
 * statements before it part of that block, so a ROLLBACK after it undoes them too. Each
 * of them runs in a transaction block, whatever the state before the string.
 */
export function pulledIntoBlock(statements: readonly StatementFacts[]): boolean[] {
  const pulled = new Array<boolean>(statements.length).fill(false);
  let pull = false;
  for (let i = statements.length - 1; i >= 0; i--) {
    pulled[i] = pull;
    const f = statements[i];
    if (inTransactionAfter(f, false)) pull = true;
    else if (!inTransactionAfter(f, true)) pull = false;
  }
  return pulled;
}

/** Whether `f` opens or ends a block: its state after does not just follow the one before. */
export function controlsTransaction(f: StatementFacts): boolean {
  return inTransactionAfter(f, false) || !inTransactionAfter(f, true);
}

/**
 * Whether a statement may change something that outlasts its transaction: anything but a
 * read, and a read that calls a function not known to only read, or writes in a WITH. A
 * SHOW, and a SELECT whose only writes are row locks (FOR UPDATE, FOR SHARE...), read: a
 * row lock ends with its transaction.
 */
export function mayChange(f: StatementFacts): boolean {
  if (f.opaque || f.writes_cte !== undefined || f.functions.some((fn) => fn.effect !== 'read'))
    return true;
  if (f.class === 'read') return false;
  if (f.class === 'session' && f.command === 'SHOW') return false;
  return !(
    f.command === 'SELECT' &&
    f.locking === true &&
    f.relations.every((r) => r.access === 'read' || r.locking === true)
  );
}

/**
 * Note on `item` what the runs just sent in it do to the transaction state: whether one
 * begins or ends a block, the state after them had they all succeeded (a later group of
 * the same item only runs if they did), and whether a row-limited statement runs inside a
 * block. `inTxn`: the upstream's state as last reported.
 *
 * Returns, by run index, whether its completion commits a change (StatementRun's
 * commitsChanges): it runs outside a block, and it or a statement before it in the same
 * implicit transaction (the item's runs since the last BEGIN, COMMIT or ROLLBACK) may
 * change something; or it may change something inside a block that a COMMIT (or PREPARE
 * TRANSACTION) sent with it ends: PostgreSQL runs that COMMIT without waiting. PostgreSQL commits an implicit transaction as its last statement
 * completes (a Query string) or at the Sync (an extended group), whatever the gateway
 * does with the rows it sees after.
 */
export function trackRuns(
  item: Item,
  runs: readonly DecidedRun[],
  inTxn: boolean,
): readonly boolean[] {
  // Made only when a run commits (reads outside a block, the common case, allocate nothing).
  let commits: boolean[] | undefined;
  if (runs.length === 0) return NONE;
  let st = item.txnAfter ?? inTxn;
  // A Query after extended messages not yet synced runs in their implicit transaction,
  // which PostgreSQL leaves open at the Query's end (ReadyForQuery 'T'): its completion
  // commits nothing, and the Sync the gateway has not sent yet is still to come.
  const unsynced = (item.sent ?? 0) > 0;
  // Changes made in the block so far, by run: a COMMIT sent with them commits them before
  // the gateway reads what they return.
  let inBlockChanges: number[] | undefined;
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i];
    const control = controlsTransaction(r.facts);
    if (control) item.txnControl = true;
    const d = r.rec.decision;
    const inBlock = st || r.inTransaction === true;
    if (inBlock && (r.budget || (d.kind === 'allow' && d.limits?.max_rows !== undefined)))
      item.limitedInTxn = true;
    if (!inBlock && !control && mayChange(r.facts)) item.implicitChanges = true;
    if (!inBlock && (r.facts.cursor as { hold?: boolean } | undefined)?.hold === true)
      item.holdAtEnd = true;
    if (!inBlock && item.implicitChanges === true && !(unsynced && r.protocol === 'simple'))
      (commits ??= [])[i] = true;
    if (inBlock && !control && mayChange(r.facts)) (inBlockChanges ??= []).push(i);
    const tx = (r.facts.transaction as { kind?: string } | undefined)?.kind;
    if (inBlock && inBlockChanges && (tx === 'commit' || tx === 'prepare'))
      for (const k of inBlockChanges) (commits ??= [])[k] = true;
    if (control) inBlockChanges = undefined;
    st = inTransactionAfter(r.facts, st);
    // A BEGIN takes what ran before it into its block; a COMMIT or ROLLBACK ends it.
    if (control) item.implicitChanges = false;
  }
  item.txnAfter = st;
  return commits ?? NONE;
}

const NONE: readonly boolean[] = [];

/**
 * The state the next statement read runs in: the upstream's, after what the open item
 * sent so far; UNCERTAIN while an item in flight (`controlInFlight`) begins or ends a block (a statement before
 * its COMMIT may have failed and left the block open).
 */
export function txnAhead(
  controlInFlight: boolean,
  open: Item,
  inTxn: boolean,
): boolean | typeof UNCERTAIN {
  if (controlInFlight) return UNCERTAIN;
  return open.txnAfter ?? inTxn;
}

/**
 * A result cut at its row limit inside a block aborts the block when its item's
 * ReadyForQuery comes: runs that end a block (COMMIT) wait for every such item in flight
 * ('answers'), and for the statements the open item sent before them ('runs': a cut there
 * closes the session), so they cannot commit what the cut was to roll back. Other
 * statements go on: a cut with more in flight closes the session, which rolls back.
 */
export function commitWaits(
  limitedInFlight: boolean,
  open: Item,
  runs: readonly DecidedRun[] | undefined,
): 'answers' | 'runs' | false {
  if (!runs?.length || !runs.some((r) => controlsTransaction(r.facts))) return false;
  if (limitedInFlight) return 'answers';
  if (open.limitedInTxn && open.runs.length > 0) return 'runs';
  return false;
}
