// CREATE TABLE … AS EXECUTE name runs the prepared statement `name`: it is decided as a
// CREATE TABLE AS that reads what the prepared statement reads (as a top-level EXECUTE is
// resolved to the statement the name holds). Before, it was decided on the CTAS alone, its
// facts naming only the table written: a policy that forbids copying a table was bypassed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { errorCodes } from './helpers/raw.js';

const DB = 'ctas_execute';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    "CREATE TABLE secrets AS SELECT 'card-' || g AS card FROM generate_series(1, 3) g",
  );
  g = await startTestGateway(DB, {
    policy: { files: ['test/policies/no-copies-of-secrets.rego'] },
  });
});
afterAll(async () => g?.stop());

describe('CREATE TABLE AS EXECUTE', () => {
  it('is decided as what the prepared statement reads', async () => {
    const c = await rawLogin(g, DB);
    try {
      // Baseline: copying secrets directly is refused.
      expect(errorCodes(await c.simple('CREATE TABLE copy1 AS SELECT card FROM secrets'))).toEqual([
        '42501',
      ]);
      // A read, prepared: allowed.
      expect(errorCodes(await c.simple('PREPARE q AS SELECT card FROM secrets'))).toEqual([]);
      // The same copy through the prepared statement's name.
      expect(errorCodes(await c.simple('CREATE TABLE copy2 AS EXECUTE q'))).toEqual(['42501']);
      const a = await adminClient(DB);
      try {
        const r = await a.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'copy2'");
        const copied = r.rows[0].n
          ? (await a.query('SELECT count(*)::int AS n FROM copy2')).rows[0].n
          : 0;
        // Nothing of secrets may have been copied.
        expect(copied, 'rows of secrets copied into copy2').toBe(0);
        // A copy the policy allows, through a prepared statement, runs.
        expect(errorCodes(await c.simple('PREPARE r AS SELECT 7 AS x'))).toEqual([]);
        expect(errorCodes(await c.simple('CREATE TABLE copy3 AS EXECUTE r'))).toEqual([]);
        expect((await a.query('SELECT x FROM copy3')).rows).toEqual([{ x: 7 }]);
      } finally {
        await a.end();
      }
    } finally {
      c.destroy();
    }
  });
});
