// The recorder: per-session hash chains over one group-committed spool, checkpoints, shipping.
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { log } from '../util/logger.js';
import { Lru } from '../util/lru.js';
import {
  GENESIS,
  checkLine,
  eventPrefix,
  fieldsFragment,
  identityFragment,
  identityFromFields,
  sha256hex,
} from './event.js';
import { dataEnd, parseSegmentName, segmentName, splitLines } from './segment.js';
import { LOCK_FILE, SpoolInUse, lockSpool, type SpoolLock } from './lock.js';
import { privateDirSync } from './private-dir.js';
import { Shipper } from './ship.js';
import { createSigner, type CheckpointSigner } from './sign.js';
import { SpoolWriter, nodeSpoolFs } from './spool.js';
import {
  RecordingUnavailable,
  type Recorder,
  type RecorderOptions,
  type RecorderStats,
  type SessionRecording,
  type SessionStartInfo,
  type SessionTotals,
  type StatementEventInput,
  type StatementOutcome,
} from './types.js';

/** Event types only the recorder writes (on the gateway chain). */
export const GATEWAY_INTERNAL = new Set([
  'checkpoint',
  'segment_start',
  'recovery',
  'recording_gap',
]);

interface Chain {
  id: string;
  idJson: string;
  seq: number;
  hash: string;
  dirty: boolean;
  closed: boolean;
}

const NO_IDENTITY = identityFragment(undefined);

/** Fragments of fact arrays, cached by identity: the SQL stage reuses fact objects. */
const fragCache = new WeakMap<object, string>();
function cachedJson(v: object): string {
  let s = fragCache.get(v);
  if (s === undefined) fragCache.set(v, (s = JSON.stringify(v)));
  return s;
}

/** Fields from `fingerprint` to `extra`, shared by every event of one facts template. */
/** Longest fragment kept; at most 10,000 fragments and 16 Mi characters in all. */
const MAX_FRAG_CHARS = 16 * 1024;
const factsFrags = new Lru<string, string>(10_000, 16 * 1024 * 1024, (_k, s) => s.length);

function factsFragment(ev: StatementEventInput): string {
  const key = ev.facts_key;
  if (key !== undefined) {
    const hit = factsFrags.get(key);
    if (hit !== undefined) return hit;
  }
  const s =
    ',"fingerprint":' +
    JSON.stringify(ev.fingerprint) +
    ',"command":' +
    JSON.stringify(ev.command) +
    ',"class":"' +
    ev.class +
    '","relations":' +
    cachedJson(ev.relations) +
    ',"columns":' +
    cachedJson(ev.columns) +
    ',"functions":' +
    cachedJson(ev.functions) +
    ',"has_where":' +
    ev.has_where +
    ',"opaque":' +
    ev.opaque +
    ',"parse_error":' +
    (ev.parse_error === undefined ? 'null' : JSON.stringify(ev.parse_error)) +
    ',"extra":' +
    (ev.extra ? JSON.stringify(typeof ev.extra === 'function' ? ev.extra() : ev.extra) : 'null');
  if (key !== undefined && s.length <= MAX_FRAG_CHARS) factsFrags.set(key, s);
  return s;
}

/** The decision's fields; decisions the session caches are the same object each time. */
const decisionFrags = new WeakMap<object, string>();

function decisionFragment(d: StatementEventInput['decision']): string {
  let s = decisionFrags.get(d);
  if (s !== undefined) return s;
  s = ',"decision":"' + d.kind + '","reasons":' + JSON.stringify(d.reasons);
  if (d.kind === 'allow')
    s +=
      ',"hint":null,"mask":' +
      cachedJson(d.mask) +
      ',"limits":' +
      cachedJson(d.limits) +
      ',"approval":null';
  else if (d.kind === 'deny')
    s += ',"hint":' + JSON.stringify(d.hint ?? null) + ',"mask":null,"limits":null,"approval":null';
  else
    s +=
      ',"hint":' +
      JSON.stringify(d.hint ?? null) +
      ',"mask":null,"limits":null,"approval":' +
      JSON.stringify(d.approval);
  if (d.redact) s += ',"redact":' + JSON.stringify(d.redact);
  decisionFrags.set(d, s);
  return s;
}

function statementFragment(ev: StatementEventInput): string {
  return (
    ',"sql":' +
    JSON.stringify(ev.sql) +
    (ev.runs ? ',"runs":' + JSON.stringify(ev.runs) : '') +
    factsFragment(ev) +
    ',"protocol":"' +
    ev.protocol +
    '","params":' +
    (ev.params === null ? 'null' : JSON.stringify(ev.params)) +
    (ev.param_formats ? ',"param_formats":' + JSON.stringify(ev.param_formats) : '') +
    ',"index":' +
    ev.index +
    ',"count":' +
    ev.count +
    ',"in_transaction":' +
    ev.in_transaction +
    decisionFragment(ev.decision) +
    ',"decision_id":' +
    JSON.stringify(ev.decision_id) +
    ',"policy_version":' +
    JSON.stringify(ev.policy_version) +
    (ev.decided_by ? ',"decided_by":"' + ev.decided_by + '"' : '')
  );
}

/** What a spool holds: an existing directory holding only these is the recorder's own. */
function spoolFile(name: string): boolean {
  return (
    name === 'instance' ||
    name === '.shipped' ||
    LOCK_FILE.test(name) ||
    parseSegmentName(name) !== undefined
  );
}

interface Recovered {
  gwSeq: number;
  gwHash: string;
  last: string | null;
  info: Record<string, unknown> | null;
}

class SpoolRecorder implements Recorder {
  private readonly fs;
  private readonly clock: () => number;
  private readonly alert: (msg: string, fields: Record<string, unknown>) => void;
  private readonly signer: CheckpointSigner | undefined;
  private readonly everyEvents: number;
  private readonly everyMs: number;
  private readonly maxBytes: number;
  private readonly maxMs: number;
  private readonly bound: number;
  private readonly failOpen: boolean;
  private readonly runId = randomBytes(6).toString('hex');
  private readonly ready: Promise<void>;
  private lock: SpoolLock | undefined;
  private instance = '';
  private writer!: SpoolWriter;
  private shipper: Shipper;
  private gw!: Chain;
  private chains = new Map<string, Chain>();
  private segN = 0;
  private curSeg = '';
  private segQueued = 0;
  private segOpenedAt = 0;
  private sinceCp = 0;
  private lastCpAt = 0;
  private inCheckpoint = false;
  private timer: NodeJS.Timeout | null = null;
  private initError: unknown = null;
  private closed = false;
  private dropped = 0;
  private unshipped = new Map<string, number>();
  private lastMs = -1;
  private lastIso = '';
  private lastPrune = 0;
  private lastWriteAlert = 0;
  private lastDropAlert = 0;
  private spoolSegs: string[] = [];
  private shipped = new Set<string>();

  constructor(private readonly o: RecorderOptions) {
    let lockError: unknown = null;
    try {
      privateDirSync(o.spoolDir, spoolFile);
      this.lock = lockSpool(o.spoolDir);
    } catch (e) {
      // Two processes on one spool break the recording (each would recover, truncate and
      // ship the other's live segment): the second does not start at all. Any other error
      // leaves the recorder refusing statements, like a spool that fails later.
      if (e instanceof SpoolInUse) throw e;
      lockError = e;
    }
    this.fs = o.fs ?? nodeSpoolFs;
    this.clock = o.clock ?? Date.now;
    this.alert = o.onAlert ?? ((msg, fields) => log.error(msg, fields));
    const cp = o.checkpoint ?? {};
    this.signer = cp.signingKey ? createSigner(cp.signingKey, cp.kid, cp.alg) : undefined;
    this.everyEvents = cp.everyEvents ?? 1000;
    this.everyMs = cp.everyMs ?? 1000;
    const sinks = o.sinks ?? [];
    this.maxBytes = Math.min(
      o.segment?.maxBytes ?? 64 << 20,
      ...sinks.map((s) => s.rotation?.maxBytes ?? Infinity),
    );
    this.maxMs = Math.min(
      o.segment?.maxMs ?? 3_600_000,
      ...sinks.map((s) => s.rotation?.maxMs ?? Infinity),
    );
    this.bound = o.spoolBound ?? 1 << 30;
    this.failOpen = o.failOpen ?? false;
    this.shipper = new Shipper({
      dir: o.spoolDir,
      fs: this.fs,
      sinks,
      minMs: o.retry?.minMs ?? 200,
      maxMs: o.retry?.maxMs ?? 30_000,
      onAlert: (m, f) => this.alert(m, f),
      onShipped: (seg) => this.onShipped(seg),
    });
    this.ready = (lockError === null ? this.init() : Promise.reject(lockError)).catch((e) => {
      this.initError = e;
      this.alert('recording spool unavailable', { dir: o.spoolDir, error: String(e) });
    });
  }

  get accepting(): boolean {
    return this.healthy || this.failOpen;
  }

  get healthy(): boolean {
    if (this.initError || this.closed) return false;
    if (!this.writer) return true;
    return !this.writer.failed && this.unshippedBytes() <= this.bound;
  }

  /** ISO time of the clock, computed once per millisecond. */
  private now(): string {
    const ms = this.clock();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }

  private unshippedBytes(): number {
    if (!(this.o.sinks ?? []).length) return 0;
    // After close the last segment is counted in `unshipped` until a sink has it.
    let n = this.closed ? 0 : this.writer.written + this.writer.pendingBytes;
    for (const v of this.unshipped.values()) n += v;
    return n;
  }

  stats(): RecorderStats {
    return {
      instance: this.instance,
      segment: this.curSeg,
      unshippedBytes: this.writer ? this.unshippedBytes() : 0,
      pendingBytes: this.writer?.pendingBytes ?? 0,
      healthy: this.healthy,
      writes: this.writer?.writes ?? 0,
      syncs: this.writer?.syncs ?? 0,
      dropped: this.dropped,
    };
  }

  // ---- start-up and recovery -------------------------------------------------------

  private async init(): Promise<void> {
    const { spoolDir } = this.o;
    await this.fs.mkdir(spoolDir);
    try {
      this.instance = Buffer.from(await this.fs.readFile(join(spoolDir, 'instance')))
        .toString('utf8')
        .trim();
    } catch {
      this.instance = randomBytes(4).toString('hex');
      await this.fs.writeFile(join(spoolDir, 'instance'), this.instance + '\n');
    }
    const mine = (await this.fs.readdir(spoolDir))
      .map(parseSegmentName)
      .filter((s) => s !== undefined && s.instance === this.instance)
      .sort((a, b) => a!.n - b!.n)
      .map((s) => s!);
    this.segN = mine.length ? mine[mine.length - 1].n : 0;
    this.spoolSegs = mine.map((s) => s.name);
    const rec = await this.recover(this.spoolSegs);
    this.gw = {
      id: 'gateway:' + this.instance,
      idJson: JSON.stringify('gateway:' + this.instance),
      seq: rec.gwSeq,
      hash: rec.gwHash,
      dirty: false,
      closed: false,
    };
    this.curSeg = segmentName(this.clock(), this.instance, ++this.segN);
    this.spoolSegs.push(this.curSeg);
    this.segOpenedAt = this.lastCpAt = this.clock();
    this.writer = new SpoolWriter(
      {
        dir: spoolDir,
        fs: this.fs,
        durability: this.o.durability ?? 'fsync',
        openDsync: (this.o.syncMethod ?? 'open_datasync') === 'open_datasync',
        syncIntervalMs: this.o.syncIntervalMs ?? 200,
        preallocBytes: this.maxBytes,
        failOpen: this.failOpen,
        makeError: (e) =>
          new RecordingUnavailable('session recording is unavailable', { cause: e }),
        onWriteError: (e) => {
          // Loud on the first failure, then at most every 10 s while it keeps failing.
          const now = Date.now();
          if (now - this.lastWriteAlert < 10_000) return;
          this.lastWriteAlert = now;
          this.alert(
            this.failOpen
              ? 'RECORDING SPOOL WRITE FAILED: fail-open, statements are forwarded UNRECORDED'
              : 'recording spool write failed: statements are refused until it recovers',
            { dir: spoolDir, segment: this.writer.segment, error: String(e) },
          );
        },
        onRecovered: () => {
          this.lastWriteAlert = 0;
          this.alert('recording spool recovered', { dir: spoolDir });
          this.reportGap();
        },
        onFillError: (e, ahead) =>
          this.alert(
            'recording spool could not reserve space ahead of its data (is the disk full?)',
            { dir: spoolDir, segment: this.writer.segment, bytes_left: ahead, error: String(e) },
          ),
        onSealed: (seg, bytes) => this.onSealed(seg, bytes),
      },
      this.curSeg,
    );
    const started = this.gwAppend(
      'segment_start',
      ',"segment":' +
        JSON.stringify(this.curSeg) +
        ',"prev_segment":' +
        JSON.stringify(rec.last) +
        ',"reason":"' +
        (rec.info ? 'recover' : 'start') +
        '","run_id":"' +
        this.runId +
        '","heads":{}',
      true,
    );
    if (rec.info) {
      this.alert('recording recovered after an unclean stop', rec.info);
      this.gwAppend('recovery', fieldsFragment(rec.info), false);
    }
    await started;
    for (const seg of this.spoolSegs.slice(0, -1)) {
      this.unshipped.set(seg, (await this.fs.stat(join(spoolDir, seg))).size);
      void this.shipper.enqueue(seg);
    }
    const tick = Math.max(50, Math.min(this.everyMs, 1000));
    this.timer = setInterval(() => this.onTick(), tick);
    this.timer.unref();
  }

  /**
   * Read this instance's spool segments: continue the gateway chain from its last event,
   * and, if the last run stopped without its final checkpoint, describe what it left:
   * a torn line (kept as is for `verify`) and the heads of chains no checkpoint covers.
   */
  private async recover(segs: string[]): Promise<Recovered> {
    const out: Recovered = { gwSeq: 0, gwHash: GENESIS, last: segs.at(-1) ?? null, info: null };
    if (!segs.length) return out;
    const gwId = 'gateway:' + this.instance;
    const heads = new Map<string, [number, string]>();
    const covered = new Map<string, number>();
    const ended = new Set<string>();
    const started = new Set<string>();
    let clean = false;
    let torn: Record<string, unknown> | null = null;
    let lastEvent: { session_id: string; seq: number } | null = null;
    for (const seg of segs) {
      const bytes = await this.fs.readFile(join(this.o.spoolDir, seg));
      await this.cutUnwritten(seg, bytes);
      const split = splitLines(bytes);
      for (const { text } of split.lines) {
        const c = checkLine(text);
        if (!c.ok) continue;
        const ev = c.event;
        lastEvent = { session_id: ev.session_id, seq: ev.seq };
        heads.set(ev.session_id, [ev.seq, ev.hash]);
        if (ev.session_id === gwId) {
          out.gwSeq = ev.seq;
          out.gwHash = ev.hash;
          clean = ev.type === 'checkpoint' && ev.final === true;
          if (ev.type === 'checkpoint')
            for (const [id, h] of Object.entries((ev.heads ?? {}) as Record<string, [number]>))
              covered.set(id, h[0]);
          if (ev.type === 'recovery')
            for (const [id, h] of Object.entries((ev.heads ?? {}) as Record<string, [number]>))
              covered.set(id, h[0]);
        } else if (ev.type === 'session_end') ended.add(ev.session_id);
        else if (ev.type === 'session_start') started.add(ev.session_id);
      }
      if (split.torn)
        torn = {
          segment: seg,
          offset: split.torn.offset,
          bytes: split.torn.bytes,
          after_session_id: lastEvent?.session_id ?? null,
          after_seq: lastEvent?.seq ?? null,
        };
    }
    if (clean && !torn) return out;
    const uncovered: Record<string, [number, string]> = {};
    for (const [id, h] of heads)
      if (id !== gwId && (covered.get(id) ?? 0) < h[0]) uncovered[id] = h;
    out.info = {
      previous_segment: out.last,
      torn,
      heads: uncovered,
      interrupted_sessions: [...started].filter((id) => !ended.has(id)),
    };
    return out;
  }

  /**
   * A run that stopped without sealing its segment left the zero fill ahead of the data:
   * cut it (NULs only, never a byte of a line) so the segment ships as its data alone.
   */
  private async cutUnwritten(seg: string, bytes: Uint8Array): Promise<void> {
    const end = dataEnd(bytes);
    if (end === bytes.length) return;
    const f = await this.fs.open(join(this.o.spoolDir, seg), 'r+');
    try {
      await f.truncate(end);
      await f.datasync();
    } finally {
      await f.close();
    }
  }

  // ---- appending ----------------------------------------------------------------

  /** Assign seq and prev_hash, hash the line, queue it. Synchronous: file order = chain order. */
  private push(chain: Chain, type: string, rest: string, wait: boolean): Promise<void> | undefined {
    if (this.closed) {
      return wait ? Promise.reject(new RecordingUnavailable('recorder is closed')) : undefined;
    }
    if (this.writer.pendingBytes > this.bound) {
      this.dropped++;
      const now = Date.now();
      if (now - this.lastDropAlert >= 10_000) {
        this.lastDropAlert = now;
        this.alert('recording backlog over bound: events dropped', {
          session_id: chain.id,
          type,
          dropped_so_far: this.dropped,
        });
      }
      return this.failOpen
        ? Promise.resolve()
        : Promise.reject(new RecordingUnavailable('recording backlog full'));
    }
    // The backlog is under its bound again (a spool slower than the load, not failing).
    if (this.dropped > 0 && !this.writer.failed) this.reportGap();
    const prefix = eventPrefix(type, chain.idJson, chain.seq + 1, this.now(), chain.hash, rest);
    // Fail open: while the spool is broken nobody waits for it.
    const p = this.writer.append(prefix, wait && !(this.failOpen && this.writer.failed));
    chain.seq++;
    chain.hash = this.writer.lastHash;
    chain.dirty = true;
    this.segQueued += this.writer.lastBytes;
    if (!this.inCheckpoint) {
      if (++this.sinceCp >= this.everyEvents) this.checkpoint(false);
      if (this.segQueued >= this.maxBytes) this.rotate();
    }
    return p;
  }

  /** Events were dropped (see push): the gateway chain says how many, for verify. */
  private reportGap(): void {
    const n = this.dropped;
    if (n === 0) return;
    this.dropped = 0;
    this.gwAppend('recording_gap', ',"dropped_events":' + n, false);
  }

  private gwAppend(type: string, rest: string, wait: boolean): Promise<void> | undefined {
    return this.push(this.gw, type, NO_IDENTITY + rest, wait);
  }

  /** Signed statement of every chain head that moved since the previous checkpoint. */
  private checkpoint(final: boolean): void {
    this.inCheckpoint = true;
    try {
      let heads = '';
      for (const c of this.chains.values()) {
        if (!c.dirty) continue;
        heads += (heads ? ',' : '') + c.idJson + ':[' + c.seq + ',"' + c.hash + '"]';
        c.dirty = false;
        if (c.closed) this.chains.delete(c.id);
      }
      const prefix0 = eventPrefix(
        'checkpoint',
        this.gw.idJson,
        this.gw.seq + 1,
        this.now(),
        this.gw.hash,
        NO_IDENTITY +
          ',"segment":' +
          JSON.stringify(this.curSeg) +
          ',"heads":{' +
          heads +
          '},"final":' +
          final +
          ',"kid":' +
          JSON.stringify(this.signer?.kid ?? null),
      );
      const sig = this.signer ? '"' + this.signer.sign(sha256hex(prefix0)) + '"' : 'null';
      this.writer.append(prefix0 + ',"sig":' + sig, false);
      this.gw.seq++;
      this.gw.hash = this.writer.lastHash;
      this.segQueued += this.writer.lastBytes;
      this.sinceCp = 0;
      this.lastCpAt = this.clock();
    } finally {
      this.inCheckpoint = false;
    }
  }

  /**
   * The heads of the session chains still open, for a new segment's segment_start: a reader
   * of that segment alone (the older ones pruned) knows where each chain it continues stood,
   * and that every other chain in it starts there.
   */
  private openHeads(): string {
    let heads = '';
    for (const c of this.chains.values())
      if (!c.closed && c !== this.gw)
        heads += (heads ? ',' : '') + c.idJson + ':[' + c.seq + ',"' + c.hash + '"]';
    return heads;
  }

  /** Seal the active segment with a checkpoint and continue in a new one. */
  private rotate(): void {
    this.checkpoint(false);
    const prev = this.curSeg;
    this.curSeg = segmentName(this.clock(), this.instance, ++this.segN);
    this.spoolSegs.push(this.curSeg);
    this.writer.rotate(this.curSeg);
    this.segQueued = 0;
    this.segOpenedAt = this.clock();
    this.inCheckpoint = true;
    try {
      this.gwAppend(
        'segment_start',
        ',"segment":' +
          JSON.stringify(this.curSeg) +
          ',"prev_segment":' +
          JSON.stringify(prev) +
          ',"reason":"rotate","run_id":"' +
          this.runId +
          '","heads":{' +
          this.openHeads() +
          '}',
        false,
      );
    } finally {
      this.inCheckpoint = false;
    }
  }

  private onTick(): void {
    if (this.closed || this.writer.failed) return;
    const now = this.clock();
    if (this.sinceCp > 0 && now - this.lastCpAt >= this.everyMs) this.checkpoint(false);
    if (now - this.segOpenedAt >= this.maxMs && this.segQueued > 0) this.rotate();
  }

  private onSealed(seg: string, bytes: number): void {
    this.unshipped.set(seg, bytes);
    void this.shipper.enqueue(seg);
  }

  private onShipped(seg: string): void {
    this.unshipped.delete(seg);
    this.shipped.add(seg);
    const sinks = this.o.sinks ?? [];
    if (!sinks.length) return;
    // Retention: at most hourly, each sink drops what is past its own retention.
    const now = this.clock();
    if (now - this.lastPrune >= 3_600_000) {
      this.lastPrune = now;
      for (const s of sinks)
        s.prune?.(now).catch((e: unknown) =>
          this.alert('recording sink prune failed', { sink: s.name, error: String(e) }),
        );
    }
    // Keep the two newest segments: recovery continues the gateway chain from them.
    while (this.spoolSegs.length > 2 && this.shipped.has(this.spoolSegs[0])) {
      const old = this.spoolSegs.shift()!;
      this.shipped.delete(old);
      void this.fs.unlink(join(this.o.spoolDir, old)).catch(() => undefined);
    }
  }

  private lastOpenAlert = 0;

  private refuse(): Promise<never> | null {
    if (this.healthy) return null;
    if (this.failOpen) {
      const now = Date.now();
      if (now - this.lastOpenAlert >= 10_000) {
        this.lastOpenAlert = now;
        this.alert('RECORDING UNHEALTHY: fail-open, statements are forwarded anyway', {
          spool_failed: this.writer?.failed ?? true,
          unshipped_bytes: this.writer ? this.unshippedBytes() : 0,
          bound: this.bound,
        });
      }
      return null;
    }
    return Promise.reject(
      new RecordingUnavailable(
        this.initError || this.writer?.failed
          ? 'session recording is unavailable'
          : this.closed
            ? 'recorder is closed'
            : 'recording backlog is over its bound',
      ),
    );
  }

  // ---- public API ----------------------------------------------------------------

  async openSession(info: SessionStartInfo): Promise<SessionRecording> {
    await this.ready;
    const r = this.refuse();
    if (r) return r;
    const id = info.sessionId ?? randomUUID();
    if (this.chains.has(id)) throw new Error(`session ${id} is already open`);
    const chain: Chain = {
      id,
      idJson: JSON.stringify(id),
      seq: 0,
      hash: GENESIS,
      dirty: false,
      closed: false,
    };
    this.chains.set(id, chain);
    const ident = identityFragment(info.identity);
    const rec = new Session(this, chain, ident);
    await this.push(
      chain,
      'session_start',
      ident +
        ',"client_addr":' +
        JSON.stringify(info.client_addr) +
        ',"application_name":' +
        JSON.stringify(info.application_name) +
        ',"database":' +
        JSON.stringify(info.database) +
        ',"target":' +
        JSON.stringify(info.target) +
        ',"tls":' +
        info.tls +
        ',"upstream_user":' +
        JSON.stringify(info.upstream_user ?? null) +
        ',"email":' +
        JSON.stringify(info.identity.email ?? null) +
        (info.pinned ? ',"pinned":' + JSON.stringify(info.pinned) : '') +
        (info.settings && Object.keys(info.settings).length
          ? ',"settings":' + JSON.stringify(info.settings)
          : '') +
        (info.default_read_only !== undefined
          ? ',"default_read_only":' + info.default_read_only
          : ''),
      true,
    );
    return rec;
  }

  async gatewayEvent(type: string, fields: Record<string, unknown>): Promise<void> {
    await this.ready;
    if (GATEWAY_INTERNAL.has(type)) throw new Error(`event type ${type} is reserved`);
    if (this.initError || this.closed) return this.refuse() ?? undefined;
    await this.push(this.gw, type, identityFromFields(fields) + fieldsFragment(fields, true), true);
  }

  /** @internal used by Session */
  append(
    chain: Chain,
    type: string,
    rest: string,
    wait: boolean,
    gate: boolean,
  ): Promise<void> | undefined {
    if (gate) {
      const r = this.refuse();
      if (r) return r;
    }
    return this.push(chain, type, rest, wait);
  }

  async close(): Promise<void> {
    await this.ready;
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    if (this.initError) {
      this.closed = true;
      this.lock?.release();
      return;
    }
    this.checkpoint(true);
    this.closed = true;
    const drained = await Promise.race([
      this.writer.drain().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref()),
    ]);
    if (!drained) {
      const n = this.writer.abandon();
      this.alert('recorder closed with unwritten events', { events: n });
    }
    await this.writer.close();
    this.onSealed(this.curSeg, this.writer.written);
    if (!(await this.shipper.settle(10_000)))
      this.alert('recorder closed before every segment was shipped; they stay in the spool', {
        backlog: this.shipper.backlog,
      });
    this.shipper.stop();
    for (const s of this.o.sinks ?? []) await s.close?.();
    this.lock?.release();
  }
}

class Session implements SessionRecording {
  constructor(
    private readonly r: SpoolRecorder,
    private readonly chain: Chain,
    private readonly ident: string,
  ) {}

  get sessionId(): string {
    return this.chain.id;
  }

  statement(ev: StatementEventInput): Promise<number> {
    const r = this.statements([ev]);
    return Array.isArray(r) ? Promise.resolve(r[0]) : r.then((seqs) => seqs[0]);
  }

  statements(evs: StatementEventInput[]): number[] | Promise<number[]> {
    if (this.chain.closed) return Promise.reject(new Error('session recording has ended'));
    const seqs: number[] = [];
    /** Seqs whose lines were queued (a refusal before queueing writes none). */
    const queued: number[] = [];
    let wait: Promise<void>[] | undefined;
    for (const ev of evs) {
      const { seq, p } = this.appendStatement(ev, true);
      seqs.push(this.chain.seq);
      if (seq !== undefined) queued.push(seq);
      if (p) (wait ??= []).push(p);
    }
    if (!wait) return seqs;
    return (wait.length === 1 ? wait[0] : Promise.all(wait)).then(
      () => seqs,
      (err: unknown) => {
        // The statements are refused (fail closed), but their lines stay queued and are
        // written once the spool recovers: each gets its outcome, so that no refused
        // statement reads as one that was forwarded and never answered.
        for (const seq of queued)
          this.result(seq, { outcome: 'refused', duration_ms: 0, sqlstate: '58030' });
        throw err;
      },
    );
  }

  refused(ev: StatementEventInput, o: StatementOutcome): void {
    if (this.chain.closed) return;
    const { seq, p } = this.appendStatement(ev, false);
    p?.catch(() => undefined);
    // Its outcome names its seq: none when the event was not queued (backlog full).
    if (seq !== undefined) this.result(seq, o);
  }

  /**
   * Append a statement's event; `writeAhead`: wait for it as the durability mode asks, and
   * refuse it while the spool cannot be written. `seq` is undefined when it was not queued.
   */
  private appendStatement(
    ev: StatementEventInput,
    writeAhead: boolean,
  ): { seq: number | undefined; p: Promise<void> | undefined } {
    const before = this.chain.seq;
    const p = this.r.append(
      this.chain,
      'statement',
      this.ident + statementFragment(ev),
      writeAhead,
      writeAhead,
    );
    return { seq: this.chain.seq !== before ? this.chain.seq : undefined, p };
  }

  result(seq: number, o: StatementOutcome): void {
    if (this.chain.closed) return;
    const p = this.r.append(
      this.chain,
      'statement_result',
      this.ident +
        ',"statement_seq":' +
        seq +
        ',"outcome":"' +
        o.outcome +
        '","duration_ms":' +
        o.duration_ms +
        ',"rows":' +
        (o.rows ?? 'null') +
        ',"command_tag":' +
        JSON.stringify(o.command_tag ?? null) +
        ',"sqlstate":' +
        JSON.stringify(o.sqlstate ?? null),
      false,
      false,
    );
    p?.catch(() => undefined);
  }

  event(type: string, fields: Record<string, unknown>): Promise<void> {
    if (GATEWAY_INTERNAL.has(type) || type.startsWith('session_') || type.startsWith('statement'))
      return Promise.reject(new Error(`event type ${type} is reserved`));
    if (this.chain.closed) return Promise.reject(new Error('session recording has ended'));
    return (
      this.r.append(this.chain, type, this.ident + fieldsFragment(fields, true), true, false) ??
      Promise.resolve()
    );
  }

  end(t: SessionTotals): Promise<void> {
    if (this.chain.closed) return Promise.resolve();
    const p = this.r.append(
      this.chain,
      'session_end',
      this.ident +
        ',"statements":' +
        t.statements +
        ',"allowed":' +
        t.allowed +
        ',"denied":' +
        t.denied +
        ',"held":' +
        t.held +
        ',"errors":' +
        t.errors +
        ',"rows":' +
        t.rows +
        ',"duration_ms":' +
        t.duration_ms +
        ',"reason":' +
        JSON.stringify(t.reason),
      true,
      false,
    );
    this.chain.closed = true;
    return p ?? Promise.resolve();
  }
}

/**
 * Create a recorder over a local spool. The returned object is usable at once; start-up
 * (spool scan, crash recovery) completes before the first session opens. Throws
 * `SpoolInUse` when another live process (or recorder) holds the spool.
 *
 * @example
 * const rec = createRecorder({ spoolDir: '.data/spool', sinks: [fileSink({ dir: 'rec' })],
 *   checkpoint: { signingKey: jwk, kid: 'rec-1' } });
 * const s = await rec.openSession({ identity, client_addr, application_name, database, target, tls });
 * const seq = await s.statement(ev); // durable before the statement is forwarded
 * s.result(seq, { outcome: 'ok', duration_ms: 1.2, rows: 1, command_tag: 'SELECT 1' });
 */
export function createRecorder(opts: RecorderOptions): Recorder {
  return new SpoolRecorder(opts);
}
