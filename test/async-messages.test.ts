// Asynchronous backend messages through the gateway with node `pg`: NOTIFY from another
// session reaches a LISTENing client, RAISE NOTICE reaches the client as a NoticeResponse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import {
  gatewayClient,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';

const DB = 'dp_async';
let g: TestGateway;

const client = (): Promise<pg.Client> => gatewayClient(g, DB);

function nextEvent<T>(emitter: pg.Client, event: string, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int)');
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

describe('asynchronous messages through the gateway', () => {
  it('a NOTIFY from an admin connection reaches a LISTENing client while it is idle', async () => {
    const c = await client();
    await c.query('LISTEN jobs');
    const got = nextEvent<pg.Notification>(c, 'notification');
    const a = await adminClient(DB);
    await a.query("NOTIFY jobs, 'job-42'");
    const n = await got;
    expect(n.channel).toBe('jobs');
    expect(n.payload).toBe('job-42');
    // And a notification sent with pg_notify inside a transaction arrives after commit.
    const second = nextEvent<pg.Notification>(c, 'notification');
    await a.query('BEGIN');
    await a.query("SELECT pg_notify('jobs', 'in-tx')");
    await a.query('COMMIT');
    expect((await second).payload).toBe('in-tx');
    await a.end();
    // The client can still query, then UNLISTEN.
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await c.query('UNLISTEN jobs');
    await c.end();
  });

  it('NOTIFY between two gateway clients', async () => {
    const listener = await client();
    const sender = await client();
    await listener.query('LISTEN "Mixed Case"');
    const got = nextEvent<pg.Notification>(listener, 'notification');
    await sender.query(`NOTIFY "Mixed Case", 'hello'`);
    expect((await got).payload).toBe('hello');
    await listener.end();
    await sender.end();
  });

  it('RAISE NOTICE in a DO block reaches the client as a notice, and the query completes', async () => {
    const c = await client();
    const notices: NoticeMessage[] = [];
    c.on('notice', (n) => notices.push(n));
    const r = await c.query(
      "DO $$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; RAISE WARNING 'careful'; END $$",
    );
    expect(r.command).toBe('DO');
    expect(notices.map((n) => [n.severity, n.message])).toEqual([
      ['NOTICE', 'hello from plpgsql'],
      ['WARNING', 'careful'],
    ]);
    // Notices from a statement that then fails arrive before its error.
    notices.length = 0;
    await expect(
      c.query(
        "DO $$ BEGIN RAISE NOTICE 'before'; RAISE EXCEPTION 'boom' USING ERRCODE = 'P0001'; END $$",
      ),
    ).rejects.toMatchObject({ code: 'P0001', message: 'boom' });
    expect(notices.map((n) => n.message)).toEqual(['before']);
    expect((await c.query('SELECT 2 AS two')).rows[0].two).toBe(2);
    await c.end();
  });

  it('server notices from ordinary statements pass through (DROP ... IF EXISTS)', async () => {
    const c = await client();
    const notices: NoticeMessage[] = [];
    c.on('notice', (n) => notices.push(n));
    await c.query('DROP TABLE IF EXISTS no_such_table');
    expect(notices).toHaveLength(1);
    expect(notices[0].code).toBe('00000');
    expect(notices[0].message).toContain('does not exist, skipping');
    await c.end();
  });
});
