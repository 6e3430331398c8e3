// Per-session names: prepared statements (protocol Parse and SQL PREPARE share one
// namespace in PostgreSQL), portals and cursors, each carrying the facts it was decided on.
import { randomUUID } from 'node:crypto';
import { FACTS_KEY, explainedColumn, factsWeight } from '../sql/index.js';
import type { StatementFacts } from '../sql/types.js';
import type { DecisionRecord, PolicyEngine, Redaction } from '../policy/types.js';
import {
  ClientError,
  bindParamsAsText,
  type BindMessage,
  type ErrorFields,
} from '../wire/index.js';
import { Lru } from '../util/lru.js';
import { Cursors, renewed, type RowBudget } from './cursors.js';
import type { DecisionPoint } from './decide.js';
import { NameTable, UNCERTAIN, runAt, type Change } from './name-table.js';

/**
 * On the facts of a SQL EXECUTE: the EXECUTE as written, and the prepared statement it was
 * resolved to (none when the name was unknown). EXECUTE runs whatever the name holds when it
 * runs, so a protocol Execute resolves it again.
 */
export interface ExecuteOf {
  st: StatementFacts;
  prepared?: Prepared;
}
const cursorOp = (f: StatementFacts) =>
  f.cursor_op as { kind?: string; name?: string | null } | undefined;

/** The cursor or portal name a FETCH reads, or a MOVE moves in (by `kind`). */
function cursorName(f: StatementFacts, kind: 'fetch' | 'move'): string | undefined {
  const op = cursorOp(f);
  return op?.kind === kind && typeof op.name === 'string' ? op.name : undefined;
}

/** What a statement's decision is cached under (see decide.ts). */
function factsIdentity(f: StatementFacts): string {
  const k = (f as unknown as Record<symbol, unknown>)[FACTS_KEY];
  return typeof k === 'string' ? k : `T${f.text}`;
}

const executes = new WeakMap<StatementFacts, ExecuteOf>();
export const executeOf = (facts: StatementFacts): ExecuteOf | undefined => executes.get(facts);

/** A refusal made by the gateway itself (not by the policy), recorded and shown like one. */
export function gatewayRefusal(reason: string, version: string): DecisionRecord {
  return {
    decision: { kind: 'deny', reasons: [reason] },
    id: randomUUID(),
    policyVersion: version,
    by: 'gateway',
  };
}

/**
 * A Parse's facts with what its declared parameter types add (see paramTypeFacts); the
 * decision is cached under the types too.
 */
export function withParamTypes(
  f: StatementFacts,
  typed: { functions: StatementFacts['functions']; relations: StatementFacts['relations'] },
  oids: readonly number[],
): StatementFacts {
  const merged: StatementFacts = {
    ...f,
    relations: [...f.relations, ...typed.relations],
    functions: [...f.functions, ...typed.functions],
    [FACTS_KEY]: `P${oids.join(',')}\u0000${factsIdentity(f)}`,
  };
  const of = executes.get(f);
  if (of) executes.set(merged, of);
  return merged;
}

export interface Prepared {
  facts: StatementFacts;
  decision: DecisionRecord;
  /** Whether a transaction block was open when it was decided (the policy sees it). */
  inTxn: boolean;
}

/** Bind parameters as text, decoded only when a decision, a refusal or the recording reads them. */
export class BindParams {
  private v: (string | null)[] | undefined;
  private readonly b: Pick<BindMessage, 'params' | 'paramFormats'>;
  constructor(b: BindMessage) {
    // A portal outlives its Bind message: the values are copied out of it (views would keep
    // the whole message alive, a portal name padded to megabytes with it).
    this.b = { params: detached(b.params), paramFormats: b.paramFormats };
  }
  /** Memory held, for bounds: the values (as bytes and as text) and the formats. */
  get weight(): number {
    return 256 + this.bytes * 2 + this.b.paramFormats.length * 8;
  }
  /** The parameters' raw bytes. */
  get bytes(): number {
    let n = 0;
    for (const p of this.b.params) if (p) n += p.length;
    return n;
  }
  get value(): (string | null)[] {
    return (this.v ??= bindParamsAsText(this.b));
  }
  /** Each parameter's format (1 binary), or undefined when all are text. */
  get formats(): number[] | undefined {
    const f = this.b.paramFormats;
    if (!f.some((x) => x === 1)) return undefined;
    return this.b.params.map((_, i) => (f.length === 1 ? f[0] : (f[i] ?? 0)));
  }
}

/** Parameter values in one buffer of their own. */
function detached(params: (Buffer | null)[]): (Buffer | null)[] {
  let n = 0;
  for (const p of params) if (p) n += p.length;
  if (n === 0) return params.map((p) => (p ? Buffer.alloc(0) : null));
  const all = Buffer.allocUnsafe(n);
  let at = 0;
  return params.map((p) => {
    if (!p) return null;
    p.copy(all, at);
    at += p.length;
    return all.subarray(at - p.length, at);
  });
}

/** What a statement runs beyond its own text (see `SessionNames.runsOf`). */
export interface RunsOf {
  sql: string;
  name?: string;
  portal?: string;
  params?: BindParams;
  /** What the decision of the statement run redacts from its recording. */
  redact?: Redaction[];
}

export interface Portal {
  prepared: Prepared;
  params: BindParams;
  /** The statement's max_rows, shared by every Execute of this portal. */
  rows?: RowBudget;
  /**
   * A portal of SQL EXECUTE ran once: PostgreSQL ran the prepared statement whole then and
   * later Executes read the result it stored, whatever the name holds by then.
   */
  ran?: Prepared;
}

/** A Parse text answered without analysing it again (drivers re-send the same Parse). */
interface Memo {
  prepared: Prepared;
  engine: PolicyEngine;
  inTxn: boolean;
  /** The catalog the text was analysed against (a DDL changes what `*` expands to). */
  catalog: object | undefined;
}

/**
 * Most memory (text and facts, by factsWeight) one session's prepared statements may hold
 * in the gateway.
 */
export const PREPARED_TEXT_BYTES = 64 * 1024 * 1024;
/**
 * Most parameter bytes one session's portals may hold (a portal larger than this alone is
 * still kept: the others go).
 */
const PORTAL_PARAM_BYTES = 16 * 1024 * 1024;
/** The Parse memo: longest text remembered, and most memory its entries may hold. */
const MEMO_MAX_CHARS = 16 * 1024;
const MEMO_WEIGHT = 2 * 1024 * 1024;

/** The names of one session: what each refers to, and how statements change them. */
export class SessionNames {
  /**
   * DEALLOCATE ALL and DISCARD ALL leave the unnamed statement. The statements one session
   * holds are bounded by count and by their text (PostgreSQL holds them in each session's
   * own process; the gateway holds every session's in one).
   */
  readonly prepared = new NameTable<Prepared>(
    10_000,
    '',
    (p) => factsWeight(p.facts),
    PREPARED_TEXT_BYTES,
  );
  /** Portals hold their Bind's parameters: bounded by count and by their bytes too. */
  readonly portals = new NameTable<Portal>(
    1000,
    undefined,
    (p) => p.params.weight,
    PORTAL_PARAM_BYTES,
  );
  /** SQL cursors sent upstream, for their decisions and row limits across FETCHes. */
  readonly cursors = new Cursors();
  /** The least time limit of the statements decided in the open block (see noteBlockLimit). */
  private blockLimitMs: number | undefined;
  /** Parse text → facts and decision, for drivers that re-send the same Parse. */
  private readonly parseMemo = new Lru<string, Memo>(
    256,
    MEMO_WEIGHT,
    (sql, m) => factsWeight(m.prepared.facts) + sql.length * 2,
  );

  constructor(private readonly decisions: DecisionPoint) {}

  /**
   * Facts of the statement that will actually run (EXECUTE runs a prepared statement), or
   * UNCERTAIN while the prepared statement's last change has no answer yet.
   */
  effective(st: StatementFacts): StatementFacts | typeof UNCERTAIN {
    const ex = st.execute as { name?: string } | undefined;
    if (ex && typeof ex.name === 'string') {
      const p = this.prepared.get(ex.name);
      if (p === UNCERTAIN) return UNCERTAIN;
      const of: ExecuteOf = { st, prepared: p };
      // The prepared statement's facts, plus whatever the EXECUTE's own parameter
      // expressions touch (EXECUTE p(pg_sleep(9)) calls a function too).
      if (p) {
        // CREATE TABLE t AS EXECUTE p writes t with what p reads: a CREATE TABLE AS still.
        const wraps = st.command === 'CREATE TABLE AS';
        const merged: StatementFacts = {
          ...p.facts,
          text: st.text,
          command: wraps ? st.command : p.facts.command,
          class: wraps ? st.class : p.facts.class,
          execute: ex,
          relations: [...p.facts.relations, ...st.relations],
          // EXPLAIN EXECUTE shows what the statement would return only derived.
          columns: [
            ...(st.explain ? p.facts.columns.map(explainedColumn) : p.facts.columns),
            ...st.columns,
          ],
          functions: [...p.facts.functions, ...st.functions],
          opaque: p.facts.opaque || st.opaque,
          // Decisions are cached by the EXECUTE and by the statement the name holds
          // (the same text runs another statement once the name is prepared again).
          [FACTS_KEY]: `X${factsIdentity(p.facts)}\u0000${factsIdentity(st)}`,
        };
        executes.set(merged, of);
        return merged;
      }
      const copy = { ...st };
      executes.set(copy, of);
      return copy;
    }
    return st;
  }

  /**
   * Stage the name changes an allowed statement makes when it runs (PREPARE, DEALLOCATE,
   * DISCARD ALL, DECLARE, CLOSE); `run` is its index among the runs of its group, `running`
   * the protocol portal it runs in, if any.
   */
  stage(st: StatementFacts, rec: DecisionRecord, run: number, running?: string): void {
    // EXPLAIN plans its statement (or runs it, with ANALYZE) and changes no name: EXPLAIN
    // DECLARE c … opens no cursor, and the cursor c already open upstream stays as it was
    // (read under its own decision and what is left of its row limit).
    if (st.explain !== undefined) return;
    const at = runAt(run);
    const prep = st.prepare as { name?: string; statement?: StatementFacts } | undefined;
    if (prep?.name && prep.statement) {
      // The prepared statement keeps its own decision: a protocol Bind of this name runs
      // the statement itself, so it must be refused (or held) as the statement would be.
      const inner = this.decisions.decide(prep.statement, 'simple', null, 0, 1);
      this.prepared.stage(
        prep.name,
        { facts: prep.statement, decision: inner, inTxn: this.decisions.session.in_transaction },
        at,
      );
    }
    const dealloc = st.deallocate as { name?: string | null } | undefined;
    if (dealloc) {
      if (dealloc.name) this.prepared.stage(dealloc.name, null, at);
      else this.prepared.stageClear(at);
    }
    if ((st.discard as { target?: string } | undefined)?.target === 'all') {
      this.prepared.stageClear(at);
      this.portals.stageClear(at);
    }
    // SQL cursors and protocol portals are one namespace upstream: CLOSE closes either.
    const op = cursorOp(st);
    if (op?.kind === 'close') {
      if (typeof op.name === 'string') this.portals.stage(op.name, null, at);
      else {
        // CLOSE ALL closes every portal but the one running it (PostgreSQL answers a later
        // Execute of that one 55000, not 34000).
        const self = running === undefined ? undefined : this.portals.get(running);
        this.portals.stageClear(at);
        if (self && self !== UNCERTAIN) this.portals.stage(running!, self, at, true);
      }
    }
    // DECLARE c succeeds only when no portal c exists upstream: whatever the portal table
    // still holds under that name (a portal its transaction or savepoint dropped) is gone.
    const declared = (st.cursor as { name?: string } | undefined)?.name;
    if (declared !== undefined) this.portals.stage(declared, null, at);
    // Portals end with their transaction, also one that COMMIT or ROLLBACK AND CHAIN
    // follows with another (the status stays 'T'); ROLLBACK TO drops those made since its
    // savepoint. A name PostgreSQL dropped must not stay: a function may open a cursor of
    // that name (OPEN of a refcursor the caller names), which is then read as the old one.
    const tx = st.transaction as { kind?: string; name?: string } | undefined;
    if (tx?.kind === 'commit' || tx?.kind === 'rollback' || tx?.kind === 'prepare')
      this.portals.stageClear(at);
    else if (
      (tx?.kind === 'savepoint' || tx?.kind === 'release' || tx?.kind === 'rollback_to') &&
      typeof tx.name === 'string'
    ) {
      const ev = { kind: tx.kind as 'savepoint' | 'release' | 'rollback_to', name: tx.name };
      this.portals.stageTxn(ev, at);
      this.cursors.stageSavepoint(ev, at);
    }
    this.cursors.stage(st, rec, run, this.decisions.session.in_transaction);
  }

  /**
   * A protocol Close of portal `name`: PostgreSQL's SQL cursors are portals too, so it
   * closes a cursor of that name as well (as SQL CLOSE closes a protocol portal).
   */
  portalClosed(name: string, at: number): void {
    this.portals.stage(name, null, at);
    this.cursors.forget(name, at);
  }

  /** A protocol Bind of portal `name` succeeds only when no cursor of that name exists. */
  bound(name: string, at: number): void {
    this.cursors.forget(name, at);
  }

  /**
   * The budget a FETCH reads under: that of the SQL cursor or protocol portal of the name (a
   * FETCH reads a protocol portal too, and shares its limit). Where both tables hold the
   * name (one entry may be left from a cursor its transaction closed), the smaller.
   */
  fetchBudget(facts: StatementFacts): RowBudget | undefined | typeof UNCERTAIN {
    const name = cursorName(facts, 'fetch');
    if (name === undefined) return undefined;
    const c = this.cursors.get(name);
    const p = this.portals.get(name);
    if (c === UNCERTAIN || p === UNCERTAIN) return UNCERTAIN;
    const a = c?.rows;
    const b = p?.rows;
    return !a ? b : !b ? a : a.left <= b.left ? a : b;
  }

  /**
   * A FETCH (or MOVE) reads a cursor or portal that was decided under a policy a reload has
   * replaced since: decide what it reads again under the policy in force. Returns the
   * refusal when that policy refuses it; otherwise the entry carries the new decision, and
   * its row limit the new max_rows less the rows already read.
   */
  redecideFetched(
    facts: StatementFacts,
    version: string,
    protocol: 'simple' | 'extended',
    inTxn: boolean,
    index = 0,
    count = 1,
  ): { facts: StatementFacts; rec: DecisionRecord; fields?: ErrorFields } | undefined {
    if (facts.cursor_op === undefined) return undefined;
    const name = cursorName(facts, 'fetch') ?? cursorName(facts, 'move');
    if (name === undefined) return undefined;
    const decide = (f: StatementFacts) => this.decisions.decide(f, protocol, null, index, count);
    const refuse = (reason: string) => ({ facts, rec: gatewayRefusal(reason, version) });
    const c = this.cursors.get(name);
    const p = this.portals.get(name);
    // PostgreSQL runs a portal's SQL EXECUTE when the portal first runs, FETCH included: what
    // the name holds by then was never decided for it.
    if (p && p !== UNCERTAIN && !p.ran && executeOf(p.prepared.facts))
      return refuse(
        `portal "${name}" runs a prepared statement by SQL EXECUTE and has not run yet: run it with a protocol Execute first`,
      );
    // A portal of a FETCH or MOVE read whole its cursor's rows into its own result at its
    // first run, under no limit of that cursor's.
    if (p && p !== UNCERTAIN && (p.ran ?? p.prepared).facts.cursor_op !== undefined)
      return refuse(
        `portal "${name}" runs a FETCH or MOVE of a cursor: read that cursor by its own name`,
      );
    // A cursor or portal the session forgot past its bounds is still open upstream: what it
    // reads (and under what limit) is not known.
    if (c === undefined && p === undefined) {
      if (this.cursors.forgot(name) || this.portals.forgot(name))
        return refuse(
          `the gateway no longer tracks cursor or portal "${name}": a session holds at most 1000 portals (16 MiB of their parameters) and 1000 cursors; close those it no longer needs`,
        );
      // One it never saw (a function may have opened it): what it reads is not known either.
      return {
        ...refuse(`cursor "${name}" was not declared through the gateway`),
        fields: ClientError.unknownCursor(name),
      };
    }
    // So is a cursor read in another transaction state than it was decided in (a WITH
    // HOLD cursor after its block): its rows from here on are held to that decision.
    if (c && c !== UNCERTAIN && (c.decision.policyVersion !== version || c.inTxn !== inTxn)) {
      const rec = decide(c.facts);
      if (rec.decision.kind !== 'allow') return { facts: c.facts, rec };
      this.cursors.redecided(c, rec, inTxn);
    }
    // A portal of SQL EXECUTE that ran reads what that run stored: decided on what it ran.
    const was = p && p !== UNCERTAIN ? (p.ran ?? p.prepared) : undefined;
    if (p && p !== UNCERTAIN && was && was.decision.policyVersion !== version) {
      const rec = decide(was.facts);
      if (rec.decision.kind !== 'allow') return { facts: was.facts, rec };
      if (p.ran) p.ran = { ...p.ran, decision: rec };
      else p.prepared = { ...p.prepared, decision: rec };
      p.rows = renewed(p.rows, rec);
    }
    return undefined;
  }

  /**
   * A statement decided to run in a transaction block: work it defers (a deferred
   * constraint trigger) runs at the block's COMMIT, which is held to its time limit too.
   */
  noteBlockLimit(decision: DecisionRecord, inBlock: boolean): void {
    if (!inBlock || decision.decision.kind !== 'allow') return;
    const ms = decision.decision.limits?.timeout_ms;
    if (ms !== undefined && ms < (this.blockLimitMs ?? Infinity)) this.blockLimitMs = ms;
  }

  /**
   * A statement that runs another's query runs under that one's time limit too: a SQL
   * FETCH or MOVE its cursor's or portal's, a COMMIT the queries of the WITH HOLD cursors
   * declared in its block (PostgreSQL runs them whole to keep their rows) and the work its
   * block's statements deferred (see noteBlockLimit). Returns the
   * statement's own decision with the lowest such limit when it is lower than its own,
   * else `undefined`. Call after `redecideFetched` (which decides a cursor again where due).
   */
  timeRuling(facts: StatementFacts, own: DecisionRecord): DecisionRecord | undefined {
    // The hot path: most statements are neither.
    if (facts.cursor_op === undefined && facts.transaction === undefined) return undefined;
    const d = own.decision;
    if (d.kind !== 'allow') return undefined;
    let limit = Infinity;
    const lower = (r: DecisionRecord | undefined) => {
      const ms = r?.decision.kind === 'allow' ? r.decision.limits?.timeout_ms : undefined;
      if (ms !== undefined && ms < limit) limit = ms;
    };
    if (facts.cursor_op !== undefined) {
      const name = cursorName(facts, 'fetch') ?? cursorName(facts, 'move');
      if (name === undefined) return undefined;
      const c = this.cursors.get(name);
      const p = this.portals.get(name);
      if (c && c !== UNCERTAIN) lower(c.decision);
      else if (p && p !== UNCERTAIN) lower((p.ran ?? p.prepared).decision);
    } else if ((facts.transaction as { kind?: string } | undefined)?.kind === 'commit') {
      for (const c of this.cursors.heldOver()) lower(c.decision);
      if (this.blockLimitMs !== undefined && this.blockLimitMs < limit) limit = this.blockLimitMs;
    }
    if (limit === Infinity || (d.limits?.timeout_ms ?? Infinity) <= limit) return undefined;
    return { ...own, decision: { ...d, limits: { ...d.limits, timeout_ms: limit } } };
  }

  /**
   * The statement a SQL EXECUTE, FETCH or MOVE runs, for its recording (its own text names
   * only the prepared statement or portal): the prepared statement of an EXECUTE, and the
   * statement and Bind parameters a protocol portal holds, which a FETCH or MOVE of it runs
   * when the portal has not run yet (and reads the result of after).
   */
  /**
   * The facts of the query a FETCH or MOVE runs: its SQL cursor's, or the statement of the
   * protocol portal it names; undefined when not known (or not yet answered).
   */
  fetchedFacts(facts: StatementFacts): StatementFacts | undefined {
    const name = cursorName(facts, 'fetch') ?? cursorName(facts, 'move');
    if (name === undefined) return undefined;
    const c = this.cursors.get(name);
    if (c && c !== UNCERTAIN) return c.facts;
    const p = this.portals.get(name);
    return p && p !== UNCERTAIN ? (p.ran ?? p.prepared).facts : undefined;
  }

  runsOf(facts: StatementFacts): RunsOf | undefined {
    const of = executeOf(facts);
    if (of?.prepared) {
      const name = (of.st.execute as { name: string }).name;
      return { sql: of.prepared.facts.text, name, redact: of.prepared.decision.decision.redact };
    }
    if (facts.cursor_op === undefined) return undefined;
    const portal = cursorName(facts, 'fetch') ?? cursorName(facts, 'move');
    const p = portal === undefined ? undefined : this.portals.get(portal);
    if (!p || p === UNCERTAIN) return undefined;
    const held = p.ran ?? p.prepared;
    return {
      sql: executeOf(held.facts)?.prepared?.facts.text ?? held.facts.text,
      portal,
      params: p.params,
      redact: held.decision.decision.redact,
    };
  }

  /** The group went upstream: its changes, in order, to settle when it is answered. */
  commit(): Change[] {
    const out: Change[] = [];
    this.prepared.commit(out);
    this.portals.commit(out);
    this.cursors.commit(out);
    return out;
  }

  /** The group was refused (or waits for earlier answers): its changes are dropped. */
  rollback(): void {
    this.prepared.rollback();
    this.portals.rollback();
    this.cursors.rollback();
  }

  /** A Sync or a Query went upstream: what was sent before it is uncertain until answered. */
  endSpan(): void {
    this.prepared.endSpan();
    this.portals.endSpan();
    this.cursors.endSpan();
  }

  /** The upstream transaction ended: its protocol portals are gone, and its cursors. */
  transactionEnded(committed: boolean): void {
    this.blockLimitMs = undefined;
    this.portals.clearLive();
    this.cursors.transactionEnded(committed);
  }

  /** A remembered Parse of this text, if the policy, catalog and transaction state are unchanged. */
  memo(
    sql: string,
    engine: PolicyEngine,
    inTxn: boolean,
    catalog: object | undefined,
  ): Prepared | undefined {
    const hit = this.parseMemo.get(sql);
    return hit && hit.engine === engine && hit.inTxn === inTxn && hit.catalog === catalog
      ? hit.prepared
      : undefined;
  }

  /**
   * Remember a Parse when its effect is the decision alone: no name changes (PREPARE,
   * DEALLOCATE, DISCARD, EXECUTE) and a decision that read nothing volatile.
   */
  remember(
    sql: string,
    prepared: Prepared,
    engine: PolicyEngine,
    inTxn: boolean,
    catalog: object | undefined,
  ): void {
    const { facts: f, decision: rec } = prepared;
    if (
      rec.volatile ||
      rec.decision.kind !== 'allow' ||
      f.prepare !== undefined ||
      f.deallocate !== undefined ||
      f.discard !== undefined ||
      f.execute !== undefined
    )
      return;
    if (sql.length <= MEMO_MAX_CHARS) this.parseMemo.set(sql, { prepared, engine, inTxn, catalog });
  }
}
