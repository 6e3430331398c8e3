// Verification: hash chains, sequence continuity, signed checkpoints, torn and unsealed tails.
import { isUtf8 } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { GENESIS, checkLine, sha256hex, type RecordedEvent } from './event.js';
import { byInstance, dataEnd, splitLines, type SegmentName } from './segment.js';
import { verifyCheckpointSig, verifyKey } from './sign.js';
import type { SegmentSource, SigningKeyInput } from './types.js';

/** One finding, precise enough to open the file at the right byte. */
export interface Finding {
  segment: string;
  /** Byte offset of the line in the segment. */
  offset?: number;
  session_id?: string;
  seq?: number;
  reason: string;
}

export interface VerifyReport {
  /** No broken link (torn or unsealed tails are listed separately). */
  ok: boolean;
  /**
   * True when `ok` and every event is covered by a checkpoint of the run that wrote it (not
   * only by a later start's recovery record: see `recovered`).
   */
  sealed: boolean;
  segments: number;
  events: number;
  chains: number;
  checkpoints: number;
  signedCheckpoints: number;
  /** Broken links in file order; the first is the first broken link. */
  breaks: Finding[];
  /** Partially written last lines (a crash), with whether a later recovery recorded them. */
  torn: Array<Finding & { bytes: number; acknowledged: boolean }>;
  /** Chains whose last events no checkpoint covers: a live recording, a crash, or truncation. */
  unsealed: Array<Finding & { last_seq: number }>;
  /**
   * Events no checkpoint of the run that wrote them covers: that run stopped without one
   * after them (a crash), and the next start's recovery record listed them as it found them.
   * Their hashes link, but nothing signed them: whoever could write the spool before that
   * start could have rewritten them (with every hash recomputed), a whole run's worth if its
   * checkpoints were deleted too. A crash leaves about a second's worth.
   */
  recovered: Array<Finding & { last_seq: number; events: number }>;
  /**
   * Events the recorder dropped, as its recording_gap events say: its backlog of lines not
   * yet written passed its bound (the spool failing, or slower than the load).
   * They never entered a chain, so the chains still link: only these say what is missing.
   */
  gaps: Array<Finding & { dropped: number }>;
  warnings: string[];
}

export interface VerifyOptions {
  /** Public key (JWK or PEM; a private key works too) for checkpoint signatures. */
  publicKey?: SigningKeyInput;
  /** Treat unsigned checkpoints as broken links (default: when a key is given). */
  requireSignatures?: boolean;
  /**
   * The sources start after an instance's first segment on purpose (retention pruned
   * the oldest ones): report that as a warning instead of a broken link.
   */
  partial?: boolean;
}

interface ChainState {
  seq: number;
  hash: string;
  segment: string;
  covered: number;
  coveredIn: string;
}

/** Read every segment once, from the first source that lists it. */
export async function collectSegments(
  sources: SegmentSource[],
): Promise<Map<string, SegmentSource>> {
  const where = new Map<string, SegmentSource>();
  for (const s of sources)
    for (const name of await s.list()) if (!where.has(name)) where.set(name, s);
  return where;
}

/**
 * Check every chain in the given sources and name the first broken link.
 * @example
 * const r = await verifyRecording([fileSink({ dir })], { publicKey: jwk });
 * if (!r.ok) console.log(r.breaks[0]);
 */
export async function verifyRecording(
  sources: SegmentSource | SegmentSource[],
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const list = Array.isArray(sources) ? sources : [sources];
  const key: KeyObject | undefined = opts.publicKey ? verifyKey(opts.publicKey) : undefined;
  const requireSig = opts.requireSignatures ?? key !== undefined;
  const r: VerifyReport = {
    ok: true,
    sealed: true,
    segments: 0,
    events: 0,
    chains: 0,
    checkpoints: 0,
    signedCheckpoints: 0,
    breaks: [],
    torn: [],
    unsealed: [],
    recovered: [],
    gaps: [],
    warnings: [],
  };
  const where = await collectSegments(list);
  for (const name of where.keys())
    if (!/^\d{8}T\d{9}Z-/.test(name)) r.warnings.push(`ignored ${name}: not a segment name`);
  await compareCopies(list, r);
  const chains = new Map<string, ChainState>();
  for (const [instance, segs] of byInstance([...where.keys()])) {
    await verifyInstance(instance, segs, where, chains, r, key, requireSig, opts.partial === true);
  }
  for (const [id, st] of chains) {
    if (st.covered < st.seq)
      r.unsealed.push({
        segment: st.segment,
        session_id: id,
        seq: st.covered,
        last_seq: st.seq,
        reason:
          (st.covered > 0
            ? `torn tail after seq ${st.covered} in segment ${st.coveredIn || st.segment}: `
            : `no checkpoint covers this chain: `) +
          `seq ${st.covered + 1}..${st.seq} (through segment ${st.segment}) not covered by a checkpoint`,
      });
  }
  r.chains = chains.size;
  r.ok = r.breaks.length === 0;
  // No event read is no proof of anything (segments emptied, or filled with zeros).
  r.sealed =
    r.ok &&
    r.events > 0 &&
    r.unsealed.length === 0 &&
    r.recovered.length === 0 &&
    r.gaps.length === 0 &&
    r.torn.every((t) => t.acknowledged);
  if (!key && r.checkpoints)
    r.warnings.push('checkpoint signatures not checked: no public key given');
  return r;
}

/**
 * A segment held by several sources (a sink and the spool, two sinks) must be the same
 * bytes in each: the chains are checked in one copy only, so a copy that differs is a
 * broken link by itself.
 */
async function compareCopies(sources: SegmentSource[], r: VerifyReport): Promise<void> {
  const holders = new Map<string, SegmentSource[]>();
  for (const s of sources)
    for (const name of await s.list()) holders.set(name, [...(holders.get(name) ?? []), s]);
  for (const [name, hs] of holders) {
    if (hs.length < 2) continue;
    let first: Buffer | undefined;
    for (const h of hs) {
      const b = Buffer.from(await h.read(name));
      const data = b.subarray(0, dataEnd(b));
      if (!first) first = data;
      else if (!first.equals(data)) {
        brk(r, {
          segment: name,
          reason: `the sources hold different copies of segment ${name} (${first.length} and ${data.length} bytes): one was altered`,
        });
        break;
      }
    }
  }
}

async function verifyInstance(
  instance: string,
  segs: SegmentName[],
  where: Map<string, SegmentSource>,
  chains: Map<string, ChainState>,
  r: VerifyReport,
  key: KeyObject | undefined,
  requireSig: boolean,
  partial: boolean,
): Promise<void> {
  const gwId = 'gateway:' + instance;
  // A spool or a pruned sink may start after segment 1: chains first seen there may start mid-way.
  const partialStart = segs[0].n > 1;
  if (partialStart && partial)
    r.warnings.push(
      `instance ${instance}: recording starts at segment ${segs[0].name} (earlier ones absent)`,
    );
  else if (partialStart)
    brk(r, {
      segment: segs[0].name,
      reason: `segments 1..${segs[0].n - 1} of instance ${instance} are missing before ${segs[0].name} (pass partial / --partial if retention removed them)`,
    });
  let prev: SegmentName | undefined;
  /** Whether the gateway chain's latest event is a final checkpoint (a clean stop). */
  let clean: boolean | undefined;
  /** Session chains with events since the last checkpoint or recovery: it must list each. */
  const moved = new Set<string>();
  let lastGw: Finding | undefined;
  const tornPending: VerifyReport['torn'] = [];
  for (const seg of segs) {
    r.segments++;
    if (prev && seg.n !== prev.n + 1)
      brk(r, {
        segment: seg.name,
        reason: `segment ${prev.n + 1} of instance ${instance} is missing (between ${prev.name} and ${seg.name})`,
      });
    const bytes = await where.get(seg.name)!.read(seg.name);
    const split = splitLines(bytes);
    const mayStartMidway = partialStart && seg === segs[0];
    let last: { session_id: string; seq: number } | undefined;
    /** Whether a line of this segment was read (its first must be its segment_start). */
    let begun = false;
    /**
     * In the first segment of a partial recording: its segment_start said where each open
     * session chain stood (they go on from there), so every other chain starts in it. Not
     * for segments written before segment_start listed them (chains may start mid-way).
     */
    let anchored = false;
    for (const { text, offset, length } of split.lines) {
      const at = { segment: seg.name, offset };
      // Hashes cover the line's text: bytes that are not UTF-8 would read as U+FFFD, the
      // same text as other bytes, so such an edit would go unseen.
      if (!isUtf8(bytes.subarray(offset, offset + length))) {
        brk(r, { ...at, reason: 'line is not valid UTF-8 (its bytes were changed)' });
        continue;
      }
      const c = checkLine(text);
      if (!c.ok) {
        brk(r, { ...at, session_id: c.event?.session_id, seq: c.event?.seq, reason: c.reason });
        // Keep following the chain from the recorded hash, so one edit is one finding.
        if (c.event && typeof c.event.session_id === 'string' && typeof c.event.seq === 'number') {
          const st = chains.get(c.event.session_id);
          if (st && typeof c.event.hash === 'string') {
            st.seq = c.event.seq;
            st.hash = c.event.hash;
            st.segment = seg.name;
          }
        }
        continue;
      }
      const ev = c.event;
      r.events++;
      last = { session_id: ev.session_id, seq: ev.seq };
      if (!begun) {
        begun = true;
        if (!(ev.session_id === gwId && ev.type === 'segment_start'))
          brk(r, {
            ...at,
            session_id: ev.session_id,
            seq: ev.seq,
            reason:
              'the segment does not begin with its segment_start (lines deleted from its head)',
          });
      }
      if (ev.session_id === gwId && ev.type === 'segment_start' && isHeads(ev.heads)) {
        const heads = Object.entries(ev.heads);
        if (mayStartMidway) {
          anchored = true;
          for (const [id, [seq, hash]] of heads)
            if (!chains.has(id))
              chains.set(id, { seq, hash, segment: seg.name, covered: seq, coveredIn: '' });
        } else
          for (const [id, [seq, hash]] of heads) {
            const st = chains.get(id);
            if (!st || st.seq !== seq || st.hash !== hash)
              brk(r, {
                ...at,
                session_id: ev.session_id,
                seq: ev.seq,
                reason: `segment_start lists ${id} at seq ${seq}, but its chain stands at ${st ? `seq ${st.seq}` : 'no event'} (events deleted or changed)`,
              });
          }
      }
      // A run ends with its final checkpoint; the next line must be the next run's start.
      if (clean === true && !(ev.session_id === gwId && ev.type === 'segment_start'))
        brk(r, {
          ...at,
          session_id: ev.session_id,
          seq: ev.seq,
          reason: 'event after the final checkpoint of its run (appended)',
        });
      if (ev.session_id !== gwId) {
        if (ev.session_id.startsWith('gateway:'))
          brk(r, {
            ...at,
            session_id: ev.session_id,
            seq: ev.seq,
            reason: `an event of ${ev.session_id} in a segment of instance ${instance} (spliced)`,
          });
        else moved.add(ev.session_id);
      }
      const st = chains.get(ev.session_id);
      if (!st) {
        // A chain may start mid-way only where nothing says where it stood: the gateway
        // chain of a partial recording, or a segment from before segment_start listed heads.
        const midway = mayStartMidway && (ev.session_id === gwId || !anchored);
        if (ev.seq !== 1 || ev.prev_hash !== GENESIS) {
          if (!midway)
            brk(r, {
              ...at,
              session_id: ev.session_id,
              seq: ev.seq,
              reason: `chain starts at seq ${ev.seq}: events 1..${ev.seq - 1} are missing`,
            });
        }
        chains.set(ev.session_id, {
          seq: ev.seq,
          hash: ev.hash,
          segment: seg.name,
          covered: midway ? ev.seq - 1 : 0,
          coveredIn: '',
        });
      } else {
        if (ev.seq !== st.seq + 1) {
          brk(r, {
            ...at,
            session_id: ev.session_id,
            seq: ev.seq,
            reason:
              ev.seq <= st.seq
                ? `out of order: seq ${ev.seq} after seq ${st.seq} (events reordered or duplicated)`
                : `expected seq ${st.seq + 1}, found seq ${ev.seq}: events ${st.seq + 1}..${ev.seq - 1} deleted`,
          });
        } else if (ev.prev_hash !== st.hash) {
          brk(r, {
            ...at,
            session_id: ev.session_id,
            seq: ev.seq,
            reason: `prev_hash does not match the hash of seq ${st.seq}`,
          });
        }
        st.seq = ev.seq;
        st.hash = ev.hash;
        st.segment = seg.name;
      }
      if (ev.session_id !== gwId) continue;
      if (ev.type === 'segment_start' && ev.reason === 'start' && clean === false)
        brk(r, {
          ...at,
          session_id: ev.session_id,
          seq: ev.seq,
          reason: `the previous run ends without its final checkpoint (after seq ${ev.seq - 1}), but this run recorded no recovery: tail truncated`,
        });
      if (ev.type === 'segment_start' && ev.reason === 'recover') {
        // The gateway chain goes on across runs: the previous run's events after its last
        // checkpoint are covered by this run's checkpoints, though that run never signed them.
        const gw = chains.get(gwId)!;
        if (gw.covered < ev.seq - 1) recovered(r, gw, gwId, gw.covered + 1, ev.seq - 1, at.segment);
        // Stopped at its last checkpoint, it left nothing unsigned, yet it ended without its
        // final one: a crash there reads the same as a tail cut back to a checkpoint while
        // the gateway was stopped (every later event and checkpoint deleted). Never sealed.
        else
          r.recovered.push({
            segment: at.segment,
            session_id: gwId,
            seq: ev.seq,
            last_seq: ev.seq - 1,
            events: 0,
            reason: `the run before segment ${at.segment} ended without its final checkpoint, right after a checkpoint (a crash there, or its tail cut back to that checkpoint while the gateway was stopped): nothing it recorded after that checkpoint is attested`,
          });
      }
      if (ev.type === 'recording_gap') {
        const dropped = Number(ev.dropped_events);
        r.gaps.push({
          ...at,
          session_id: ev.session_id,
          seq: ev.seq,
          dropped,
          reason: `${dropped} events were dropped before ${ev.ts}: the recorder's backlog of lines not yet written passed its bound, so the chains they belonged to lack them (statements, their outcomes, session ends)`,
        });
      }
      clean = ev.type === 'checkpoint' && ev.final === true;
      lastGw = { segment: seg.name, session_id: ev.session_id, seq: ev.seq, reason: '' };
      if (ev.type === 'segment_start') {
        if (ev.segment !== seg.name)
          brk(r, {
            ...at,
            session_id: ev.session_id,
            seq: ev.seq,
            reason: `segment_start names ${String(ev.segment)}: segment renamed`,
          });
        if (prev && ev.prev_segment !== prev.name)
          brk(r, {
            ...at,
            session_id: ev.session_id,
            seq: ev.seq,
            reason: `segment_start follows ${String(ev.prev_segment)}, not ${prev.name}`,
          });
      } else if (ev.type === 'checkpoint') {
        await checkCheckpoint(ev, c.signedPrefix, at, chains, r, key, requireSig, moved);
      } else if (ev.type === 'recovery') {
        listsMoved(ev, at, moved, r, 'recovery');
        const torn = ev.torn as { segment: string; offset: number } | null;
        if (torn)
          for (const t of [...r.torn, ...tornPending])
            if (t.segment === torn.segment && t.offset === torn.offset) t.acknowledged = true;
        cover(ev, at, chains, r, 'recovery', false);
      }
    }
    if (split.torn) {
      const after = last ? `after seq ${last.seq} of ${last.session_id}` : 'at the start';
      tornPending.push({
        segment: seg.name,
        offset: split.torn.offset,
        bytes: split.torn.bytes,
        session_id: last?.session_id,
        seq: last?.seq,
        acknowledged: false,
        reason: `torn tail ${after} in segment ${seg.name}: ${split.torn.bytes} bytes at offset ${split.torn.offset}`,
      });
    }
    for (const t of tornPending.splice(0)) r.torn.push(t);
    prev = seg;
  }
  const gw = chains.get(gwId);
  if (clean === false && lastGw && gw) {
    // Everything may be covered by a checkpoint and still be a prefix: only a final
    // checkpoint says the recording ended here.
    if (gw.covered >= gw.seq) gw.covered = gw.seq - 1;
    gw.coveredIn = lastGw.segment;
  }
  // A torn line is what a crash leaves at the end of a run; anywhere else without a
  // recovery record naming it, the bytes after it were appended by someone else.
  for (const t of r.torn)
    if (!t.acknowledged && t.segment !== prev?.name && t.segment.includes(`-${instance}-`))
      brk(r, {
        segment: t.segment,
        offset: t.offset,
        reason: `${t.reason}, not at the end of the recording and not recorded by a recovery`,
      });
}

function brk(r: VerifyReport, f: Finding): void {
  r.breaks.push(f);
}

/** Events `from..to` of a chain were never covered by their own run (see `recovered`). */
function recovered(
  r: VerifyReport,
  st: ChainState,
  id: string,
  from: number,
  to: number,
  recoveredIn: string,
): void {
  r.recovered.push({
    segment: st.segment,
    session_id: id,
    seq: from,
    last_seq: to,
    events: to - from + 1,
    reason: `seq ${from}..${to} (${to - from + 1} events, through segment ${st.segment}) were never signed: the run that wrote them stopped without a checkpoint after them, and the next start recorded them as found (recovery in ${recoveredIn})`,
  });
}

/** Checkpoint and recovery heads must equal the chain state at that point of the file. */
function cover(
  ev: RecordedEvent,
  at: { segment: string; offset: number },
  chains: Map<string, ChainState>,
  r: VerifyReport,
  what: string,
  coversSelf: boolean,
): void {
  const heads = (ev.heads ?? {}) as Record<string, [number, string]>;
  for (const [id, [seq, hash]] of Object.entries(heads)) {
    const st = chains.get(id);
    const where = { ...at, session_id: id, seq };
    if (!st)
      brk(r, {
        ...where,
        reason: `${what} seq ${ev.seq} covers ${id} seq ${seq}, but no event of that chain precedes it (deleted)`,
      });
    else if (st.seq < seq)
      brk(r, {
        ...where,
        reason: `${what} seq ${ev.seq} covers seq ${seq}, but the chain ends at seq ${st.seq} before it (events deleted)`,
      });
    else if (st.seq > seq)
      brk(r, {
        ...where,
        reason: `${what} seq ${ev.seq} covers seq ${seq}, but seq ${st.seq} precedes it (events reordered)`,
      });
    else if (st.hash !== hash)
      brk(r, {
        ...where,
        reason: `${what} seq ${ev.seq} records a different hash for seq ${seq} (event replaced)`,
      });
    else {
      if (what === 'recovery' && st.covered < seq)
        recovered(r, st, id, st.covered + 1, seq, at.segment);
      st.covered = seq;
      st.coveredIn = st.segment;
    }
  }
  const gw = chains.get(ev.session_id);
  if (gw && coversSelf) {
    gw.covered = ev.seq;
    gw.coveredIn = at.segment;
  }
}

/** A checkpoint (or recovery) lists every chain that moved since the previous one. */
function listsMoved(
  ev: RecordedEvent,
  at: { segment: string; offset: number },
  moved: Set<string>,
  r: VerifyReport,
  what: string,
): void {
  const heads = (ev.heads ?? {}) as Record<string, unknown>;
  for (const id of moved)
    if (!(id in heads))
      brk(r, {
        ...at,
        session_id: id,
        reason: `${what} seq ${ev.seq} does not list ${id}, whose events precede it since the previous ${what}: events inserted`,
      });
  moved.clear();
}

async function checkCheckpoint(
  ev: RecordedEvent,
  signedPrefix: string | undefined,
  at: { segment: string; offset: number },
  chains: Map<string, ChainState>,
  r: VerifyReport,
  key: KeyObject | undefined,
  requireSig: boolean,
  moved: Set<string>,
): Promise<void> {
  r.checkpoints++;
  const where = { ...at, session_id: ev.session_id, seq: ev.seq };
  if (ev.segment !== at.segment)
    brk(r, { ...where, reason: `checkpoint names segment ${String(ev.segment)}: segment renamed` });
  let trusted = !requireSig;
  if (typeof ev.sig === 'string' && signedPrefix !== undefined) {
    if (key) {
      try {
        const payload = await verifyCheckpointSig(ev.sig, key);
        if (payload !== sha256hex(signedPrefix))
          brk(r, { ...where, reason: 'checkpoint signature is valid but signs other content' });
        else {
          r.signedCheckpoints++;
          trusted = true;
        }
      } catch (e) {
        brk(r, { ...where, reason: `checkpoint signature invalid: ${(e as Error).message}` });
      }
    }
  } else if (requireSig) brk(r, { ...where, reason: 'checkpoint is not signed' });
  if (!trusted) return;
  listsMoved(ev, at, moved, r, 'checkpoint');
  cover(ev, at, chains, r, 'checkpoint', true);
}

/** A segment_start's `heads`: chain id -> [seq, hash]. */
function isHeads(v: unknown): v is Record<string, [number, string]> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every(
    (h) =>
      Array.isArray(h) && h.length === 2 && Number.isSafeInteger(h[0]) && typeof h[1] === 'string',
  );
}
