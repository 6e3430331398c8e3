// timeout_ms against a statement that catches the cancel: the gateway cancels a statement
// that runs past timeout_ms (57014), and PostgreSQL raises that as an ERROR that PL/pgSQL
// code can catch (EXCEPTION WHEN query_canceled) and carry on. Before, the statement then
// went on past its limit for as long as its code liked, while the gateway neither cancelled
// again nor ended the session. Now a statement still running half a second after its cancel
// ends the session (FATAL 57014), and its upstream backend is terminated.
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { errorCodes, query } from './helpers/raw.js';

const DB = 'time_limit_caught_cancel';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE FUNCTION stubborn() RETURNS int LANGUAGE plpgsql AS $$
     BEGIN
       FOR i IN 1..20 LOOP
         BEGIN
           PERFORM pg_sleep(0.2);
         EXCEPTION WHEN query_canceled THEN
           NULL;
         END;
       END LOOP;
       RETURN 1;
     END $$;`,
  );
  // Everything is allowed, with 300 ms.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/timeout-all.rego'] } });
});
afterAll(async () => g?.stop());

it('a statement that catches the cancel is still stopped at (about) its 300 ms limit', async () => {
  const c = await rawLogin(g, DB);
  const a = await adminClient(DB);
  try {
    const t0 = Date.now();
    await c.write(query('SELECT stubborn()'));
    // Five times the limit.
    await new Promise((r) => setTimeout(r, 1500));
    const upstream = await a.query(
      "SELECT state FROM pg_stat_activity WHERE datname = $1 AND query = 'SELECT stubborn()'",
      [DB],
    );
    const ms = await c.until('Z', 10_000).catch(() => []);
    expect({
      upstreamActiveAt1500ms: upstream.rows.some((r) => r.state === 'active'),
      errors: errorCodes(ms),
      answeredWithin1500ms: Date.now() - t0 < 1600,
    }).toEqual({ upstreamActiveAt1500ms: false, errors: ['57014'], answeredWithin1500ms: true });
  } finally {
    c.destroy();
    await a.end();
  }
}, 30_000);
