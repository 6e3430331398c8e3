// postgres.js through the gateway: prepared and unsafe queries, pipelining on one
// connection, transactions with sql.begin, and cancelling a running query.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import pg from 'pg';
import {
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';

const DB = 'dp_postgres_js';
let g: TestGateway;

async function connect(opts: postgres.Options<Record<string, never>> = {}) {
  return postgres({
    host: '127.0.0.1',
    port: g.port,
    user: 'agent-1',
    database: DB,
    pass: await g.token(),
    max: 1,
    onnotice: () => undefined,
    ...opts,
  });
}

async function adminCount(where: string): Promise<number> {
  const a: pg.Client = await adminClient(DB);
  const r = await a.query(`SELECT count(*)::int AS n FROM accounts WHERE ${where}`);
  await a.end();
  return r.rows[0].n;
}

beforeAll(async () => {
  await freshDatabase(
    DB,
    "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL); INSERT INTO accounts SELECT i, 'owner' || i, 100 FROM generate_series(1, 50) i;",
  );
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

describe('postgres.js through the gateway', () => {
  it('runs prepared queries (named statements on the server) with typed parameters', async () => {
    const sql = await connect();
    for (const id of [1, 2, 3, 1, 2]) {
      const [row] = await sql`SELECT owner, balance FROM accounts WHERE id = ${id}`;
      expect(row.owner).toBe(`owner${id}`);
      expect(row.balance).toBe('100');
    }
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM pg_prepared_statements`;
    expect(n).toBeGreaterThan(0);
    const list = await sql`SELECT id FROM accounts WHERE id = ANY(${[4, 5, 6]}::int[]) ORDER BY id`;
    expect(list.map((r) => r.id)).toEqual([4, 5, 6]);
    await sql.end();
  });

  it('runs unsafe queries, with and without parameters, and unprepared ones', async () => {
    const sql = await connect({ prepare: false });
    const a = await sql.unsafe('SELECT owner FROM accounts WHERE id = $1', [7]);
    expect(a[0].owner).toBe('owner7');
    const multi = await sql.unsafe('SELECT 1 AS a; SELECT 2 AS b');
    expect(multi.map((r) => r[0])).toEqual([{ a: 1 }, { b: 2 }]);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM pg_prepared_statements`;
    expect(n).toBe(0);
    await expect(sql.unsafe('SELEC broken')).rejects.toMatchObject({ code: '42601' });
    expect((await sql`SELECT 3 AS c`)[0].c).toBe(3);
    await sql.end();
  });

  it('pipelines many queries on one connection (Promise.all, max 1)', async () => {
    const sql = await connect();
    const ids = Array.from({ length: 200 }, (_, i) => (i % 50) + 1);
    const results = await Promise.all(
      ids.map((id) => sql`SELECT id FROM accounts WHERE id = ${id}`),
    );
    expect(results.map((r) => r[0].id)).toEqual(ids);
    // An error in the pipeline fails only its query.
    const settled = await Promise.allSettled([
      sql`SELECT 1 AS x`,
      sql`SELECT 1 / ${0}::int AS x`,
      sql`SELECT 3 AS x`,
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const [{ pids }] = await sql`SELECT count(DISTINCT pg_backend_pid())::int AS pids`;
    expect(pids).toBe(1);
    await sql.end();
  });

  it('commits a sql.begin transaction and rolls back one that throws', async () => {
    const sql = await connect();
    const out = await sql.begin(async (tx) => {
      await tx`UPDATE accounts SET balance = balance - 10 WHERE id = 1`;
      await tx`UPDATE accounts SET balance = balance + 10 WHERE id = 2`;
      const [s] = await tx`SELECT sum(balance)::int AS s FROM accounts WHERE id IN (1, 2)`;
      return s.s;
    });
    expect(out).toBe(200);
    expect(await adminCount('id = 1 AND balance = 90')).toBe(1);
    expect(await adminCount('id = 2 AND balance = 110')).toBe(1);

    await expect(
      sql.begin(async (tx) => {
        await tx`UPDATE accounts SET balance = 0 WHERE id = 3`;
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await adminCount('id = 3 AND balance = 100')).toBe(1);

    // A savepoint rolled back inside a committed transaction.
    await sql.begin(async (tx) => {
      await tx`INSERT INTO accounts VALUES (1000, 'kept', 1)`;
      await tx
        .savepoint(async (sp) => {
          await sp`INSERT INTO accounts VALUES (1001, 'dropped', 1)`;
          await sp`SELECT 1 / 0`;
        })
        .catch(() => undefined);
    });
    expect(await adminCount("owner IN ('kept', 'dropped')")).toBe(1);
    await sql.end();
  });

  it('cancels a running query; the same connection then runs the next one', async () => {
    const sql = await connect();
    const [{ pid }] = await sql`SELECT pg_backend_pid() AS pid`;
    const q = sql`SELECT pg_sleep(30)`;
    const started = Date.now();
    setTimeout(() => q.cancel(), 1000);
    await expect(q).rejects.toMatchObject({ code: '57014' });
    expect(Date.now() - started).toBeLessThan(25_000);
    const [after] = await sql`SELECT pg_backend_pid() AS pid, 'after' AS s`;
    expect(after).toEqual({ pid, s: 'after' });
    await sql.end();
  });
});
