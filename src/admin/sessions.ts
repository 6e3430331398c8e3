// Admin routes over recordings: GET /sessions (filters) and GET /sessions/:id (timeline).
import { Hono } from 'hono';
import { summarize, timeline, type RecordingReader, type SessionFilter } from '../record/read.js';

const DECISIONS = new Set(['allow', 'deny', 'approval']);

function time(v: string | undefined): number | undefined | null {
  if (v === undefined || v === '') return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

/**
 * Mount with `app.route('/', sessionsRoutes(reader))`.
 * @example
 * GET /sessions?identity=alice&since=2026-11-22T00:00:00Z&decision=deny
 * GET /sessions/3f2a9c1e-...  → { session, timeline: [{ seq, ts, type, event, result? }] }
 */
export function sessionsRoutes(reader: RecordingReader): Hono {
  const app = new Hono();
  app.get('/sessions', async (c) => {
    const q = c.req.query();
    const since = time(q.since);
    const until = time(q.until);
    if (since === null || until === null)
      return c.json({ error: 'since and until take an ISO time or epoch milliseconds' }, 400);
    if (q.decision && !DECISIONS.has(q.decision))
      return c.json({ error: 'decision is one of allow, deny, approval' }, 400);
    const filter: SessionFilter = {
      identity: q.identity || undefined,
      since,
      until,
      decision: (q.decision || undefined) as SessionFilter['decision'],
    };
    const sessions = await reader.listSessions(filter);
    sessions.sort((a, b) =>
      a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0,
    );
    return c.json({ sessions });
  });
  app.get('/sessions/:id', async (c) => {
    const id = c.req.param('id');
    const found = await reader.session(id);
    if (!found) return c.json({ error: `no recording of session ${id}` }, 404);
    const session = { ...summarize(found.events)!, segments: found.segments };
    return c.json({ session, timeline: timeline(found.events) });
  });
  return app;
}
