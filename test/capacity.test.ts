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

  it('a flood of half-open connections from one address closes its own, not a login from another', async () => {
    const open = async (n: number) => {
      const socks: Socket[] = [];
      for (let i = 0; i < n; i++) {
        const s = connect({ port: g.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        s.on('error', () => undefined);
        socks.push(await new Promise<Socket>((r) => s.once('connect', () => r(s))));
        // Each in turn, as the gateway counts them (it drops what the listener cannot take).
        await new Promise((r) => setImmediate(r));
      }
      return socks;
    };
    const idle = await open(60);
    // The victim has started its login (it is older than most of the flood) when more come.
    const victim = await RawClient.connect(g.port, '127.0.0.1', '127.0.0.3');
    await victim.write(startup({ user: 'agent-1', database: DB }));
    expect((await victim.next())?.type).toBe('R');
    idle.push(...(await open(150)));
    await victim.write(password(await g.token()));
    const login = await victim.until('Z');
    expect(login.at(-1)?.type).toBe('Z');
    expect(errorsOf(await victim.simple('SELECT 1'))).toEqual([]);
    victim.destroy();
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
