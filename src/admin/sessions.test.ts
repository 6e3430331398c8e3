// Admin session routes, in-process over a real recording.
import { beforeAll, describe, expect, it } from 'vitest';
import { createReader } from '../record/read.js';
import { createRecorder } from '../record/recorder.js';
import { dirSource } from '../record/sinks/file.js';
import { alice, startInfo, stmt, tempDir } from '../record/testkit.js';
import { sessionsRoutes } from './sessions.js';

let app: ReturnType<typeof sessionsRoutes>;
const t0 = Date.parse('2026-11-22T03:00:00Z');
let now = t0;

beforeAll(async () => {
  const dir = await tempDir('admin');
  const rec = createRecorder({ spoolDir: dir, clock: () => now });
  const a = await rec.openSession(startInfo({ sessionId: 'sa' }));
  const q = await a.statement(stmt('SELECT 1'));
  a.result(q, { outcome: 'ok', duration_ms: 2, rows: 1, command_tag: 'SELECT 1' });
  await a.end({
    statements: 1,
    allowed: 1,
    denied: 0,
    held: 0,
    errors: 0,
    rows: 1,
    duration_ms: 2,
    reason: 'client_terminate',
  });
  now = t0 + 3_600_000;
  const b = await rec.openSession(
    startInfo({
      sessionId: 'sb',
      identity: { ...alice, sub: 'carol', agent: undefined, on_behalf_of: undefined },
    }),
  );
  await b.statement(
    stmt('DELETE FROM orders', { decision: { kind: 'deny', reasons: ['no deletes'] } }),
  );
  await rec.close();
  app = sessionsRoutes(createReader([dirSource(dir)]));
});

describe('admin /sessions', () => {
  it('lists sessions, newest first', async () => {
    const res = await app.request('/sessions');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.sessions.map((s: { session_id: string }) => s.session_id)).toEqual(['sb', 'sa']);
    expect(body.sessions[1]).toMatchObject({
      sub: 'alice',
      statements: 1,
      end_reason: 'client_terminate',
    });
  });

  it('filters by identity, decision and time', async () => {
    const ids = async (q: string) =>
      (
        (await (await app.request('/sessions?' + q)).json()).sessions as { session_id: string }[]
      ).map((s) => s.session_id);
    expect(await ids('identity=alice')).toEqual(['sa']);
    expect(await ids('identity=report-bot')).toEqual(['sa']);
    expect(await ids('decision=deny')).toEqual(['sb']);
    expect(await ids('since=2026-11-22T03:30:00Z')).toEqual(['sb']);
    expect(await ids('until=2026-11-22T03:30:00Z')).toEqual(['sa']);
    expect((await app.request('/sessions?decision=maybe')).status).toBe(400);
    expect((await app.request('/sessions?since=yesterday')).status).toBe(400);
  });

  it('returns one session with statements joined to their results', async () => {
    const res = await app.request('/sessions/sa');
    const body = await res.json();
    expect(body.session).toMatchObject({ session_id: 'sa', statements: 1 });
    // The segments that hold it, as the list names them.
    const listed = (await (await app.request('/sessions')).json()) as {
      sessions: { session_id: string; segments: string[] }[];
    };
    const segments = listed.sessions.find((x) => x.session_id === 'sa')!.segments;
    expect(segments.length).toBeGreaterThan(0);
    expect(body.session.segments).toEqual(segments);
    const st = body.timeline.find((e: { type: string }) => e.type === 'statement');
    expect(st.event.sql).toBe('SELECT 1');
    expect(st.result).toMatchObject({ rows: 1, duration_ms: 2, outcome: 'ok' });
    expect((await app.request('/sessions/nope')).status).toBe(404);
  });
});
