// The data path with node `pg`: simple and extended protocol, refusals, session stays usable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  gatewayClient,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';

const DB = 'dp_node_pg';
let g: TestGateway;

const client = (): Promise<pg.Client> => gatewayClient(g, DB);

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, $$one$$), (2, $$two$$);',
  );
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

describe('node pg through the gateway', () => {
  it('runs simple and extended queries, named prepared statements included', async () => {
    const c = await client();
    expect((await c.query('SELECT name FROM items ORDER BY id')).rows).toEqual([
      { name: 'one' },
      { name: 'two' },
    ]);
    expect((await c.query('SELECT name FROM items WHERE id = $1', [2])).rows).toEqual([
      { name: 'two' },
    ]);
    for (const id of [1, 2, 1]) {
      const r = await c.query({
        name: 'by-id',
        text: 'SELECT name FROM items WHERE id = $1',
        values: [id],
      });
      expect(r.rows[0].name).toBe(id === 1 ? 'one' : 'two');
    }
    await c.end();
  });

  it('refuses a statement that does not parse without forwarding it, and stays usable', async () => {
    const c = await client();
    await expect(c.query('SELEC broken')).rejects.toMatchObject({ code: '42601' });
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('keeps transaction state consistent across a refusal inside BEGIN', async () => {
    const c = await client();
    await c.query('BEGIN');
    await c.query("INSERT INTO items VALUES (3, 'three')");
    await expect(c.query('SELEC broken')).rejects.toMatchObject({ code: '42601' });
    // Like PostgreSQL: the transaction is aborted, so COMMIT rolls back.
    await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await c.query('COMMIT');
    expect((await c.query('SELECT count(*)::int AS n FROM items WHERE id = 3')).rows[0].n).toBe(0);
    await c.end();
  });

  it('never sends the client credential upstream: the server sees the gateway role', async () => {
    const c = await client();
    const r = await c.query('SELECT current_user AS u, current_setting($1) AS sp', ['search_path']);
    expect(r.rows[0].u).toBe('postgres');
    expect(r.rows[0].sp).toBe('public');
    await c.end();
    const a = await adminClient(DB);
    const act = await a.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'agent-1'",
    );
    expect(act.rows[0].n).toBe(0);
    await a.end();
  });

  it('rejects a bad token with 28P01', async () => {
    await expect(gatewayClient(g, DB, { password: 'not-a-token' })).rejects.toMatchObject({
      code: '28P01',
    });
  });
});

describe('EXECUTE of a prepared statement', () => {
  it('is decided on the prepared statement and on its parameter expressions', async () => {
    const g2 = await startTestGateway(DB, { policy: { files: ['policies.rego'] } });
    try {
      const c = new pg.Client({
        host: '127.0.0.1',
        port: g2.port,
        user: 'a',
        database: DB,
        password: await g2.token(),
      });
      await c.connect();
      await c.query('PREPARE byid(int) AS SELECT name FROM items WHERE id = $1');
      expect((await c.query('EXECUTE byid(1)')).rows).toEqual([{ name: 'one' }]);
      // A side-effecting function smuggled in as a parameter is refused.
      await expect(
        c.query('EXECUTE byid(pg_catalog.pg_advisory_lock(1)::int)'),
      ).rejects.toMatchObject({ code: '42501' });
      await c.end();
    } finally {
      await g2.stop();
    }
  });
});
