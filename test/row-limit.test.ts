// limits.max_rows: a result with more rows than the policy allows is cut, and the client gets
// 54000 instead of the completion; the session and its transaction state stay consistent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  gatewayClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { fields, rows } from './helpers/raw.js';

const DB = 'row_limit_db';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, { policy: { files: ['test/policies/row-limit.rego'] } });
});
afterAll(async () => g?.stop());

const client = (): Promise<pg.Client> => gatewayClient(g, DB, { user: 'a', ignoreErrors: true });

describe('limits.max_rows', () => {
  it('returns a result within the limit untouched', async () => {
    const c = await client();
    const r = await c.query('SELECT g FROM generate_series(1, 5) g');
    expect(r.rows.map((x) => x.g)).toEqual([1, 2, 3, 4, 5]);
    await c.end();
  });

  it('refuses a result past the limit with 54000, in both protocols, and the session goes on', async () => {
    const c = await client();
    await expect(c.query('SELECT g FROM generate_series(1, 1000) g')).rejects.toMatchObject({
      code: '54000',
    });
    await expect(
      c.query('SELECT g FROM generate_series($1::int, $2::int) g', [1, 1000]),
    ).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('5 rows') });
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('a cartesian blow-up is cut after the limit instead of streaming to the agent', async () => {
    const c = await client();
    await expect(
      c.query(
        'SELECT * FROM generate_series(1, 100) a, generate_series(1, 100) b, generate_series(1, 100) c',
      ),
    ).rejects.toMatchObject({ code: '54000' });
    await c.end();
  });

  it('inside a transaction the error aborts it on both sides: COMMIT rolls back', async () => {
    const c = await client();
    await c.query('BEGIN');
    await expect(c.query('SELECT g FROM generate_series(1, 50) g')).rejects.toMatchObject({
      code: '54000',
    });
    // The upstream transaction is aborted too, exactly as after a real error.
    await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    const end = await c.query('COMMIT');
    expect(end.command).toBe('ROLLBACK');
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await c.end();
  });

  it('the ReadyForQuery after the error reports the failed transaction on the wire', async () => {
    const c = await rawLogin(g, DB);
    const status = (ms: { type: string; body: Buffer }[]) => ms.at(-1)!.body.toString('latin1');
    expect(status(await c.simple('BEGIN'))).toBe('T');
    const r = await c.simple('SELECT g FROM generate_series(1, 50) g');
    expect(r.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['54000']);
    expect(rows(r)).toEqual([['1'], ['2'], ['3'], ['4'], ['5']]);
    expect(r.some((m) => m.type === 'C')).toBe(false);
    expect(status(r)).toBe('E');
    expect(status(await c.simple('ROLLBACK'))).toBe('I');
    c.destroy();
  });

  it('COPY (query) TO STDOUT counts its rows too', async () => {
    const c = await client();
    await expect(
      c.query('COPY (SELECT g FROM generate_series(1, 100) g) TO STDOUT'),
    ).rejects.toMatchObject({ code: '54000' });
    expect((await c.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    await c.end();
  });

  it('closes the session when the cut statement had later statements of its batch running', async () => {
    const c = await client();
    await expect(
      c.query('SELECT g FROM generate_series(1, 100) g; SELECT 1'),
    ).rejects.toMatchObject({ code: '54000' });
    await c.end().catch(() => undefined);
    const d = await client();
    expect((await d.query('SELECT 4 AS four')).rows).toEqual([{ four: 4 }]);
    await d.end();
  });
});
