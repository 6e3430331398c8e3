// Session lifecycle through the gateway: a token that expires ends its session with a FATAL
// message; a graceful stop lets an in-flight statement finish, then ends sessions with 57P01
// and refuses new connections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  gatewayClient,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { RawClient, fields, password, query, rows, startup } from './helpers/raw.js';

/** A recorder that keeps only each session's end reason. */
function endReasons(): { reasons: string[]; recorder: never } {
  const reasons: string[] = [];
  const recorder = {
    openSession: async () => ({
      statements: () => [],
      statement: async () => 1,
      refused: () => undefined,
      result: () => undefined,
      event: async () => undefined,
      end: async (t: { reason: string }) => void reasons.push(t.reason),
    }),
    gatewayEvent: async () => undefined,
  };
  return { reasons, recorder: recorder as never };
}

const DB = 'dp_lifecycle';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1);');
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

const pgClient = (gw: TestGateway, token?: string): Promise<pg.Client> =>
  gatewayClient(gw, DB, { password: token });

/** Wait until the server runs a statement matching `like`. */
async function waitActive(like: string): Promise<void> {
  const admin = await adminClient(DB);
  try {
    for (let i = 0; i < 600; i++) {
      const r = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()",
        [like],
      );
      if (r.rows[0].n > 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`statement ${like} never started`);
  } finally {
    await admin.end();
  }
}

describe('token expiry', () => {
  it('a session whose token expires is closed with a FATAL message', async () => {
    const token = await g.token('agent-1', ['agents'], 2);
    const c = await RawClient.connect(g.port);
    await c.login(DB, token);
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    const ms = await c.rest(60_000);
    expect(c.ended).toBe(true);
    const errs = ms.filter((m) => m.type === 'E').map(fields);
    expect(errs).toHaveLength(1);
    expect(errs[0].S).toBe('FATAL');
    expect(errs[0].C).toBe('28000');
    expect(errs[0].M).toMatch(/expired/);
    // A fresh token works.
    const fresh = await pgClient(g);
    expect((await fresh.query('SELECT 2 AS two')).rows[0].two).toBe(2);
    await fresh.end();
  });

  it('regression: a query pipelined behind the password of an already expired token never runs', async () => {
    // Logins accept a token up to the clock tolerance past its expiry; the session must still
    // end before anything the client sent runs.
    const token = await g.token('agent-1', ['agents'], 1);
    await new Promise((r) => setTimeout(r, 2500));
    const c = await RawClient.connect(g.port);
    await c.write(startup({ user: 'agent-1', database: DB }));
    expect((await c.next())?.type).toBe('R');
    await c.write(Buffer.concat([password(token), query('INSERT INTO t VALUES (99)')]));
    const ms = await c.rest(30_000);
    expect(c.ended).toBe(true);
    expect(ms.some((m) => m.type === 'C')).toBe(false);
    const a = await adminClient(DB);
    // Give a forwarded INSERT every chance to land before checking.
    await new Promise((r) => setTimeout(r, 500));
    expect((await a.query('SELECT count(*)::int AS n FROM t WHERE id = 99')).rows[0].n).toBe(0);
    await a.end();
  });

  it('regression: the recording says the session ended because its token expired', async () => {
    // It said client_disconnect, as if the agent had left.
    const rec = endReasons();
    const gw = await startTestGateway(DB, {}, { recorder: rec.recorder });
    try {
      const c = await RawClient.connect(gw.port);
      await c.login(DB, await gw.token('agent-1', ['agents'], 2));
      const ms = await c.rest(30_000);
      expect(fields(ms.at(-1)!).C).toBe('28000');
      for (let i = 0; i < 50 && rec.reasons.length === 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(rec.reasons).toEqual(['token_expired']);
    } finally {
      await gw.stop();
    }
  });

  it('node pg sees the expiry as an error event on an idle connection', async () => {
    const c = await pgClient(g, await g.token('agent-1', ['agents'], 2));
    const err = await new Promise<Error & { code?: string }>((resolve) => c.on('error', resolve));
    expect(err.code).toBe('28000');
    await c.end().catch(() => undefined);
  });
});

describe('graceful stop', () => {
  it('an in-flight statement completes, then 57P01, and new connections are refused', async () => {
    const gw = await startTestGateway(DB);
    const busy = await pgClient(gw);
    const idle = await pgClient(gw);
    const busyErr = new Promise<Error & { code?: string }>((resolve) => busy.on('error', resolve));
    const idleErr = new Promise<Error & { code?: string }>((resolve) => idle.on('error', resolve));
    const q = busy.query("SELECT pg_sleep(1), 'finished' AS s");
    await waitActive("SELECT pg_sleep(1), 'finished'%");
    const stopping = gw.gw.stop(30_000);
    // The idle session is told at once.
    expect((await idleErr).code).toBe('57P01');
    // New connections are refused while the busy one finishes.
    await expect(pgClient(gw)).rejects.toBeTruthy();
    const r = await q;
    expect(r.rows[0].s).toBe('finished');
    expect((await busyErr).code).toBe('57P01');
    await stopping;
    await expect(pgClient(gw)).rejects.toBeTruthy();
    await busy.end().catch(() => undefined);
    await idle.end().catch(() => undefined);
    await gw.stop();
  });

  it('regression: a login still under way when the stop begins is refused, and does not hold the stop', async () => {
    // It was let in (AuthenticationOk), ran what it sent, and, never told of the shutdown,
    // kept the stop waiting until the grace period ended.
    const rec = endReasons();
    const gw = await startTestGateway(DB, {}, { recorder: rec.recorder });
    const busy = await RawClient.connect(gw.port);
    await busy.login(DB, await gw.token());
    await busy.write(query("SELECT pg_sleep(1), 'busy'"));
    await waitActive("SELECT pg_sleep(1), 'busy'%");
    const late = await RawClient.connect(gw.port);
    await late.write(startup({ user: 'agent-1', database: DB }));
    expect((await late.next())?.type).toBe('R');
    const started = Date.now();
    const stopping = gw.gw.stop(20_000);
    await late.write(
      Buffer.concat([password(await gw.token()), query('INSERT INTO t VALUES (57)')]),
    );
    const ms = await late.rest(10_000);
    expect(ms.map((m) => m.type)).toEqual(['E']);
    expect(fields(ms[0]).C).toBe('57P01');
    await stopping;
    expect(Date.now() - started).toBeLessThan(10_000);
    const a = await adminClient(DB);
    expect((await a.query('SELECT count(*)::int AS n FROM t WHERE id = 57')).rows[0].n).toBe(0);
    await a.end();
    busy.destroy();
    await gw.stop();
  });

  it('at the end of the grace period a statement still running is cancelled upstream and its client gets 57P01', async () => {
    const gw = await startTestGateway(DB);
    const c = await RawClient.connect(gw.port);
    await c.login(DB, await gw.token());
    await c.write(query("SELECT pg_sleep(30), 'cut'"));
    await waitActive("SELECT pg_sleep(30), 'cut'%");
    await gw.gw.stop(300);
    const ms = await c.rest(10_000);
    expect(fields(ms.at(-1)!).C).toBe('57P01');
    // Not left running in PostgreSQL after the gateway has gone.
    const admin = await adminClient(DB);
    let active = 1;
    for (let i = 0; i < 30 && active > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      active = (
        await admin.query(
          "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30), ''cut''%' AND state = 'active'",
        )
      ).rowCount!;
    }
    await admin.end();
    expect(active).toBe(0);
  });

  it('raw view: the statement result, ReadyForQuery, then a FATAL 57P01 and the close', async () => {
    const gw = await startTestGateway(DB);
    const c = await RawClient.connect(gw.port);
    await c.login(DB, await gw.token());
    await c.write(query("SELECT pg_sleep(1), 'done'"));
    await waitActive("SELECT pg_sleep(1), 'done'%");
    const stopping = gw.gw.stop(30_000);
    const ms = await c.rest(60_000);
    await stopping;
    expect(c.ended).toBe(true);
    const types = ms.map((m) => m.type).join('');
    expect(types).toBe('TDCZE');
    expect(rows(ms)).toEqual([['', 'done']]);
    expect(fields(ms.at(-1)!).C).toBe('57P01');
    await gw.stop();
  });
});
