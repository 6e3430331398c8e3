// timeout_ms on a COPY FROM STDIN that is busy with data already sent. While a COPY waits
// for data PostgreSQL holds a cancel (copy-in-time-limit.test.ts), so at the limit the
// gateway writes a CopyFail behind the data it relayed. Before, that was all: PostgreSQL
// reads the CopyFail only after loading every row in front of it, so a COPY whose rows are
// slow to load (here a row trigger taking 100 ms; in general any large load) ran on for
// seconds past its limit. A cancel now goes with the CopyFail.
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { copyData, errorCodes, query } from './helpers/raw.js';

const DB = 'copy_in_time_limit_busy';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE t (id int);
     CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN PERFORM pg_sleep(0.1); RETURN NEW; END $$;
     CREATE TRIGGER t_slow BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION slow_row();`,
  );
  // Everything is allowed, with 300 ms.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/timeout-all.rego'] } });
});
afterAll(async () => g?.stop());

it('a COPY FROM STDIN still loading rows already sent is stopped at its 300 ms limit', async () => {
  const c = await rawLogin(g, DB);
  const a = await adminClient(DB);
  try {
    await c.write(query('COPY t FROM STDIN'));
    const start = await c.until('G', 5000);
    expect(start.at(-1)?.type).toBe('G');
    const t0 = Date.now();
    // 40 rows (4 s of work upstream) in one message; the COPY is not ended by the client.
    await c.write(copyData(Array.from({ length: 40 }, (_, i) => `${i}\n`).join('')));
    await new Promise((r) => setTimeout(r, 1500));
    // Five times the limit: the COPY should be over, upstream and for the client.
    const upstream = await a.query(
      "SELECT state FROM pg_stat_activity WHERE datname = $1 AND query = 'COPY t FROM STDIN'",
      [DB],
    );
    const got = await c.until('Z', 6000).catch(() => []);
    const answeredAfter = Date.now() - t0;
    expect({
      upstreamCopyActiveAt1500ms: upstream.rows.some((r) => r.state === 'active'),
      errors: errorCodes(got),
      answeredWithin2s: answeredAfter < 2000,
    }).toEqual({ upstreamCopyActiveAt1500ms: false, errors: ['57014'], answeredWithin2s: true });
    expect((await a.query('SELECT count(*)::int AS n FROM t')).rows[0].n).toBe(0);
  } finally {
    c.destroy();
    await a.end();
  }
}, 30_000);
