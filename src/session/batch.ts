// Extended protocol: the messages up to a Sync (or Flush), decided as one. Either every
// statement the group runs is allowed and its bytes go upstream as sent, or none runs.
import { isUtf8 } from 'node:buffer';
import { FACTS_KEY, analyze, paramTypeFacts } from '../sql/index.js';
import type { AnalyzeOptions, StatementFacts } from '../sql/types.js';
import type { DecisionRecord, PolicyEngine, SessionFacts } from '../policy/types.js';
import { ClientError, type ErrorFields, type Frame } from '../wire/index.js';
import { rowBudget, type RowBudget } from './cursors.js';
import { refusalFields, type DecisionPoint } from './decide.js';
import { mayRunCode, settingsInDoubtError } from './parser-settings.js';
import {
  executeOf,
  withParamTypes,
  type BindParams,
  type RunsOf,
  type SessionNames,
} from './statements.js';
import { UNCERTAIN } from './name-table.js';
import { quoteIdent } from './params.js';
import { inTransactionAfter, pulledIntoBlock } from './txn-state.js';

/** A frontend message of the current group, waiting for its Sync or Flush. */
export type Pending =
  | { type: 'parse'; frame: Frame; name: string; sql: string; types: number[] }
  | {
      type: 'bind';
      frame: Frame;
      portal: string;
      statement: string;
      params: BindParams;
      invalid?: string;
    }
  | { type: 'execute'; frame: Frame; portal: string; maxRows: number }
  | { type: 'close'; frame: Frame; kind: 'S' | 'P'; name: string }
  | { type: 'describe'; frame: Frame }
  /** A Parse or Bind over the message size limit, dropped: the group fails there. */
  | { type: 'oversized'; frame: Frame; fields: ErrorFields };

/** A statement allowed to run upstream (a Query's, or an Execute's): its decision and limits. */
export interface DecidedRun {
  facts: StatementFacts;
  rec: DecisionRecord;
  protocol: 'simple' | 'extended';
  params: BindParams | null;
  /** The rows left to the portal (or SQL cursor) it reads. */
  budget?: RowBudget;
  /** It reads an open SQL cursor; its facts are the DECLARE's. */
  cursorRead?: boolean;
  /** The statement it runs, where its text names only a prepared statement or portal. */
  runs?: RunsOf;
  /**
   * Whether it runs inside a transaction block, when that differs from the session's state
   * when its group was read (a BEGIN earlier in the same Query string).
   */
  inTransaction?: boolean;
}

/** Why a group is refused, and what the recording keeps of it. */
export interface Refusal {
  fields: ErrorFields;
  /**
   * The index of a message naming a statement or portal PostgreSQL does not have: the
   * group runs up to it and fails there, as it would upstream (the runs before it are in
   * the verdict). Without it the whole group is refused.
   */
  at?: number;
  facts?: StatementFacts;
  rec?: DecisionRecord;
  parseError?: string;
  /** The statement text of a Parse refused before it had facts (a syntax error). */
  text?: string;
  /** The transaction state it was decided in (a BEGIN earlier in its group opens one). */
  inTransaction?: boolean;
  params?: (string | null)[];
}

export type Verdict =
  | {
      allowed: true;
      runs: DecidedRun[];
      /** Binds no Execute of the group runs, of statements that may run code at Bind. */
      bound?: DecidedRun[];
      /** A run may change a parser setting, and no statement text came after it. */
      doubt: boolean;
      /** Messages a settings guard goes before (see guard.ts). */
      guards?: number[];
    }
  | {
      allowed: false;
      refusal: Refusal;
      runs?: DecidedRun[];
      bound?: DecidedRun[];
      doubt?: boolean;
      guards?: number[];
    }
  /** It names something an earlier group changed, whose answer has not come: decide later. */
  | { allowed: false; wait: true };

const WAIT: Verdict = { allowed: false, wait: true };

/**
 * A protocol Execute of a SQL cursor's name reads it as FETCH does: its facts are the
 * DECLARE's (what is read), its text and command the read, as the recording shows it.
 */
function cursorRead(declared: StatementFacts, cursor: string, maxRows: number): StatementFacts {
  return {
    ...declared,
    [FACTS_KEY]: undefined,
    text: `FETCH ${maxRows > 0 ? `FORWARD ${maxRows}` : 'ALL'} FROM ${quoteIdent(cursor)}`,
    command: 'FETCH',
  };
}

/** What a session lends the decision of its groups (made once per session). */
export interface BatchContext {
  names: SessionNames;
  decisions: DecisionPoint;
  engine: () => PolicyEngine;
  session: SessionFacts;
  analyzeOpts: () => AnalyzeOptions;
  /** The catalog analysis reads names against (analyzeOpts().catalog, without the rest). */
  catalog: () => AnalyzeOptions['catalog'];
  /**
   * Settings guards can be sent (the upstream database's encoding is UTF8 or SQL_ASCII; see
   * guard.ts). Where not, statement text behind work that may have changed a setting waits
   * for that work's answer, or, in the same group, is refused.
   */
  guardable: boolean;
}

/**
 * Whether statement text may meet settings other than the gateway parses with: 'group', an
 * earlier message of the group (sent at a Flush) may have run code; 'in_flight', only work
 * not yet answered may have.
 */
export type Doubt = 'none' | 'in_flight' | 'group';

const EMPTY_ALLOWED: DecisionRecord = {
  decision: { kind: 'allow', mask: {}, limits: {}, reasons: [] },
  id: '',
  policyVersion: '',
};

/**
 * Decide a group. Name changes (Parse, Bind, Close, PREPARE...) are staged in `c.names`,
 * each with the message or run that makes it; the caller commits them when the group goes
 * upstream and rolls them back on refusal (or wait).
 * `inDoubt`: an earlier group since the last Sync may have changed a parser setting.
 */
export function decideBatch(
  batch: readonly Pending[],
  inDoubt: Doubt,
  c: BatchContext,
  start = c.session.in_transaction,
): Verdict {
  const inTxn = c.session.in_transaction;
  // A refusal is recorded in the state it was decided in.
  const tagged = (v: Verdict): Verdict => {
    if (!v.allowed && 'refusal' in v) v.refusal.inTransaction ??= c.session.in_transaction;
    return v;
  };
  try {
    const v = tagged(decideIn(batch, inDoubt, c, start, inTxn));
    if (start || 'wait' in v) return v;
    // A BEGIN after statements of the same group pulls them into its block: the group is
    // decided again with them in that state. A refused group may hold one after what was
    // refused, so its Executes are looked at first.
    let pullAt: Set<number> | undefined;
    if (v.allowed) {
      if (v.runs.length < 2 || !v.runs.some((r) => inTransactionAfter(r.facts, false))) return v;
      // Each Execute of an allowed group made one run.
      pullAt = pullPoints(
        batch,
        v.runs.map((r) => r.facts),
      );
    } else if (batch.length > 1) pullAt = pullPoints(batch, executedTransactions(batch, c));
    if (!pullAt) return v;
    c.names.rollback();
    return tagged(decideIn(batch, inDoubt, c, start, inTxn, pullAt));
  } finally {
    c.session.in_transaction = inTxn;
  }
}

/**
 * The messages from which on a group runs in a block that a later BEGIN of it opens: the
 * first after the run before each pulled stretch. `runs`: what each Execute of `batch`
 * runs (only its transaction control counts).
 */
function pullPoints(
  batch: readonly Pending[],
  runs: readonly StatementFacts[],
): Set<number> | undefined {
  const pulled = pulledIntoBlock(runs);
  if (!pulled.includes(true)) return undefined;
  const at: number[] = [];
  for (let i = 0; i < batch.length; i++) if (batch[i].type === 'execute') at.push(i);
  let points: Set<number> | undefined;
  for (let r = 0; r < pulled.length; r++)
    if (pulled[r] && (r === 0 || !pulled[r - 1]))
      (points ??= new Set()).add(r === 0 ? 0 : at[r - 1] + 1);
  return points;
}

/**
 * What each Execute of a group runs, as far as transaction control goes, without deciding
 * anything: for a group refused before its end, which may hold a BEGIN further on.
 */
function executedTransactions(batch: readonly Pending[], c: BatchContext): StatementFacts[] {
  const plain = emptyFacts();
  const statements = new Map<string, StatementFacts>();
  const portals = new Map<string, StatementFacts>();
  const runs: StatementFacts[] = [];
  for (const m of batch) {
    if (m.type === 'parse') {
      const a = analyze(m.sql, c.analyzeOpts());
      statements.set(m.name, (!a.error && a.statements.length === 1 && a.statements[0]) || plain);
    } else if (m.type === 'bind') {
      let f = statements.get(m.statement);
      if (!f) {
        const p = c.names.prepared.get(m.statement);
        f = p && p !== UNCERTAIN ? p.facts : plain;
      }
      portals.set(m.portal, f);
    } else if (m.type === 'execute') {
      runs.push(portals.get(m.portal) ?? plain);
    }
  }
  return runs;
}

/**
 * Each message is decided in the transaction state it meets upstream (`start` for the
 * first): a BEGIN (or COMMIT) run earlier in the group changes `in_transaction` for the
 * policy from there on, and a statement decided in another state than the one it runs in
 * is decided again. `inTxn`: the session's state as last reported by the upstream.
 */
function decideIn(
  batch: readonly Pending[],
  inDoubt: Doubt,
  c: BatchContext,
  start: boolean,
  inTxn: boolean,
  /** Messages from which on the group runs in the block a later BEGIN of it opens. */
  pullAt?: ReadonlySet<number>,
): Verdict {
  const { names, decisions, session } = c;
  const engine = c.engine();
  /** Made under a policy a reload has replaced since. */
  const stale = (rec: DecisionRecord) => rec.policyVersion !== engine.version;
  /** The transaction state each run executes in (a BEGIN earlier in the group opens one). */
  let runTxn = start;
  const runs: DecidedRun[] = [];
  let doubt: Doubt = inDoubt;
  /** Statement text after a run that may have changed a parser setting: see guard.ts. */
  let guards: number[] | undefined;
  /**
   * Binds of statements that may run code when bound (a domain's CHECK on a parameter, a
   * function folded as the statement is planned), by portal, until an Execute runs them;
   * those no Execute runs are recorded on their own (`bound`).
   */
  const bindsRun = new BoundOnly();
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i];
    if (pullAt?.has(i)) runTxn = true;
    session.in_transaction = runTxn;
    switch (m.type) {
      case 'parse': {
        if (doubt !== 'none') {
          if (c.guardable) {
            (guards ??= []).push(i);
            doubt = 'none';
          } else if (doubt === 'in_flight') return WAIT;
          else return refuse({ fields: settingsInDoubtError(), text: m.sql });
        }
        // The name and the text; the parameter type OIDs after them are binary.
        const body = m.frame.body;
        if (!isUtf8(body.subarray(0, body.length - 2 - 4 * m.types.length))) {
          return refuse({
            fields: { severity: 'ERROR', code: '22021', message: 'query text is not valid UTF-8' },
            text: m.sql,
          });
        }
        // Drivers re-send the same Parse text for every execution (unnamed statements):
        // reuse the facts and decision when nothing they depend on has changed.
        const typed = paramTypeFacts(m.types);
        const catalog = c.catalog();
        const hit = typed ? undefined : names.memo(m.sql, engine, runTxn, catalog);
        if (hit) {
          names.prepared.stage(m.name, hit, i);
          // Its analysis may run code (a domain's CHECK on a literal).
          if (mayRunCode(hit.facts)) doubt = 'group';
          break;
        }
        const a = analyze(m.sql, c.analyzeOpts());
        if (a.error) {
          return refuse({
            fields: ClientError.unanalysed(a.error),
            parseError: a.error.message,
            text: m.sql,
          });
        }
        if (a.statements.length > 1) {
          return refuse({
            fields: ClientError.syntax('cannot insert multiple commands into a prepared statement'),
          });
        }
        // An empty query only yields EmptyQueryResponse: nothing to decide.
        const st = a.statements[0];
        const effective = st ? names.effective(st) : emptyFacts();
        if (effective === UNCERTAIN) return WAIT;
        const facts = typed ? withParamTypes(effective, typed, m.types) : effective;
        const rec = st ? decisions.decide(facts, 'extended', null, 0, 1) : EMPTY_ALLOWED;
        if (rec.decision.kind !== 'allow')
          return refuse({ fields: refusalFields(rec), facts, rec });
        const prepared = { facts, decision: rec, inTxn: runTxn };
        names.prepared.stage(m.name, prepared, i);
        if (mayRunCode(facts)) doubt = 'group';
        if (!typed) names.remember(m.sql, prepared, engine, runTxn, catalog);
        break;
      }
      case 'bind': {
        if (m.invalid)
          return refuse({ fields: { severity: 'ERROR', code: '08P01', message: m.invalid } });
        const p = names.prepared.get(m.statement);
        if (p === UNCERTAIN) return WAIT;
        // Not a statement prepared through the gateway: PostgreSQL would refuse it too.
        if (!p)
          return failAt(
            i,
            ClientError.unknownStatement(m.statement),
            runs,
            doubt,
            guards,
            bindsRun,
          );
        let rec = p.decision;
        // Decided again when the decision read the parameters, when the transaction state
        // changed, and when a reload changed the policy since the Parse (an empty query
        // has nothing to decide).
        if (rec !== EMPTY_ALLOWED && (rec.volatile || p.inTxn !== runTxn || stale(rec)))
          rec = decisions.decide(p.facts, 'extended', m.params.value, 0, 1);
        // A name made by SQL PREPARE carries the decision of the statement it prepared.
        // Refused at Bind: the parameters may be why, so they are recorded.
        if (rec.decision.kind !== 'allow')
          return refuse({
            fields: refusalFields(rec),
            facts: p.facts,
            rec,
            params: m.params.value,
          });
        names.portals.stage(
          m.portal,
          {
            prepared: { facts: p.facts, decision: rec, inTxn: runTxn },
            params: m.params,
            rows: rowBudget(rec.decision.limits?.max_rows),
          },
          i,
        );
        names.bound(m.portal, i);
        // Binding plans the statement and converts its parameters: both may run code (an
        // immutable function folded, a domain's CHECK).
        if (rec !== EMPTY_ALLOWED && mayRunCode(p.facts)) {
          doubt = 'group';
          bindsRun.bind(m.portal, p.facts, rec, m.params, runTxn !== inTxn ? runTxn : undefined);
        } else bindsRun.closed(m.portal);
        break;
      }
      case 'execute': {
        const portal = names.portals.get(m.portal);
        if (portal === UNCERTAIN) return WAIT;
        if (portal) {
          let { facts, decision } = portal.prepared;
          let rows = portal.rows;
          /** The transaction state `decision` was made in. */
          let decidedIn = portal.prepared.inTxn;
          if (portal.ran) ({ facts, decision, inTxn: decidedIn } = portal.ran);
          const of = portal.ran ? undefined : executeOf(facts);
          if (of) {
            // SQL EXECUTE runs what its name holds now, which may not be what it held at
            // Parse: decide that.
            const name = (of.st.execute as { name: string }).name;
            const now = names.prepared.get(name);
            if (now === UNCERTAIN) return WAIT;
            if (!now)
              return failAt(i, ClientError.unknownStatement(name), runs, doubt, guards, bindsRun);
            if (now !== of.prepared) {
              const f = names.effective(of.st);
              if (f === UNCERTAIN) return WAIT;
              facts = f;
              decision = decisions.decide(facts, 'extended', portal.params.value, 0, 1);
              decidedIn = runTxn;
              if (decision.decision.kind !== 'allow')
                return refuse({ fields: refusalFields(decision), facts, rec: decision });
              // The result this run stores is the one every later Execute reads: one
              // budget for it, from this decision.
              rows = rowBudget(decision.decision.limits?.max_rows);
            }
          }
          if (decision !== EMPTY_ALLOWED && (decidedIn !== runTxn || stale(decision))) {
            // A BEGIN or COMMIT ran since it was decided, or a reload changed the policy:
            // the policy in force decides, in the state the statement runs in.
            const before = decision.decision.kind === 'allow' ? decision.decision.limits : {};
            decision = decisions.decide(facts, 'extended', portal.params.value, 0, 1);
            if (decision.decision.kind !== 'allow')
              return refuse({
                fields: refusalFields(decision),
                facts,
                rec: decision,
                params: portal.params.value,
              });
            const max = decision.decision.limits?.max_rows;
            if (max !== before?.max_rows) {
              // One limit per result: the rows the portal returned so far count.
              const used = portal.rows ? portal.rows.max - portal.rows.left : 0;
              portal.rows = max === undefined ? undefined : { max, left: Math.max(0, max - used) };
              rows = portal.rows;
            }
            // Later Executes in this state run under this decision.
            if (portal.ran) portal.ran = { facts, decision, inTxn: runTxn };
            else if (!of) portal.prepared = { facts, decision, inTxn: runTxn };
          }
          // Once it has run (known when the Execute is answered), the result it stored.
          if (of)
            names.portals.stage(
              m.portal,
              { ...portal, rows, ran: { facts, decision, inTxn: decidedIn } },
              i,
              true,
            );
          // What a FETCH reads is decided again when a reload changed the policy since.
          const refetched = names.redecideFetched(facts, engine.version, 'extended', runTxn);
          // A cursor it never saw fails where PostgreSQL's missing one would: at this Execute.
          if (refetched?.fields) return failAt(i, refetched.fields, runs, doubt, guards, bindsRun);
          if (refetched)
            return refuse({
              fields: refusalFields(refetched.rec),
              facts: refetched.facts,
              rec: refetched.rec,
            });
          // A FETCH reads under its cursor's budget.
          const cursorBudget = names.fetchBudget(facts);
          if (cursorBudget === UNCERTAIN) return WAIT;
          // … and runs its cursor's statement, in that statement's time.
          decision = names.timeRuling(facts, decision) ?? decision;
          names.noteBlockLimit(decision, runTxn);
          names.stage(facts, decision, runs.length, m.portal);
          const run: DecidedRun = {
            facts,
            rec: decision,
            protocol: 'extended',
            params: portal.params,
            budget: cursorBudget ?? rows,
            runs: names.runsOf(facts),
          };
          if (runTxn !== inTxn) run.inTransaction = runTxn;
          runs.push(run);
          bindsRun.execute(m.portal);
          runTxn = inTransactionAfter(facts, runTxn);
          if (doubt !== 'group' && mayRunCode(facts)) doubt = 'group';
          break;
        }
        // A SQL cursor is a portal upstream: reading it is a FETCH under its DECLARE's
        // decision and row limit. Any other name the gateway never saw is refused.
        const cursor = names.cursors.get(m.portal);
        if (cursor === UNCERTAIN) return WAIT;
        if (!cursor)
          return failAt(i, ClientError.unknownPortal(m.portal), runs, doubt, guards, bindsRun);
        let rec = cursor.decision;
        if (cursor.inTxn !== runTxn || stale(rec)) {
          // A WITH HOLD cursor read after its block ended (or one declared outside a block
          // read inside one): its query is decided in the state it is read in.
          rec = decisions.decide(cursor.facts, 'extended', null, 0, 1);
          if (rec.decision.kind !== 'allow')
            return refuse({ fields: refusalFields(rec), facts: cursor.facts, rec });
          // Its rows from here on are held to this decision's limit, across Executes.
          names.cursors.redecided(cursor, rec, runTxn);
        }
        const read: DecidedRun = {
          facts: cursorRead(cursor.facts, m.portal, m.maxRows),
          rec,
          protocol: 'extended',
          params: null,
          budget: cursor.rows,
          cursorRead: true,
        };
        if (runTxn !== inTxn) read.inTransaction = runTxn;
        runs.push(read);
        // Reading runs the cursor's query.
        doubt = 'group';
        break;
      }
      case 'close':
        if (m.kind === 'S') names.prepared.stage(m.name, null, i);
        else {
          names.portalClosed(m.name, i);
          bindsRun.closed(m.name);
        }
        break;
      case 'describe':
        break;
      case 'oversized':
        return failAt(i, m.fields, runs, doubt, guards, bindsRun);
    }
  }
  return { allowed: true, runs, bound: bindsRun.left(), doubt: doubt === 'group', guards };
}

/** Binds that may run code, and which of them an Execute of the group runs (see decideIn). */
class BoundOnly {
  /**
   * The last Bind not yet run, kept as its parts: most groups bind and execute one portal at
   * a time, and a run is made of them only when no Execute runs it.
   */
  private portal: string | undefined;
  private facts: StatementFacts | undefined;
  private rec: DecisionRecord | undefined;
  private params: BindParams | undefined;
  private inTransaction: boolean | undefined;
  /** Other portals' Binds not yet run, when a group binds several before executing. */
  private others: Map<string, DecidedRun> | undefined;
  private done: DecidedRun[] | undefined;

  /** A Bind into `portal` that may run code; one bound there before is done. */
  bind(
    portal: string,
    facts: StatementFacts,
    rec: DecisionRecord,
    params: BindParams,
    inTransaction: boolean | undefined,
  ): void {
    this.closed(portal);
    if (this.portal !== undefined) (this.others ??= new Map()).set(this.portal, this.slot());
    this.portal = portal;
    this.facts = facts;
    this.rec = rec;
    this.params = params;
    this.inTransaction = inTransaction;
  }

  /** A Bind that runs no code, or a Close, replaces what `portal` held: that is done. */
  closed(portal: string): void {
    const before = this.take(portal);
    if (before) (this.done ??= []).push(before);
  }

  /** An Execute runs what `portal` holds: its Bind is recorded with it. */
  execute(portal: string): void {
    if (this.portal === portal) this.portal = undefined;
    else this.others?.delete(portal);
  }

  private take(portal: string): DecidedRun | undefined {
    if (this.portal === portal) {
      const r = this.slot();
      this.portal = undefined;
      return r;
    }
    const r = this.others?.get(portal);
    if (r) this.others!.delete(portal);
    return r;
  }

  private slot(): DecidedRun {
    const r: DecidedRun = {
      facts: this.facts!,
      rec: this.rec!,
      protocol: 'extended',
      params: this.params!,
    };
    if (this.inTransaction !== undefined) r.inTransaction = this.inTransaction;
    return r;
  }

  /** The Binds no Execute ran (undefined when none). */
  left(): DecidedRun[] | undefined {
    if (this.portal === undefined && !this.others?.size) return this.done;
    const out = [...(this.done ?? []), ...(this.others?.values() ?? [])];
    if (this.portal !== undefined) out.push(this.slot());
    return out;
  }
}

/** The group runs up to message `at`, which fails as it would upstream (see Refusal.at). */
function failAt(
  at: number,
  fields: ErrorFields,
  runs: DecidedRun[],
  doubt: Doubt,
  guards: number[] | undefined,
  bindsRun: BoundOnly,
): Verdict {
  const bound = bindsRun.left();
  return { allowed: false, refusal: { fields, at }, runs, bound, doubt: doubt === 'group', guards };
}

function refuse(refusal: Refusal): Verdict {
  return { allowed: false, refusal };
}

/**
 * Merge frames that are adjacent bytes of the same received chunk (the usual case for a
 * pipelined batch) into one view per run: one write, one allocation.
 */
export function coalesce(frames: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let run = frames[0];
  let end = run.byteOffset + run.length;
  const flush = () =>
    out.push(
      end === run.byteOffset + run.length
        ? run
        : Buffer.from(run.buffer, run.byteOffset, end - run.byteOffset),
    );
  for (let i = 1; i < frames.length; i++) {
    const b = frames[i];
    if (b.buffer === run.buffer && b.byteOffset === end) {
      end += b.length;
      continue;
    }
    flush();
    run = b;
    end = b.byteOffset + b.length;
  }
  flush();
  return out;
}

/** Facts of an empty query string, and the base of a refusal's facts when none parsed. */
export function emptyFacts(): StatementFacts {
  return {
    text: '',
    fingerprint: '',
    command: '',
    class: 'utility',
    relations: [],
    columns: [],
    functions: [],
    has_where: false,
    opaque: false,
  };
}
