// timeout_ms and deferred triggers: an INSERT queues its deferred constraint trigger, which
// PostgreSQL runs at the block's COMMIT. The gateway held a COMMIT to the time limits of the
// WITH HOLD cursors it runs whole, and an extended group's Sync to the limit of the INSERT it
// commits (time-limit-late-sync), but before, a COMMIT sent in a later Query ran the limited
// INSERT's trigger with no limit at all. Now a COMMIT is held to the least limit of the
// statements of its block.
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { errorCodes } from './helpers/raw.js';

const DB = 'time_limit_deferred_commit';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE dt (id int);
     CREATE FUNCTION slow_check() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
     CREATE CONSTRAINT TRIGGER dt_check AFTER INSERT ON dt DEFERRABLE INITIALLY DEFERRED
       FOR EACH ROW EXECUTE FUNCTION slow_check();`,
  );
  // Everything is allowed; statements on dt have 300 ms.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/dt-timeout.rego'] } });
});
afterAll(async () => g?.stop());

it("a COMMIT running a 300 ms INSERT's deferred trigger is cut at that limit, and the INSERT is not kept", async () => {
  const c = await rawLogin(g, DB);
  const a = await adminClient(DB);
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
