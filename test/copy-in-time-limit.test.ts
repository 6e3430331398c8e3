// timeout_ms on a COPY FROM STDIN: docs/policy-api.md says the gateway stops a statement that
// runs past timeout_ms and the agent sees 57014. PostgreSQL holds cancel interrupts while it
// waits for COPY data (copyfromparse.c, HOLD_CANCEL_INTERRUPTS around the message read), so
// a CancelRequest does nothing until the client sends another message: the gateway ends the
// COPY with a CopyFail. Before, the COPY ran on past its limit, holding its lock, for as
// long as the client stayed silent. PostgreSQL reads that CopyFail only after the data sent
// ahead of it, so a cancel goes with it: before, a COPY whose rows were slow to load (a row
// trigger taking 100 ms) ran on for seconds past its limit.
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { copyData, copyDone, errorCodes, query, rows } from './helpers/raw.js';

const DB = 'copy_in_time_limit';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE t (id int);
     CREATE TABLE slow_t (id int);
     CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN PERFORM pg_sleep(0.1); RETURN NEW; END $$;
     CREATE TRIGGER slow_t_slow BEFORE INSERT ON slow_t FOR EACH ROW EXECUTE FUNCTION slow_row();`,
  );
  g = await startTestGateway(DB, { policy: { files: ['test/policies/timeout-all.rego'] } });
});
afterAll(async () => g?.stop());

it('a COPY FROM STDIN left without data past its 300 ms limit is ended: the agent gets 57014, nothing runs on upstream', async () => {
  const c = await rawLogin(g, DB);
  const a = await adminClient(DB);
  try {
    await c.write(query('COPY t FROM STDIN'));
    const start = await c.until('G', 5000);
    expect(start.at(-1)?.type).toBe('G');
    await c.write(copyData('1\n'));
    // Ten times the limit, and the client sends nothing more.
    await new Promise((r) => setTimeout(r, 3000));
    const upstream = await a.query(
      "SELECT state, query FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY t FROM STDIN%'",
      [DB],
    );
    // Another session cannot take the table: the COPY still holds its lock.
    const lock = await a
      .query('SET lock_timeout = 500; LOCK TABLE t IN ACCESS EXCLUSIVE MODE')
      .then(
        () => 'granted',
        (e: { code?: string }) => e.code,
      );
    // What the client got by now (nothing more is sent).
    const got = await c.until('Z', 1000).catch(() => []);
    expect({
      upstreamCopyActive: upstream.rows.some((r) => r.state === 'active'),
      lock,
      clientErrors: errorCodes(got),
    }).toEqual({ upstreamCopyActive: false, lock: 'granted', clientErrors: ['57014'] });
    // The client, late, sends more rows and ends its COPY: dropped; nothing was loaded, and
    // the session goes on.
    await c.write(Buffer.concat([copyData('2\n'), copyDone()]));
    expect(rows(await c.simple('SELECT count(*) FROM t'))).toEqual([['0']]);
  } finally {
    c.destroy();
    await a.end();
  }
}, 30_000);

it('a COPY FROM STDIN still loading rows already sent is stopped at its 300 ms limit', async () => {
  const c = await rawLogin(g, DB);
  const a = await adminClient(DB);
  try {
    await c.write(query('COPY slow_t FROM STDIN'));
    const start = await c.until('G', 5000);
    expect(start.at(-1)?.type).toBe('G');
    const t0 = Date.now();
    // 40 rows (4 s of work upstream) in one message; the COPY is not ended by the client.
    await c.write(copyData(Array.from({ length: 40 }, (_, i) => `${i}\n`).join('')));
    await new Promise((r) => setTimeout(r, 1500));
    // Five times the limit: the COPY should be over, upstream and for the client.
    const upstream = await a.query(
      "SELECT state FROM pg_stat_activity WHERE datname = $1 AND query = 'COPY slow_t FROM STDIN'",
      [DB],
    );
    const got = await c.until('Z', 6000).catch(() => []);
    const answeredAfter = Date.now() - t0;
    expect({
      upstreamCopyActiveAt1500ms: upstream.rows.some((r) => r.state === 'active'),
      errors: errorCodes(got),
      answeredWithin2s: answeredAfter < 2000,
    }).toEqual({ upstreamCopyActiveAt1500ms: false, errors: ['57014'], answeredWithin2s: true });
    expect((await a.query('SELECT count(*)::int AS n FROM slow_t')).rows[0].n).toBe(0);
  } finally {
    c.destroy();
    await a.end();
  }
}, 30_000);
