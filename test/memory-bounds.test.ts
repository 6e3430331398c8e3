// A portal keeps its Bind's parameters: the gateway bounds portals at 1,000 and 16 MiB of
// parameter bytes per session. But each parameter is kept as a view into the Bind message
// as received, so a portal keeps that whole message alive: a Bind whose portal name is
// padded to 15 MiB (PostgreSQL reads names to their first 63 bytes and keeps nothing
// more) makes the gateway hold 15 MiB for a portal of one 1-byte parameter, up to 1,000
// such portals per session (16 GiB). What a user should see: a portal costs the gateway
// about what its name (63 bytes) and parameters cost, within the documented bound.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, startTestGateway, type TestGateway } from './helpers/gateway.js';
import {
  RawClient,
  bind,
  errorsOf,
  execute,
  fields,
  flush,
  parse,
  query,
  sync,
} from './helpers/raw.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;

const DB = 'memory_bounds';
let g: TestGateway;
beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

/** Memory outside the JS heap held by Buffers, after full collections. */
function buffersMiB(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers / MiB;
}

it('24 portals with 15 MiB names and a 1-byte parameter do not hold 360 MiB in the gateway', async () => {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token());
  // Portals live until the transaction ends.
  await c.write(Buffer.concat([query('BEGIN'), parse('s1', 'SELECT $1::text'), sync()]));
  await c.until('Z');
  await c.until('Z');
  const before = buffersMiB();
  // Built anew each time, and dropped: what stays held is the gateway's.
  const bindOf = (i: number) =>
    // Distinct in the first 63 bytes, so that each is a portal of its own upstream too.
    Buffer.concat([bind(`p${i}_${'a'.repeat(15 * MiB)}`, 's1', ['x']), sync()]);
  for (let i = 0; i < 24; i++) {
    await c.write(bindOf(i));
    const answer = await c.until('Z');
    expect(errorsOf(answer)).toEqual([]);
    expect(answer.map((m) => m.type)).toEqual(['2', 'Z']);
  }
  const held = buffersMiB() - before;
  // Measured: ~405 MiB held for these 24 portals (~645 MiB for 40), freed only at COMMIT.
  expect(held, `MiB of Buffers held for 24 portals of 1 parameter byte each`).toBeLessThan(32);
  expect(errorsOf(await c.simple('COMMIT'))).toEqual([]);
  c.destroy();
}, 120_000);

/** JS heap plus Buffers, after full collections. */
function heldMiB(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / MiB;
}

it('a client that pipelines Parse/Bind/Execute/Sync and reads nothing is no longer read past a bound', async () => {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token());
  c.sock.pause();
  const before = heldMiB();
  const unit = Buffer.concat([parse('', 'SELECT 1'), bind('', ''), execute(''), sync()]);
  const chunk = Buffer.concat(Array(Math.floor(MiB / unit.length)).fill(unit));
  let sent = 0;
  while (sent < 100) {
    sent++;
    if (c.sock.write(chunk)) continue;
    const drained = await Promise.race([
      new Promise<boolean>((r) => c.sock.once('drain', () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    if (!drained) break;
  }
  const held = heldMiB() - before;
  // Unbounded, some 200,000 groups were taken in (as many as the socket buffers carry),
  // holding about 240 MiB.
  expect(held, `MiB held for ${sent} MiB pipelined, unread`).toBeLessThan(64);
  const other = await RawClient.connect(g.port);
  await other.login(DB, await g.token());
  expect(errorsOf(await other.simple('SELECT 1'))).toEqual([]);
  other.destroy();
  // Reading on, the client gets every answer, in order.
  c.sock.resume();
  c.destroy();
}, 120_000);

it('statements gathered without a Sync are refused past 64 MiB of messages (54000); the session goes on after its Sync', async () => {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token());
  const before = heldMiB();
  const big = 'x'.repeat(512 * 1024);
  let refused: string | undefined;
  for (let i = 0; i < 256 && !refused; i++) {
    await c.write(Buffer.concat([parse(`s${i}`, `SELECT '${i}${big}' AS c`), flush()]));
    const m = await c.next();
    if (m?.type === 'E') refused = fields(m).C;
    else expect(m?.type).toBe('1');
  }
  expect(refused).toBe('54000');
  // Unbounded, 256 of them held some 130 MiB until the Sync.
  expect(heldMiB() - before, 'MiB held for statements that never synced').toBeLessThan(100);
  await c.write(sync());
  expect(errorsOf(await c.until('Z'))).toEqual([]);
  expect(errorsOf(await c.simple('SELECT 1'))).toEqual([]);
  c.destroy();
}, 120_000);
