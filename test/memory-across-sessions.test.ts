// Memory across sessions: each session may hold an extended group without a Sync of up to
// four times the largest message before it is decided, and a message half received. Summed
// over sessions that came to gigabytes (40 sessions each holding a 60 MiB group took a
// gateway process from 125 MiB to 2.5 GiB of RSS): `session.maxHeldInputBytes` bounds the
// sum; past it a group is refused with 53200, and other clients are served.
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase } from './helpers/gateway.js';
import { gatewayDir, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { RawClient, bind, errorsOf, parse, sync, errorCodes } from './helpers/raw.js';

const DB = 'memory_across_sessions';
const MiB = 1024 * 1024;
let gp: GatewayProcess;
let dir: string;
beforeAll(async () => {
  await freshDatabase(DB);
  dir = gatewayDir(DB, {
    policy: { allowAll: true },
    session: { maxHeldInputBytes: 64 * MiB },
  });
  gp = await startGatewayProcess(dir);
});
afterAll(async () => {
  await gp?.terminate();
  rmSync(dir, { recursive: true, force: true });
});

function rssMiB(): number {
  const s = readFileSync(`/proc/${gp.running.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024;
}

it('12 sessions each sending a 60 MiB group without a Sync stay within the budget; the rest get 53200', async () => {
  const before = rssMiB();
  // A Bind of the unnamed statement with one 15 MiB parameter: under the 16 MiB message cap.
  const bigBind = bind('', '', ['b'.repeat(15 * MiB)]);
  const clients = await Promise.all(
    Array.from({ length: 12 }, async () => {
      const c = await RawClient.connect(gp.port);
      await c.login(DB, await gp.token());
      return c;
    }),
  );
  await Promise.all(
    clients.map(async (c) => {
      await c.write(parse('', 'SELECT $1::text'));
      for (let k = 0; k < 4; k++) await c.write(bigBind);
    }),
  );
  // Let the gateway read what it will.
  await new Promise((r) => setTimeout(r, 1500));
  const grown = rssMiB() - before;
  // Other clients are still served meanwhile.
  const other = await RawClient.connect(gp.port);
  await other.login(DB, await gp.token());
  expect(errorsOf(await other.simple('SELECT 1'))).toEqual([]);
  other.destroy();
  // Each flooding session ends its group with a Sync: those the budget refused get 53200.
  const codes = await Promise.all(
    clients.map(async (c) => {
      await c.write(sync());
      const ms = await c.until('Z', 20_000);
      return errorCodes(ms);
    }),
  );
  for (const c of clients) c.destroy();
  expect(codes.filter((c) => c.includes('53200')).length).toBeGreaterThan(0);
  // Unbounded, these 12 sessions added some 775 MiB.
  expect(grown, 'MiB of gateway RSS added by 12 sessions holding undecided groups').toBeLessThan(
    384,
  );
}, 180_000);
