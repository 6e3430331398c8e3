// A table of session names (prepared statements, portals, SQL cursors) that follows what
// PostgreSQL did, not what was sent. PostgreSQL skips every message after an error up to the
// next Sync, and refuses a Parse or PREPARE of a name that exists: a change sent upstream is
// only known to be made once its answer is in. Until then the name is uncertain to later
// groups, which wait for the answer; the group that made the change sees it at once (if the
// change was skipped, so is everything after it up to Sync).

/** A name whose last change has no answer yet: decide once it has. */
export const UNCERTAIN: unique symbol = Symbol('uncertain');
export type Lookup<T> = T | undefined | typeof UNCERTAIN;

/**
 * Where the outcome of a change shows, within its group: the index of the extended-protocol
 * message that made it (0, 1, …), or of the statement (run) that made it (runAt(i) < 0).
 */
export type At = number;
export const runAt = (run: number): At => -1 - run;
export const runOf = (at: At): number => -1 - at;

/** A change sent upstream: settle it with whether PostgreSQL made it. */
export interface Change {
  readonly at: At;
  /** Set by the session: the message's index within its item … */
  pos: number;
  /** … or the statement whose completion makes the change (`rolledBack`: a COMMIT answered
   * ROLLBACK, its block having failed). */
  ran: { ok?: boolean; rolledBack?: boolean } | undefined;
  settle(made: boolean): void;
  /** Its Sync was ignored (it came during a COPY): it is seen by what follows again. */
  resume(): void;
}

/**
 * What a transaction statement does to names that live in transactions (portals, cursors):
 * a savepoint set or released changes none; ROLLBACK TO drops those made since its
 * savepoint; a block's end drops those `drop` says, and `kept` sees the others.
 */
export type TxnEvent<T> =
  | { kind: 'savepoint' | 'release' | 'rollback_to'; name: string }
  | {
      kind: 'end';
      drop: (v: T) => boolean;
      kept?: (v: T) => void;
      /** What the end does instead when PostgreSQL rolled the block back (see Change.ran). */
      ifRolledBack?: { drop: (v: T) => boolean; kept?: (v: T) => void };
    };

class Rec<T> implements Change {
  /** Counted as uncertain (its group has ended). */
  unsure = false;
  settled = false;
  pos = 0;
  ran: { ok?: boolean; rolledBack?: boolean } | undefined = undefined;
  constructor(
    readonly table: NameTable<T>,
    /** The name changed, or null: every name removed (or those `txn` says). */
    readonly name: string | null,
    readonly value: T | null,
    readonly at: At,
    readonly txn?: TxnEvent<T>,
    /** The same entry, updated (not made again): it keeps when it was made. */
    readonly update = false,
  ) {}

  /** A savepoint set or released: it changes no name, so nothing waits for its answer. */
  get passive(): boolean {
    return this.txn?.kind === 'savepoint' || this.txn?.kind === 'release';
  }

  settle(made: boolean): void {
    this.table.settle(this, made);
  }

  resume(): void {
    this.table.resume(this);
  }
}

export class NameTable<T> {
  /** What PostgreSQL is known to have. */
  private readonly live = new Map<string, T>();
  /** The group being decided. */
  private readonly staged = new Map<string, T | null>();
  private stagedClear = false;
  private stagedRecs: Rec<T>[] = [];
  /** Sent since the last Sync: visible to the groups that follow before that Sync. */
  private readonly span = new Map<string, T | null>();
  private spanClear = false;
  private spanRecs: Rec<T>[] = [];
  /** Sent before a Sync whose answer has not come: names → changes outstanding. */
  private readonly unsure = new Map<string, number>();
  private unsureClears = 0;

  /** When each live name was made, on `clock`: ROLLBACK TO drops those made after it. */
  private readonly stamps = new Map<string, number>();
  /** The savepoints of the open block, oldest first, each with when it was set. */
  private readonly savepoints: { name: string; stamp: number }[] = [];
  private clock = 0;

  /** The weight of what `live` holds (see `weigh`). */
  private liveWeight = 0;
  /**
   * Names forgotten past the bounds while PostgreSQL still holds them (up to 10,000; past
   * that, `forgotMany`: any name may be one).
   */
  private readonly forgotten = new Set<string>();
  private forgotMany = false;

  /**
   * `cap`: most names one session may hold (PostgreSQL has no cap; we keep memory bounded).
   * `keep`: a name that removing every name leaves (DEALLOCATE ALL keeps the unnamed
   * statement). `weigh` and `maxWeight`: the most memory (by the values' weights) the names
   * may hold. Past either, the oldest names are forgotten: a later use of one is refused as
   * a name the gateway does not know.
   */
  constructor(
    private readonly cap = 10_000,
    private readonly keep?: string,
    private readonly weigh?: (v: T) => number,
    private readonly maxWeight = Infinity,
  ) {}

  get(name: string): Lookup<T> {
    const kept = name === this.keep;
    let v = this.staged.get(name);
    if (v !== undefined) return v ?? undefined;
    if (this.stagedClear && !kept) return undefined;
    v = this.span.get(name);
    if (v !== undefined) return v ?? undefined;
    if (this.spanClear && !kept) return undefined;
    if ((this.unsureClears > 0 && !kept) || (this.unsure.get(name) ?? 0) > 0) return UNCERTAIN;
    return this.live.get(name);
  }

  /** Stage a change made by the group being decided (value null: the name is removed). */
  /** Every value PostgreSQL has or may have by now (known, sent, or being staged). */
  *all(): IterableIterator<T> {
    for (const v of this.live.values()) yield v;
    for (const v of this.span.values()) if (v !== null) yield v;
    for (const v of this.staged.values()) if (v !== null) yield v;
  }

  stage(name: string, value: T | null, at: At, update = false): void {
    this.staged.set(name, value);
    this.stagedRecs.push(new Rec(this, name, value, at, undefined, update));
  }

  /** Stage removal of every name (DEALLOCATE ALL, DISCARD ALL, CLOSE ALL, COMMIT). */
  stageClear(at: At, txn?: TxnEvent<T>): void {
    const kept = this.keep === undefined ? undefined : this.staged.get(this.keep);
    this.staged.clear();
    if (kept !== undefined) this.staged.set(this.keep!, kept);
    this.stagedClear = true;
    this.stagedRecs.push(new Rec<T>(this, null, null, at, txn));
  }

  /**
   * Stage a transaction statement's effect (see TxnEvent). ROLLBACK TO and a block's end
   * hide every name from what follows them until they are answered (some may live on: the
   * rest of their group does not count on it); PostgreSQL's answer then drops just those
   * it dropped.
   */
  stageTxn(ev: TxnEvent<T>, at: At): void {
    if (ev.kind === 'savepoint' || ev.kind === 'release')
      this.stagedRecs.push(new Rec<T>(this, null, null, at, ev));
    else this.stageClear(at, ev);
  }

  /** The group went upstream: its changes, in order, to settle when answered. */
  commit(out: Change[]): void {
    if (this.stagedRecs.length === 0) return;
    if (this.stagedClear) {
      const kept = this.keep === undefined ? undefined : this.span.get(this.keep);
      this.span.clear();
      if (kept !== undefined) this.span.set(this.keep!, kept);
      this.spanClear = true;
    }
    this.staged.forEach(this.toSpan);
    for (const r of this.stagedRecs) {
      this.spanRecs.push(r);
      out.push(r);
    }
    this.dropStaged();
  }

  private readonly toSpan = (v: T | null, k: string): void => void this.span.set(k, v);

  /** The group was refused (or waits): its changes are dropped. */
  rollback(): void {
    if (this.stagedRecs.length) this.dropStaged();
  }

  /** A Sync (or a Query) went upstream: changes sent so far are uncertain until answered. */
  endSpan(): void {
    if (this.spanRecs.length === 0) return;
    for (const r of this.spanRecs) {
      if (r.settled || r.passive) continue;
      r.unsure = true;
      if (r.name === null) this.unsureClears++;
      else this.unsure.set(r.name, (this.unsure.get(r.name) ?? 0) + 1);
    }
    // A new array: setting an array's length is a runtime call, and every group ends here.
    this.spanRecs = [];
    if (this.span.size) this.span.clear();
    this.spanClear = false;
  }

  /** The transaction ended upstream: names that die with it (protocol portals) are gone. */
  clearLive(): void {
    // Map.clear() allocates a new table even when the map is empty: every transaction's
    // end comes here.
    if (this.live.size) this.live.clear();
    if (this.stamps.size) this.stamps.clear();
    if (this.savepoints.length) this.savepoints.length = 0;
    this.liveWeight = 0;
    this.remembered();
  }

  /** The transaction ended upstream: of the names, those `drop` says are gone. */
  endLive(drop: (v: T) => boolean, kept?: (v: T) => void): void {
    if (this.savepoints.length) this.savepoints.length = 0;
    for (const [k, v] of this.live) {
      if (drop(v)) this.deleteLive(k);
      else kept?.(v);
    }
  }

  /** What a transaction statement PostgreSQL ran did to the names (see TxnEvent). */
  private applyTxn(ev: TxnEvent<T>): void {
    const sp = this.savepoints;
    if (ev.kind === 'end') {
      sp.length = 0;
      for (const [k, v] of this.live) {
        if (ev.drop(v)) this.deleteLive(k);
        else ev.kept?.(v);
      }
      return;
    }
    let i = sp.length - 1;
    while (i >= 0 && sp[i].name !== ev.name) i--;
    if (ev.kind === 'savepoint') sp.push({ name: ev.name, stamp: this.clock++ });
    else if (i < 0) return;
    else if (ev.kind === 'release') sp.length = i;
    else {
      // ROLLBACK TO: what was made since the savepoint is gone; the savepoint stays.
      const mark = sp[i].stamp;
      sp.length = i + 1;
      for (const [k, s] of this.stamps) if (s > mark) this.deleteLive(k);
    }
  }

  /** Every name PostgreSQL holds is known again (all removed, on both sides). */
  private remembered(): void {
    if (this.forgotten.size) this.forgotten.clear();
    this.forgotMany = false;
  }

  /**
   * Whether `name` may be one PostgreSQL still holds but this table forgot past its bounds:
   * what it refers to is not known, so a use of it is refused rather than taken as unknown
   * to PostgreSQL too.
   */
  forgot(name: string): boolean {
    return this.forgotMany || this.forgotten.has(name);
  }

  private forget(name: string): void {
    this.deleteLive(name);
    if (this.forgotten.size < 10_000) this.forgotten.add(name);
    else this.forgotMany = true;
  }

  /**
   * See Change.resume. What the open span holds came later upstream, so it wins; a
   * removal of every name hides only what was there before.
   */
  resume(r: Rec<T>): void {
    if (r.settled || !r.unsure) return;
    r.unsure = false;
    if (r.name === null) {
      this.unsureClears--;
      this.spanClear = true;
    } else {
      this.unsureDone(r.name);
      if (!this.span.has(r.name)) this.span.set(r.name, r.value);
    }
    this.spanRecs.push(r);
  }

  /** See Change.settle. */
  settle(r: Rec<T>, made: boolean): void {
    if (r.settled) return;
    r.settled = true;
    if (r.unsure) {
      if (r.name === null) this.unsureClears--;
      else {
        this.unsureDone(r.name);
      }
    }
    if (!made) return;
    if (r.txn?.kind === 'end' && r.ran?.rolledBack && r.txn.ifRolledBack)
      this.applyTxn({ kind: 'end', ...r.txn.ifRolledBack });
    else if (r.txn) this.applyTxn(r.txn);
    else if (r.name === null) {
      const kept = this.keep === undefined ? undefined : this.live.get(this.keep);
      this.remembered();
      this.live.clear();
      this.stamps.clear();
      this.liveWeight = 0;
      if (kept !== undefined) this.setLive(this.keep!, kept);
    } else if (r.value === null) this.deleteLive(r.name);
    else {
      const made = r.update ? this.stamps.get(r.name) : undefined;
      // Made again as the only name (an unnamed statement or portal, group after group):
      // replaced where it is, as deleting a small map's last entry reallocates its table.
      if (this.live.size === 1 && this.live.has(r.name)) this.unweigh(r.name);
      else this.deleteLive(r.name);
      this.setLive(r.name, r.value);
      if (made !== undefined) this.stamps.set(r.name, made);
      // The oldest go first; the name just made stays.
      while (this.live.size > this.cap || (this.liveWeight > this.maxWeight && this.live.size > 1))
        this.forget(this.live.keys().next().value as string);
    }
  }

  private setLive(name: string, v: T): void {
    this.live.set(name, v);
    this.stamps.set(name, this.clock++);
    this.forgotten.delete(name);
    if (this.weigh) this.liveWeight += this.weigh(v);
  }

  /** One fewer uncertain change of `name`. */
  private unsureDone(name: string): void {
    const n = (this.unsure.get(name) ?? 1) - 1;
    // A count of 0 stands for none. It is kept while the map is small: deleting a small
    // map's last entry reallocates its table, and most groups change the same one name.
    if (n > 0 || this.unsure.size <= 8) this.unsure.set(name, n);
    else this.unsure.delete(name);
  }

  private unweigh(name: string): void {
    if (this.weigh) this.liveWeight -= this.weigh(this.live.get(name)!);
  }

  private deleteLive(name: string): void {
    const v = this.live.get(name);
    if (v === undefined) return;
    this.live.delete(name);
    this.stamps.delete(name);
    if (this.weigh) this.liveWeight -= this.weigh(v);
  }

  private dropStaged(): void {
    if (this.staged.size) this.staged.clear();
    this.stagedClear = false;
    this.stagedRecs = [];
  }
}
