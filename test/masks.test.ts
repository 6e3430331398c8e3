// Results are not masked yet: a statement the policy allows with a mask is refused, naming
// the columns, and never answered in the clear (fail closed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  gatewayClient,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';

const DB = 'masks_db';
const CARD = '4111-1111-1111-1111';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE customers (id int, card text);
     INSERT INTO customers VALUES (1, '${CARD}');
     CREATE TABLE orders (id int, amount int);
     INSERT INTO orders VALUES (1, 10);`,
  );
  g = await startTestGateway(DB, { policy: { files: ['test/policies/masks.rego'] } });
});
afterAll(async () => g?.stop());

const refusal = {
  code: '42501',
  message: expect.stringMatching(/masks public\.customers\.card; this gateway cannot mask/),
};

/** Statements PostgreSQL ran on customers, from its statistics (what reached it). */
async function customerReads(): Promise<number> {
  const a = await adminClient(DB);
  try {
    await a.query('SELECT pg_stat_clear_snapshot()');
    const r = await a.query(`SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'customers'`);
    return Number(r.rows[0].seq_scan);
  } finally {
    await a.end();
  }
}

describe('a policy that masks a column', () => {
  it('refuses a statement it masks columns for, in both protocols; the session goes on', async () => {
    const c = await gatewayClient(g, DB, { groups: ['agents'] });
    try {
      await expect(c.query('SELECT id, card FROM customers')).rejects.toMatchObject(refusal);
      await expect(c.query('SELECT * FROM customers')).rejects.toMatchObject(refusal);
      await expect(
        c.query('SELECT card FROM public.customers WHERE id = $1', [1]),
      ).rejects.toMatchObject(refusal);
      await c.query('BEGIN');
      await expect(
        c.query('DECLARE cur CURSOR FOR SELECT card FROM customers'),
      ).rejects.toMatchObject(refusal);
      await c.query('ROLLBACK');
      // A statement the policy masks nothing for runs.
      expect((await c.query('SELECT amount FROM orders')).rows).toEqual([{ amount: 10 }]);
    } finally {
      await c.end();
    }
  });

  it('sends nothing of a refused read to the database', async () => {
    const before = await customerReads();
    const c = await gatewayClient(g, DB, { groups: ['agents'] });
    try {
      await expect(c.query('SELECT card FROM customers')).rejects.toMatchObject(refusal);
    } finally {
      await c.end();
    }
    expect(await customerReads()).toBe(before);
  });

  it('answers in full where the policy masks nothing', async () => {
    const c = await gatewayClient(g, DB, { groups: ['pci'] });
    try {
      expect((await c.query('SELECT card FROM customers')).rows).toEqual([{ card: CARD }]);
    } finally {
      await c.end();
    }
  });
});
