// Admin API: health, readiness through shutdown, Prometheus metrics after real statements,
// POST /explain against the project's policy; in-process with app.request(), and once over
// the real listener.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Hono } from 'hono';
import { mountRoutes } from '../runtime/admin-routes.js';
import type { GatewayConfig } from '../config/index.js';
import {
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from '../../test/helpers/gateway.js';
import { adminApp } from './app.js';

const DB = 'admin_api';
const CONFIG: Partial<GatewayConfig> = {
  policy: { files: ['policies.rego'] },
  recording: { enabled: false },
};
let g: TestGateway;
let app: Hono;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE orders (id int PRIMARY KEY, total int);');
  g = await startTestGateway(DB, CONFIG, {
    mountAdmin: (a, gw) => {
      app = a;
      mountRoutes(a, gw, CONFIG as GatewayConfig, process.cwd());
    },
  });
});
afterAll(async () => g?.stop());

async function client(groups = ['agents']): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: g.port,
    user: 'agent-1',
    database: DB,
    password: await g.token('agent-1', groups),
  });
  // The gateway ends idle sessions at shutdown; that is expected here.
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('adminApp alone', () => {
  it('answers /healthz, and /readyz follows ready()', async () => {
    let ready = false;
    const a = adminApp({ ready: () => ready, metrics: () => '' });
    expect(await (await a.request('/healthz')).json()).toEqual({ status: 'ok' });
    const notReady = await a.request('/readyz');
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready' });
    ready = true;
    expect((await a.request('/readyz')).status).toBe(200);
    expect((await a.request('/nope')).status).toBe(404);
  });
});

describe('admin API of a running gateway', () => {
  it('serves /healthz and /readyz in-process', async () => {
    expect((await app.request('/healthz')).status).toBe(200);
    const r = await app.request('/readyz');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ready' });
  });

  it('counts statements by decision in /metrics after real statements', async () => {
    const before = await (await app.request('/metrics')).text();
    const c = await client();
    await c.query('SELECT * FROM orders');
    await c.query('SELECT count(*) FROM orders WHERE id = $1', [1]);
    await expect(c.query('DELETE FROM orders')).rejects.toMatchObject({ code: '42501' });
    await expect(c.query('SELECT * FROM pg_authid')).rejects.toMatchObject({ code: '42501' });
    await expect(c.query('DROP TABLE orders')).rejects.toMatchObject({ code: '42501' });
    await c.end();
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE portcullis_statements_total counter');
    const by = (kind: string) =>
      metric(text, 'portcullis_statements_total', `{decision="${kind}"}`) -
      metric(before, 'portcullis_statements_total', `{decision="${kind}"}`);
    expect(by('allow')).toBeGreaterThanOrEqual(2);
    expect(by('deny')).toBe(3);
    expect(text).toMatch(/^portcullis_decision_seconds_count \d+$/m);
    expect(text).toMatch(/^portcullis_client_connections_total/m);
    // Every sample line is `name{labels} number` (Prometheus text format).
    for (const l of text.split('\n').filter((x) => x && !x.startsWith('#')))
      expect(l).toMatch(/^[a-z_]+(\{[^}]*\})? -?[\d.e+-]+$/);
  });

  it('counts failed logins and returns the connection gauges to zero when clients leave', async () => {
    const scrape = async () => (await app.request('/metrics')).text();
    const failures = metric(await scrape(), 'portcullis_auth_failures_total', '');
    const bad = new pg.Client({
      host: '127.0.0.1',
      port: g.port,
      user: 'agent-1',
      database: DB,
      password: 'not-a-token',
    });
    await expect(bad.connect()).rejects.toMatchObject({ code: '28P01' });
    const text = await scrape();
    const after = text
      .split('\n')
      .filter((l) => l.startsWith('portcullis_auth_failures_total'))
      .reduce((n, l) => n + Number(l.split(' ')[1]), 0);
    expect(after).toBeGreaterThan(failures);
    const idle = async () => {
      const deadline = Date.now() + 30_000;
      while (metric(await scrape(), 'portcullis_client_connections', '') !== 0) {
        if (Date.now() > deadline) throw new Error('client_connections never returned to 0');
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await idle(); // clients of earlier tests may still be closing
    const c = await client();
    await c.query('SELECT 1');
    expect(metric(await scrape(), 'portcullis_client_connections', '')).toBe(1);
    expect(metric(await scrape(), 'portcullis_upstream_connections', '')).toBe(1);
    await c.end();
    await idle();
    expect(metric(await scrape(), 'portcullis_upstream_connections', '')).toBe(0);
  });

  it('POST /explain gives the decision and the rule values for a SQL string', async () => {
    const post = (body: unknown) =>
      app.request('/explain', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const read = await post({ sql: 'SELECT * FROM orders' });
    expect(read.status).toBe(200);
    const [r] = (await read.json()) as {
      statement: string;
      decision: { kind: string };
      rules: Record<string, unknown>;
      policy_version: string;
    }[];
    expect(r.statement).toBe('SELECT * FROM orders');
    expect(r.decision.kind).toBe('allow');
    expect(r.rules.allow).toBe(true);
    expect(r.rules.deny).toEqual([]);
    expect(r.policy_version).toBe(g.gw.snapshot.policy.version);

    const del = await post({
      sql: 'DELETE FROM orders',
      identity: { sub: 'etl', groups: ['writers'] },
    });
    const [d] = (await del.json()) as {
      decision: { kind: string };
      rules: Record<string, unknown>;
    }[];
    expect(d.decision.kind).toBe('approval');
    expect(d.rules.approval).toMatchObject({ reason: 'DELETE without WHERE' });
    expect(d.rules.hint).toMatch(/^add a WHERE clause that names the rows/);

    const denied = await post({ sql: 'SELECT 1; DROP TABLE orders' });
    const both = (await denied.json()) as { decision: { kind: string; reasons: string[] } }[];
    expect(both.map((x) => x.decision.kind)).toEqual(['allow', 'deny']);
    expect(both[1].decision.reasons).toContain('agents may not change the schema (DDL)');

    const parseErr = await post({ sql: 'SELEC 1' });
    expect(parseErr.status).toBe(200);
    expect(await parseErr.json()).toMatchObject({ decision: { kind: 'deny' } });

    const bad = await post('{not json');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: expect.stringMatching(/JSON/) });
    expect((await post({ query: 'SELECT 1' })).status).toBe(400);
    expect((await post('null')).status).toBe(400);
    const huge = await post({ sql: 'SELECT 1', pad: 'x'.repeat(5 * 1024 * 1024) });
    expect(huge.status).toBe(413);
  });

  it('serves the same API over the real admin listener', async () => {
    const base = `http://127.0.0.1:${g.adminPort}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    // Recording is off here: /sessions says so.
    const off = await fetch(`${base}/sessions`);
    expect(off.status).toBe(404);
    expect(await off.text()).toMatch(/recording is disabled/);
    const m = await fetch(`${base}/metrics`);
    expect(await m.text()).toContain('portcullis_statements_total{decision="allow"}');
    const e = await fetch(`${base}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT * FROM orders' }),
    });
    expect(((await e.json()) as { decision: { kind: string } }[])[0].decision.kind).toBe('allow');
  });

  // Last: stops the gateway.
  it('answers /readyz with 503 once shutdown starts, while a statement is still running', async () => {
    // A statement blocked on a lock held by the test is in flight until the test lets go.
    const locker = await adminClient(DB);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    const c = await client();
    const running = c.query('SELECT count(*)::int AS n FROM orders');
    running.catch(() => undefined);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const w = await locker.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      if (w.rows[0].n > 0) break;
      if (Date.now() > deadline) throw new Error('the statement never reached PostgreSQL');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stopping = g.gw.stop(60_000);
    const r = await app.request('/readyz');
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ status: 'not ready' });
    expect((await app.request('/healthz')).status).toBe(200);
    await locker.query('COMMIT');
    await locker.end();
    expect((await running).rows).toEqual([{ n: 0 }]);
    await c.end().catch(() => undefined);
    await stopping;
  });
});
