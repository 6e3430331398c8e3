// PostgreSQL reads the parameter counts of Parse and Bind as unsigned 16-bit integers: a
// statement may have up to 65,535 parameters (drivers use this for bulk INSERTs). The
// gateway read them as signed, so a valid Bind with 32,768 or more parameters was taken for
// a negative count and the session was ended with a FATAL 08P01 protocol violation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  gatewayClient,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, firstError, parse, rows, sync } from './helpers/raw.js';

const DB = 'bind_many_params';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE w (id int)');
  g = await startTestGateway(DB);
});
afterAll(async () => {
  await g?.stop();
});

const N = 40_000;
const sql = `SELECT array_length(ARRAY[${Array.from({ length: N }, (_, i) => `$${i + 1}::int`).join(',')}], 1) AS n`;
const values = Array.from({ length: N }, (_, i) => i);

describe('a statement with more than 32,767 parameters (PostgreSQL allows 65,535)', () => {
  it('runs directly on PostgreSQL (control)', async () => {
    const a = await adminClient(DB);
    const r = await a.query(sql, values);
    await a.end();
    expect(r.rows[0].n).toBe(N);
  });

  it('a bulk INSERT of 60,000 parameters reaches the database whole', async () => {
    const M = 60_000;
    const c = await gatewayClient(g, DB);
    const ins = `INSERT INTO w VALUES ${Array.from({ length: M }, (_, i) => `($${i + 1})`).join(',')}`;
    const r = await c.query(
      ins,
      Array.from({ length: M }, (_, i) => i),
    );
    await c.end();
    expect(r.rowCount).toBe(M);
    const a = await adminClient(DB);
    const n = await a.query<{ n: string; s: string }>('SELECT count(*) AS n, sum(id) AS s FROM w');
    await a.end();
    expect(n.rows[0]).toEqual({ n: String(M), s: String((M * (M - 1)) / 2) });
  });

  it('a Parse declaring 40,000 parameter types, bound and run', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse(
          '',
          sql,
          Array.from({ length: N }, () => 23),
        ),
        bind('', '', values.map(String)),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(firstError(ms)).toBeUndefined();
    expect(rows(ms)).toEqual([[String(N)]]);
    c.destroy();
  });

  it('runs through the gateway with node pg as it does on PostgreSQL', async () => {
    const c = await gatewayClient(g, DB, { ignoreErrors: true });
    let result: unknown;
    try {
      const r = await c.query(sql, values);
      result = r.rows[0].n;
    } catch (e) {
      result = `${(e as { code?: string }).code}: ${(e as Error).message}`;
    }
    await c.end().catch(() => undefined);
    expect(result).toBe(N);
  });
});
