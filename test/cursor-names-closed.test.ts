// Cursors PostgreSQL drops must leave the gateway's cursor table too, or a cursor a
// function then opens under the kept name is read under the dropped one's decision (no row
// limit) where a name never declared through the gateway is refused (34000). Same threat
// model as test/cursors-dropped.test.ts (policy allow-all-limit-big: `big` is limited to 5
// rows). Before, a protocol Close of a portal named like a SQL cursor, and a COMMIT AND
// CHAIN of a failed block (answered ROLLBACK) with a WITH HOLD cursor, left the name kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { close, errorCodes, rows, sync } from './helpers/raw.js';

const DB = 'cursor_names_closed';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE big AS SELECT g FROM generate_series(1, 100) g');
  const a = await adminClient(DB);
  await a.query(`CREATE FUNCTION opencur(c refcursor) RETURNS refcursor LANGUAGE plpgsql AS $$
      BEGIN OPEN c FOR SELECT g FROM big; RETURN c; END $$`);
  await a.end();
  g = await startTestGateway(DB, { policy: { files: ['test/policies/allow-all-limit-big.rego'] } });
});
afterAll(async () => g?.stop());

type Raw = Awaited<ReturnType<typeof rawLogin>>;
const cursorNames = async (c: Raw) =>
  rows(await c.simple('SELECT name FROM pg_cursors ORDER BY 1')).map((r) => r[0]);

describe('cursor names PostgreSQL dropped', () => {
  it('a protocol Close of a portal named like a SQL cursor closes the cursor: it leaves the table', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
      // A cursor with no row limit…
      expect(errorCodes(await c.simple('DECLARE x CURSOR FOR SELECT 1 AS one'))).toEqual([]);
      // …closed by a protocol Close (portal): cursors are portals upstream.
      await c.write(Buffer.concat([close('P', 'x'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      expect(await cursorNames(c)).not.toContain('x');
      // A function opens a cursor of that name over `big` (100 rows).
      expect(errorCodes(await c.simple("SELECT opencur('x')"))).toEqual([]);
      const ms = await c.simple('FETCH ALL FROM x');
      // As for a name never declared through the gateway: at most 5 rows (refused, 34000).
      expect(rows(ms).length).toBeLessThanOrEqual(5);
      expect(errorCodes(ms)).toEqual(['34000']);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });

  it('COMMIT AND CHAIN of a failed block (answered ROLLBACK) drops its WITH HOLD cursor', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const s of ['BEGIN', 'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'])
        expect(errorCodes(await c.simple(s)), s).toEqual([]);
      expect(errorCodes(await c.simple('SELECT 1/0'))).toEqual(['22012']);
      // The block failed: PostgreSQL rolls it back (tag ROLLBACK) and opens the next one.
      const ms0 = await c.simple('COMMIT AND CHAIN');
      expect(errorCodes(ms0)).toEqual([]);
      expect(ms0.at(-1)?.body[0]).toBe('T'.charCodeAt(0));
      expect(await cursorNames(c)).not.toContain('h');
      expect(errorCodes(await c.simple("SELECT opencur('h')"))).toEqual([]);
      const ms = await c.simple('FETCH ALL FROM h');
      expect(rows(ms).length, 'rows of big read through h').toBeLessThanOrEqual(5);
      expect(errorCodes(ms)).toEqual(['34000']);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });
});
