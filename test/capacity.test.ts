// The gateway at its client cap: a client that leaves right after its password frees its
// place, and a CancelRequest is still honoured when every place is taken.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { RawClient, cancelRequest, errorsOf, password, query, startup } from './helpers/raw.js';

const DB = 'dp_capacity';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, { listen: { host: '127.0.0.1', port: 0, maxClients: 2 } });
});
afterAll(async () => g?.stop());

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
}

describe('the gateway at its client cap', () => {
  it('frees the place of a client that leaves right after its password', async () => {
    const token = await g.token();
    for (let i = 0; i < 4; i++) {
      const c = await RawClient.connect(g.port);
      await c.write(startup({ user: 'agent-1', database: DB }));
      await c.next();
      await c.write(password(token));
      c.destroy();
      await new Promise((r) => setTimeout(r, 300));
    }
    await until('the sessions to end', () => g.gw.sessions.size === 0);
    const c = await RawClient.connect(g.port);
    await c.login(DB, token);
    expect(errorsOf(await c.simple('SELECT 1'))).toEqual([]);
    c.destroy();
  });

  it('cancels a statement still running when the token expires', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('agent-1', ['agents'], 2));
    await c.write(query('CREATE TABLE IF NOT EXISTS expiry (x int)'));
    await c.until('Z');
    await c.write(query('INSERT INTO expiry SELECT 1 FROM pg_sleep(4)'));
    await c.closed;
    await new Promise((r) => setTimeout(r, 5000));
    const a = await adminClient(DB);
    expect((await a.query('SELECT count(*)::int AS n FROM expiry')).rows[0].n).toBe(0);
    await a.end();
  });

  it('lets a login in while more connections than the listener takes sit idle', async () => {
    const idle: Socket[] = [];
    for (let i = 0; i < 150; i++) {
      const s = connect({ port: g.port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      idle.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token());
    expect(errorsOf(await c.simple('SELECT 1'))).toEqual([]);
    c.destroy();
    for (const s of idle) s.destroy();
  });

  it('honours a CancelRequest when every place is taken', async () => {
    const a = await RawClient.connect(g.port);
    const key = (await a.login(DB, await g.token())).find((m) => m.type === 'K')!;
    const b = await RawClient.connect(g.port);
    await b.login(DB, await g.token());
    await a.write(query('SELECT pg_sleep(30)'));
    await new Promise((r) => setTimeout(r, 200));
    const s = connect({ port: g.port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.on('connect', () => s.write(cancelRequest(key.body.readInt32BE(0), key.body.readInt32BE(4))));
    const ms = await a.until('Z', 20_000);
    expect(errorsOf(ms)).toEqual([['ERROR', '57014']]);
    s.destroy();
    a.destroy();
    b.destroy();
  });
});
