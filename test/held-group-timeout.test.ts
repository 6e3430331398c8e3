// A client that sends an extended group and goes quiet before its Sync keeps what the
// gateway holds of it counted against the budget all sessions share for undecided input
// (session.maxHeldInputBytes). Before, nothing limited how long: two idle sessions each
// holding just under 4 × maxMessageBytes of Binds locked every other client out of the
// extended protocol (53200) for as long as they stayed connected. Now a group left waiting
// for its Sync is decided and sent as at a Flush after a second, and its answers come at
// the client's Sync as before.
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import {
  freshDatabase,
  gatewayClient,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, parse, rows, sync, type RawClient } from './helpers/raw.js';

const DB = 'rt_held_group_starves';
const MiB = 1024 * 1024;
let g: TestGateway;

/** Parse, then four Bind+Execute of just under 1 MiB each, no Sync: under 4 MiB, held. */
function hogGroup(): Buffer {
  const parts = [parse('', 'SELECT length($1::text)')];
  for (let i = 0; i < 4; i++) parts.push(bind('', '', ['h'.repeat(MiB - 4096)]), execute());
  return Buffer.concat(parts);
}

beforeAll(async () => {
  await freshDatabase(DB);
  // Budget: exactly the two hogs' groups and 32 bytes more; messages half sent time out
  // after 500 ms.
  g = await startTestGateway(DB, {
    session: {
      maxMessageBytes: MiB,
      messageTimeoutMs: 500,
      maxHeldInputBytes: 2 * hogGroup().length + 32,
    },
  });
});
afterAll(async () => g?.stop());

it('two idle sessions holding unsynced groups do not lock every other client out of the extended protocol', async () => {
  const hogs: RawClient[] = [];
  for (let i = 0; i < 2; i++) {
    const c = await rawLogin(g, DB);
    await c.write(hogGroup());
    hogs.push(c);
  }
  // The hogs sit idle, well past the message timeout, with no Sync.
  await new Promise((r) => setTimeout(r, 3000));
  const victim: pg.Client = await gatewayClient(g, DB);
  let err: (Error & { code?: string }) | undefined;
  let n: number | undefined;
  try {
    n = (await victim.query('SELECT $1::int AS n', [7])).rows[0].n;
  } catch (e) {
    err = e as Error & { code?: string };
  }
  await victim.end();
  expect({ code: err?.code, n }).toEqual({ code: undefined, n: 7 });
  // The held groups ran as sent: their Sync brings their four answers.
  for (const h of hogs) {
    await h.write(sync());
    const ms = await h.until('Z');
    expect(ms.filter((m) => m.type === 'E')).toEqual([]);
    expect(rows(ms)).toEqual(Array(4).fill([String(MiB - 4096)]));
    h.destroy();
  }
}, 30_000);
