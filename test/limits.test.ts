// Policy limits: timeout_ms cancels the upstream statement (57014); the session stays usable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  gatewayClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, fields, flush, parse, rows, sync } from './helpers/raw.js';

const DB = 'limits_db';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, { policy: { files: ['test/policies/limits.rego'] } });
});
afterAll(async () => g?.stop());

describe('policy limits', () => {
  it('cancels a statement that runs past timeout_ms', async () => {
    const c = await gatewayClient(g, DB, { user: 'a' });
    await expect(c.query('SELECT pg_catalog.pg_sleep(30)')).rejects.toMatchObject({
      code: '57014',
    });
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('counts the time of a statement sent at a Flush, before its Sync', async () => {
    const c = await rawLogin(g, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'SELECT pg_catalog.pg_sleep(3)'),
          bind('', ''),
          execute(),
          flush(),
        ]),
      );
      const t0 = Date.now();
      const err = await c.until('E', 5000);
      expect(fields(err.at(-1)!).C).toBe('57014');
      expect(Date.now() - t0).toBeLessThan(2500);
      await c.write(sync());
      await c.until('Z');
      expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    } finally {
      c.destroy();
    }
  });
});

describe('time limits in a pipelined group', () => {
  let t: TestGateway;
  beforeAll(async () => {
    const a = await adminClient(DB);
    await a.query('CREATE TABLE IF NOT EXISTS quick_writes (id int)');
    await a.end();
    t = await startTestGateway(DB, {
      policy: { files: ['test/policies/statement-timeouts.rego'] },
    });
  });
  afterAll(async () => t?.stop());

  it('a limited statement behind one with no limit is still cut at its limit', async () => {
    // PostgreSQL answers a group's statements together at its Sync, so the gateway cannot
    // see where one ends and the next begins: the limit counts from when the group is sent
    // (timing the read from the write's answer would let it run unlimited).
    const c = await rawLogin(t, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'INSERT INTO quick_writes VALUES (1)'),
          bind('', ''),
          execute(),
          parse('', 'SELECT pg_catalog.pg_sleep(3)'),
          bind('', ''),
          execute(),
          sync(),
        ]),
      );
      const t0 = Date.now();
      const ms = await c.until('Z', 10_000);
      expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['57014']);
      expect(Date.now() - t0).toBeLessThan(2500);
    } finally {
      c.destroy();
    }
  });
});
