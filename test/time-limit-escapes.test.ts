// A statement that goes on after the cancel its time limit sent. PL/pgSQL can catch the
// cancel (EXCEPTION WHEN query_canceled) and carry on; a backend blocked writing rows to a
// client that does not read (the gateway stops reading the upstream: back-pressure) does not
// act on a cancel at all. Before, the gateway sent one cancel and did nothing more: the
// statement ran on past its limit for as long as its code liked, or, with the client
// silent, stayed active (ClientWrite) with its snapshot and locks. Now a statement still
// running half a second after its cancel ends the session (FATAL 57014), and its upstream
// backend is terminated. A deferred trigger a COMMIT runs is held to its statement's limit
// too (below).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { errorCodes, query, type RawClient } from './helpers/raw.js';

const DB = 'time_limit_past_cancel';
// About 2 GB of output per session: PostgreSQL fills the socket buffers within ~100 ms,
// long before the limit.
const SQL = "SELECT id, repeat('x', 100000) AS pad FROM big";
const SESSIONS = 12;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 20000) g;
     CREATE FUNCTION stubborn() RETURNS int LANGUAGE plpgsql AS $$
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

it('SELECTs whose clients stop reading are not left running upstream past their 300 ms limit', async () => {
  const a = await adminClient(DB);
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const c = await rawLogin(g, DB);
      clients.push(c);
      // The client sends the query and never reads the answer.
      c.sock.pause();
      await c.write(query(SQL));
    }
    // Well past the limit after the last one was sent.
    await new Promise((r) => setTimeout(r, 4000));
    const upstream = await a.query(
      'SELECT state, wait_event FROM pg_stat_activity WHERE datname = $1 AND query = $2',
      [DB, SQL],
    );
    const stuck = upstream.rows.filter((r) => r.state === 'active');
    // Another session cannot take the table while a statement still runs on it.
    const lock = await a
      .query('SET lock_timeout = 500; LOCK TABLE big IN ACCESS EXCLUSIVE MODE')
      .then(
        () => 'granted',
        (e: { code?: string }) => e.code,
      );
    expect({ stillRunningUpstream: stuck.length, lock }).toEqual({
      stillRunningUpstream: 0,
      lock: 'granted',
    });
  } finally {
    for (const c of clients) c.destroy();
    await a.end();
  }
}, 60_000);

describe('deferred triggers at COMMIT', () => {
  // timeout_ms and deferred triggers: an INSERT queues its deferred constraint trigger, which
  // PostgreSQL runs at the block's COMMIT. The gateway held a COMMIT to the time limits of the
  // WITH HOLD cursors it runs whole, and an extended group's Sync to the limit of the INSERT it
  // commits (time-limit-late-sync), but before, a COMMIT sent in a later Query ran the limited
  // INSERT's trigger with no limit at all. Now a COMMIT is held to the least limit of the
  // statements of its block.
  const DT_DB = 'time_limit_deferred_commit';
  let dt: TestGateway;

  beforeAll(async () => {
    await freshDatabase(
      DT_DB,
      `CREATE TABLE dt (id int);
     CREATE FUNCTION slow_check() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
     CREATE CONSTRAINT TRIGGER dt_check AFTER INSERT ON dt DEFERRABLE INITIALLY DEFERRED
       FOR EACH ROW EXECUTE FUNCTION slow_check();`,
    );
    // Everything is allowed; statements on dt have 300 ms.
    dt = await startTestGateway(DT_DB, { policy: { files: ['test/policies/dt-timeout.rego'] } });
  });
  afterAll(async () => dt?.stop());

  it("a COMMIT running a 300 ms INSERT's deferred trigger is cut at that limit, and the INSERT is not kept", async () => {
    const c = await rawLogin(dt, DT_DB);
    const a = await adminClient(DT_DB);
    try {
      await c.simple('BEGIN');
      // Quick: the trigger is deferred.
      expect(errorCodes(await c.simple('INSERT INTO dt VALUES (1)'))).toEqual([]);
      const t0 = Date.now();
      const r = await c.simple('COMMIT');
      const took = Date.now() - t0;
      const kept = (await a.query('SELECT count(*)::int AS n FROM dt')).rows[0].n;
      expect({ errors: errorCodes(r), cutInTime: took < 2000, kept }).toEqual({
        errors: ['57014'],
        cutInTime: true,
        kept: 0,
      });
    } finally {
      c.destroy();
      await a.end();
    }
  }, 30_000);
});
