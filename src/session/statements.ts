// Per-session names: prepared statements (protocol Parse and SQL PREPARE share one
// namespace in PostgreSQL), portals and cursors, each carrying the facts it was decided on.
import { FACTS_KEY } from '../sql/index.js';
import type { StatementFacts } from '../sql/types.js';
import type { DecisionRecord, PolicyEngine } from '../policy/types.js';
import { bindParamsAsText, type BindMessage } from '../wire/index.js';
import { Cursors, type RowBudget } from './cursors.js';
import type { DecisionPoint } from './decide.js';

export interface Prepared {
  facts: StatementFacts;
  decision: DecisionRecord;
}

/** Bind parameters as text, decoded only when a decision, a refusal or the recording reads them. */
export class BindParams {
  private v: (string | null)[] | undefined;
  constructor(private readonly b: BindMessage) {}
  get value(): (string | null)[] {
    return (this.v ??= bindParamsAsText(this.b));
  }
}

export interface Portal {
  prepared: Prepared;
  params: BindParams;
  /** The statement's max_rows, shared by every Execute of this portal. */
  rows?: RowBudget;
}

/** Holds names with staged changes that only apply when a batch is forwarded. */
export class NameTable<T> {
  private readonly live = new Map<string, T>();
  private staged = new Map<string, T | null>();
  private clearAll = false;
  /** Most names one session may hold (PostgreSQL has no cap; we keep memory bounded). */
  constructor(private readonly cap = 10_000) {}

  get(name: string): T | undefined {
    const s = this.staged.get(name);
    if (s !== undefined) return s ?? undefined;
    return this.clearAll ? undefined : this.live.get(name);
  }

  /** Stage removal of every name (DEALLOCATE ALL, DISCARD ALL). */
  stageClear(): void {
    this.staged.clear();
    this.clearAll = true;
  }

  stage(name: string, value: T | null): void {
    this.staged.set(name, value);
  }

  /** Apply staged changes (the batch reached upstream). */
  commit(): void {
    if (this.clearAll) {
      this.live.clear();
      this.clearAll = false;
    }
    if (this.staged.size === 0) return;
    for (const [k, v] of this.staged) {
      if (v === null) this.live.delete(k);
      else this.live.set(k, v);
    }
    this.staged.clear();
    if (this.live.size > this.cap) {
      const oldest = this.live.keys().next().value as string;
      this.live.delete(oldest);
    }
  }

  /** Drop staged changes (the batch was refused). */
  rollback(): void {
    this.staged.clear();
    this.clearAll = false;
  }

  clear(): void {
    this.live.clear();
    this.staged.clear();
  }
}

/** A Parse text answered without analysing it again (drivers re-send the same Parse). */
interface Memo {
  prepared: Prepared;
  engine: PolicyEngine;
  inTxn: boolean;
}

/** The names of one session: what each refers to, and how statements change them. */
export class SessionNames {
  readonly prepared = new NameTable<Prepared>();
  readonly portals = new NameTable<Portal>(1000);
  /** SQL cursors sent upstream, for their decisions and row limits across FETCHes. */
  readonly cursors = new Cursors();
  /** Parse text → facts and decision, for drivers that re-send the same Parse. */
  private readonly parseMemo = new Map<string, Memo>();

  constructor(private readonly decisions: DecisionPoint) {}

  /** Facts of the statement that will actually run (EXECUTE runs a prepared statement). */
  effective(st: StatementFacts): StatementFacts {
    const ex = st.execute as { name?: string } | undefined;
    if (ex && typeof ex.name === 'string') {
      const p = this.prepared.get(ex.name);
      // The prepared statement's facts, plus whatever the EXECUTE's own parameter
      // expressions touch (EXECUTE p(pg_sleep(9)) calls a function too).
      if (p) {
        return {
          ...p.facts,
          text: st.text,
          command: p.facts.command,
          execute: ex,
          relations: [...p.facts.relations, ...st.relations],
          columns: [...p.facts.columns, ...st.columns],
          functions: [...p.facts.functions, ...st.functions],
          opaque: p.facts.opaque || st.opaque,
          // Not the prepared statement's template any more: cache by the EXECUTE's text.
          [FACTS_KEY]: undefined,
        };
      }
    }
    return st;
  }

  /** Stage name changes an allowed statement makes (PREPARE, DEALLOCATE, DISCARD). */
  stage(st: StatementFacts): void {
    const prep = st.prepare as { name?: string; statement?: StatementFacts } | undefined;
    if (prep?.name && prep.statement) {
      // The prepared statement keeps its own decision: a protocol Bind of this name runs
      // the statement itself, so it must be refused (or held) as the statement would be.
      const inner = this.decisions.decide(prep.statement, 'simple', null, 0, 1);
      this.prepared.stage(prep.name, { facts: prep.statement, decision: inner });
    }
    const dealloc = st.deallocate as { name?: string | null } | undefined;
    if (dealloc) {
      if (dealloc.name) this.prepared.stage(dealloc.name, null);
      else this.prepared.stageClear();
    }
    if ((st.discard as { target?: string } | undefined)?.target === 'all')
      this.prepared.stageClear();
  }

  /** The batch went upstream: its name changes apply. */
  commit(): void {
    this.prepared.commit();
    this.portals.commit();
  }

  /** The batch was refused: its name changes are dropped. */
  rollback(): void {
    this.prepared.rollback();
    this.portals.rollback();
  }

  /** A remembered Parse of this text, if the policy and transaction state are unchanged. */
  memo(sql: string, engine: PolicyEngine, inTxn: boolean): Prepared | undefined {
    const hit = this.parseMemo.get(sql);
    return hit && hit.engine === engine && hit.inTxn === inTxn ? hit.prepared : undefined;
  }

  /**
   * Remember a Parse when its effect is the decision alone: no name changes (PREPARE,
   * DEALLOCATE, DISCARD, EXECUTE) and a decision that read nothing volatile.
   */
  remember(sql: string, prepared: Prepared, engine: PolicyEngine, inTxn: boolean): void {
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
    if (this.parseMemo.size >= 256) this.parseMemo.clear();
    this.parseMemo.set(sql, { prepared, engine, inTxn });
  }
}
