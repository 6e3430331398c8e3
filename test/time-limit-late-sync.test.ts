// Outside a transaction block, an extended-protocol group commits its implicit transaction
// at the Sync. Work PostgreSQL does at that commit (a WITH HOLD cursor's query run whole,
// deferred constraint triggers) belongs to the statement: when the client sends the
// statement at a Flush and its Sync after the completion came back, the commit is still held
// to the statement's time limit. (With Execute and Sync sent together the completion only
// arrives after the commit.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, flush, parse, sync, errorCodes } from './helpers/raw.js';

const DB = 'time_limit_late_sync';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  const a = await adminClient(DB);
  await a.query(`CREATE VIEW slow AS
                   SELECT g, pg_catalog.pg_sleep(0.1)::text AS s FROM generate_series(1, 20) g;
                 CREATE TABLE checked (id int);
                 GRANT ALL ON checked TO PUBLIC;
                 CREATE FUNCTION slow_check() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN PERFORM pg_catalog.pg_sleep(2); RETURN NULL; END $$;
                 CREATE CONSTRAINT TRIGGER slow_check AFTER INSERT ON checked
                   DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_check();`);
  await a.end();
  g = await startTestGateway(DB, { policy: { files: ['test/policies/late-sync-timeouts.rego'] } });
});
afterAll(async () => g?.stop());

/** Parse/Bind/Execute, Flush; once the statement's completion is in, Sync (pipelining drivers do). */
async function flushThenSync(c: Awaited<ReturnType<typeof rawLogin>>, sql: string) {
  const t0 = Date.now();
  await c.write(Buffer.concat([parse('', sql), bind('', ''), execute(), flush()]));
  const first = await c.until('C', 10_000);
  await c.write(sync());
  const ms = [...first, ...(await c.until('Z', 10_000))];
  return { codes: errorCodes(ms), fast: Date.now() - t0 < 1500 };
}

describe('a time limit covers the commit at the Sync of an extended group', () => {
  it('baseline: the same statements by simple Query are cut at 300 ms', async () => {
    const c = await rawLogin(g, DB);
    try {
      let t0 = Date.now();
      expect(
        errorCodes(await c.simple('DECLARE h0 CURSOR WITH HOLD FOR SELECT g FROM slow')),
      ).toEqual(['57014']);
      expect(Date.now() - t0).toBeLessThan(1500);
      t0 = Date.now();
      expect(errorCodes(await c.simple('INSERT INTO checked VALUES (1)'))).toEqual(['57014']);
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally {
      c.destroy();
    }
  });

  it('DECLARE … WITH HOLD sent at a Flush, its Sync after the completion: cut at 300 ms', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(await flushThenSync(c, 'DECLARE h2 CURSOR WITH HOLD FOR SELECT g FROM slow')).toEqual({
        codes: ['57014'],
        fast: true,
      });
    } finally {
      c.destroy();
    }
  });

  it('an INSERT sent at a Flush, its deferred trigger run at the later Sync: cut at 300 ms', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(await flushThenSync(c, 'INSERT INTO checked VALUES (3)')).toEqual({
        codes: ['57014'],
        fast: true,
      });
    } finally {
      c.destroy();
    }
  });
});
