// The gateway-wide budget for undecided client input counts each byte once and lets it go
// when it is no longer held; a unit of work's count of bytes sent without a Sync ends with it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { RawClient, bind, errorsOf, execute, flush, parse, query, sync } from './helpers/raw.js';

const DB = 'held_input_accounting';
const MiB = 1024 * 1024;
let g: TestGateway;
beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

const held = () => (g.gw as any).context.heldInput.bytes as number;
const bigBind = (n: number) => bind('', '', ['b'.repeat(n)]);
/** `n` statements of 15 MiB each, sent with no Sync after them. */
async function bigStatements(c: RawClient, n: number): Promise<void> {
  const big = bigBind(15 * MiB);
  await c.write(parse('', 'SELECT length($1::text)'));
  for (let k = 0; k < n; k++) await c.write(Buffer.concat([big, execute()]));
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function login(): Promise<RawClient> {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token());
  return c;
}

it('bytes pipelined behind a barrier leave the budget once read: an idle session holds none', async () => {
  const c = await login();
  expect(held()).toBe(0);
  // A Query that may change a parser setting sets a barrier; the group behind it (1.5 MiB)
  // waits in the reader, is counted, then read once the barrier lifts.
  await c.write(
    Buffer.concat([
      query("SELECT set_config('application_name', 'x', false)"),
      parse('', 'SELECT length($1::text)'),
      bigBind(40_000),
      execute(),
      sync(),
    ]),
  );
  const a = await c.until('Z');
  const b = await c.until('Z');
  expect(errorsOf([...a, ...b])).toEqual([]);
  await sleep(300);
  // Everything is answered, the session is idle and holds nothing undecided.
  const idleHeld = held();
  c.destroy();
  await sleep(300);
  expect(held()).toBe(0);
  expect(idleHeld, 'bytes counted as held by an idle session').toBe(0);
});

it('a group after one that failed past a Flush is not refused as "64 MiB without a Sync"', async () => {
  const c = await login();
  // Group 1: three 15 MiB statements sent at a Flush (45 MiB), then one that fails
  // upstream before the Sync: PostgreSQL skips to the Sync.
  await bigStatements(c, 3);
  await c.write(flush());
  await c.write(Buffer.concat([parse('', 'SELECT 1/0'), bind('', ''), execute(), flush()]));
  // The error comes before the client's Sync is sent (as a client that reads as it goes).
  const e1 = await c.until('E', 30_000);
  await c.write(sync());
  const r1 = [...e1, ...(await c.until('Z', 30_000))];
  expect(errorsOf(r1).map((e) => e[1])).toEqual(['22012']);
  // Group 2, ended by its Sync: two 15 MiB statements (30 MiB).
  await bigStatements(c, 2);
  await c.write(sync());
  const r2 = await c.until('Z', 30_000);
  c.destroy();
  expect(errorsOf(r2)).toEqual([]);
  expect(r2.filter((m) => m.type === 'D').length).toBe(2);
}, 60_000);

it('a group after statements sent at a Flush and then a simple Query is not refused as "64 MiB without a Sync"', async () => {
  const c = await login();
  await bigStatements(c, 3);
  await c.write(flush());
  // A Query ends that unit of work in PostgreSQL (it answers with ReadyForQuery).
  await c.write(query('SELECT 1'));
  const r1 = await c.until('Z', 30_000);
  expect(errorsOf(r1)).toEqual([]);
  await bigStatements(c, 2);
  await c.write(sync());
  const r2 = await c.until('Z', 30_000);
  c.destroy();
  expect(errorsOf(r2)).toEqual([]);
}, 60_000);

describe('a 40 MiB budget', () => {
  let g2: TestGateway;
  beforeAll(async () => {
    g2 = await startTestGateway(DB, { session: { maxHeldInputBytes: 40 * MiB } as never });
  });
  afterAll(async () => g2?.stop());

  it('one session alone, a 30 MiB group (two 15 MiB Binds) is not refused 53200', async () => {
    const c = await RawClient.connect(g2.port);
    await c.login(DB, await g2.token());
    await c.write(
      Buffer.concat([
        parse('', 'SELECT length($1::text)'),
        bigBind(15 * MiB),
        execute(),
        bigBind(15 * MiB),
        execute(),
        sync(),
      ]),
    );
    const r = await c.until('Z', 30_000);
    c.destroy();
    // Nothing else is held by the gateway: 30 MiB fit in 40.
    expect(errorsOf(r)).toEqual([]);
    expect(r.filter((m) => m.type === 'D').length).toBe(2);
  }, 60_000);
});
