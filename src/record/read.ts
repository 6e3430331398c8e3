// Reading recordings: list sessions, read one session's events, join statements with results.
import { isEvent, type RecordedEvent } from './event.js';
import { byInstance, splitLines } from './segment.js';
import type { SegmentSource } from './types.js';
import { collectSegments } from './verify.js';

export interface SessionSummary {
  session_id: string;
  sub: string | null;
  auth_method: string | null;
  groups: string[];
  agent: string | null;
  on_behalf_of: string | null;
  client_addr: string | null;
  application_name: string | null;
  database: string | null;
  target: string | null;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
  statements: number;
  decisions: { allow: number; deny: number; approval: number };
  segments: string[];
}

/** A statement joined with its `statement_result` (matched by statement_seq), or another event. */
export interface TimelineEntry {
  seq: number;
  ts: string;
  type: string;
  event: RecordedEvent;
  result?: RecordedEvent;
}

export interface SessionFilter {
  /** Matches sub, agent or on_behalf_of. */
  identity?: string;
  /** ISO time or epoch ms: sessions active at or after it. */
  since?: string | number;
  until?: string | number;
  /** Sessions with at least one statement decided this way. */
  decision?: 'allow' | 'deny' | 'approval';
}

export interface RecordingReader {
  listSessions(filter?: SessionFilter): Promise<SessionSummary[]>;
  /** Events of one session in seq order, or undefined when no source holds it. */
  sessionEvents(id: string): Promise<RecordedEvent[] | undefined>;
  /** The same, with the names of the segments that hold them. */
  session(id: string): Promise<{ events: RecordedEvent[]; segments: string[] } | undefined>;
  /** Every event of every chain, in segment order (for `policy replay`). */
  allEvents(filter?: { since?: string | number }): Promise<RecordedEvent[]>;
}

function newSummary(ev: RecordedEvent): SessionSummary {
  return {
    session_id: ev.session_id,
    sub: ev.sub,
    auth_method: ev.auth_method,
    // A list whatever the line says (an edited one, which verify names, may hold anything).
    groups: Array.isArray(ev.groups) ? ev.groups.map(String) : [],
    agent: ev.agent,
    on_behalf_of: ev.on_behalf_of,
    client_addr: null,
    application_name: null,
    database: null,
    target: null,
    started_at: ev.ts,
    ended_at: null,
    end_reason: null,
    statements: 0,
    decisions: { allow: 0, deny: 0, approval: 0 },
    segments: [],
  };
}

function addToSummary(s: SessionSummary, ev: RecordedEvent, segment?: string): void {
  if (segment && s.segments.at(-1) !== segment) s.segments.push(segment);
  if (ev.type === 'session_start') {
    s.client_addr = ev.client_addr as string;
    s.application_name = ev.application_name as string;
    s.database = ev.database as string;
    s.target = ev.target as string;
    s.started_at = ev.ts;
  } else if (ev.type === 'statement') {
    s.statements++;
    const k = ev.decision as keyof SessionSummary['decisions'];
    if (k in s.decisions) s.decisions[k]++;
  } else if (ev.type === 'session_end') {
    s.ended_at = ev.ts;
    s.end_reason = ev.reason as string;
  }
}

/** Summary of one session from its events (segments left empty). */
export function summarize(events: RecordedEvent[]): SessionSummary | undefined {
  if (!events.length) return undefined;
  const s = newSummary(events[0]);
  for (const ev of events) addToSummary(s, ev);
  return s;
}

const toMs = (t: string | number) => (typeof t === 'number' ? t : Date.parse(t));

/** Join statements with their results; other events stay as they are. */
export function timeline(events: RecordedEvent[]): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  const bySeq = new Map<number, TimelineEntry>();
  for (const ev of events) {
    if (ev.type === 'statement_result') {
      const st = bySeq.get(ev.statement_seq as number);
      if (st) {
        st.result = ev;
        continue;
      }
    }
    const e: TimelineEntry = { seq: ev.seq, ts: ev.ts, type: ev.type, event: ev };
    if (ev.type === 'statement') bySeq.set(ev.seq, e);
    out.push(e);
  }
  return out;
}

function parseEvents(bytes: Uint8Array): RecordedEvent[] {
  const out: RecordedEvent[] = [];
  for (const { text } of splitLines(bytes).lines) {
    // What is not an event (verify reports it) is skipped.
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      continue;
    }
    if (isEvent(v)) out.push(v);
  }
  return out;
}

/** One segment's share of each session's summary. */
function summarizeSegment(name: string, events: RecordedEvent[]): Map<string, SessionSummary> {
  const map = new Map<string, SessionSummary>();
  for (const ev of events) {
    if (ev.session_id.startsWith('gateway:')) continue;
    let s = map.get(ev.session_id);
    if (!s) map.set(ev.session_id, (s = newSummary(ev)));
    addToSummary(s, ev, name);
  }
  return map;
}

/** Add a later segment's share of a session to what the earlier ones gave. */
function mergeSummary(into: SessionSummary, part: SessionSummary): void {
  into.client_addr ??= part.client_addr;
  into.application_name ??= part.application_name;
  into.database ??= part.database;
  into.target ??= part.target;
  if (part.ended_at !== null) {
    into.ended_at = part.ended_at;
    into.end_reason = part.end_reason;
  }
  into.statements += part.statements;
  into.decisions.allow += part.decisions.allow;
  into.decisions.deny += part.decisions.deny;
  into.decisions.approval += part.decisions.approval;
  for (const s of part.segments) if (into.segments.at(-1) !== s) into.segments.push(s);
}

/** Let the event loop run between segments: the reader shares the gateway's process. */
const breathe = () => new Promise<void>((r) => setImmediate(r));

/**
 * A reader over sinks and/or the spool. Of a sealed segment only its sessions' summaries
 * are kept (not its events, which would hold the whole recording in memory); the newest
 * segment of each instance (possibly still being written) is read every time, and one
 * session's events are read from the segments that hold it.
 * @example
 * const reader = createReader([fileSink({ dir }), dirSource(spoolDir)]);
 * const sessions = await reader.listSessions({ identity: 'alice', decision: 'deny' });
 */
export function createReader(sources: SegmentSource[]): RecordingReader {
  const summaries = new Map<string, Map<string, SessionSummary>>();

  /**
   * Every segment, with whether it is sealed (not its instance's newest): in time order
   * across instances, and in each instance's own segment order even where its clock stepped
   * back at a rotation (a segment's time is the latest of its instance's up to it).
   */
  async function segments() {
    const where = await collectSegments(sources);
    const out: Array<{
      name: string;
      key: string;
      sealed: boolean;
      read: () => Promise<RecordedEvent[]>;
    }> = [];
    for (const segs of byInstance([...where.keys()]).values()) {
      let latest = '';
      segs.forEach(({ name, time }, i) => {
        if (time > latest) latest = time;
        out.push({
          name,
          key: `${latest}-${name.slice(time.length)}`,
          sealed: i < segs.length - 1,
          read: async () => parseEvents(await where.get(name)!.read(name)),
        });
      });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async function session(
    id: string,
  ): Promise<{ events: RecordedEvent[]; segments: string[] } | undefined> {
    const events: RecordedEvent[] = [];
    const holding: string[] = [];
    for (const seg of await segments()) {
      // A sealed segment already summarised is read only when it holds the session.
      const parts = summaries.get(seg.name);
      if (parts && !id.startsWith('gateway:') && !parts.has(id)) continue;
      const before = events.length;
      for (const ev of await seg.read()) if (ev.session_id === id) events.push(ev);
      if (events.length > before) holding.push(seg.name);
      await breathe();
    }
    if (!events.length) return undefined;
    return { events: events.sort((a, b) => a.seq - b.seq), segments: holding };
  }

  return {
    async listSessions(f: SessionFilter = {}): Promise<SessionSummary[]> {
      const map = new Map<string, SessionSummary>();
      for (const seg of await segments()) {
        let parts = summaries.get(seg.name);
        if (!parts) {
          parts = summarizeSegment(seg.name, await seg.read());
          if (seg.sealed) summaries.set(seg.name, parts);
          await breathe();
        }
        for (const [id, part] of parts) {
          const s = map.get(id);
          if (s) mergeSummary(s, part);
          else
            map.set(id, {
              ...part,
              decisions: { ...part.decisions },
              segments: [...part.segments],
            });
        }
      }
      const since = f.since !== undefined ? toMs(f.since) : -Infinity;
      const until = f.until !== undefined ? toMs(f.until) : Infinity;
      return [...map.values()].filter(
        (s) =>
          (!f.identity ||
            s.sub === f.identity ||
            s.agent === f.identity ||
            s.on_behalf_of === f.identity) &&
          (!f.decision || s.decisions[f.decision] > 0) &&
          Date.parse(s.started_at) <= until &&
          (s.ended_at === null || Date.parse(s.ended_at) >= since),
      );
    },

    async sessionEvents(id: string): Promise<RecordedEvent[] | undefined> {
      return (await session(id))?.events;
    },

    session,

    async allEvents(f: { since?: string | number } = {}): Promise<RecordedEvent[]> {
      const since = f.since !== undefined ? toMs(f.since) : -Infinity;
      const out: RecordedEvent[] = [];
      for (const seg of await segments())
        for (const ev of await seg.read()) if (Date.parse(ev.ts) >= since) out.push(ev);
      return out;
    },
  };
}
