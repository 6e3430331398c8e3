// A client that pipelines hundreds of thousands of small messages without reading its
// answers must not starve the gateway's other clients (each new message used to scan
// every unanswered one: quadratic work, 25 s of CPU for 5 MiB of `SELECT 1`).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase } from './helpers/gateway.js';
import { gatewayDir, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { RawClient, errorsOf, query } from './helpers/raw.js';

const DB = 'dp_pipeline_flood';
let gp: GatewayProcess;
beforeAll(async () => {
  await freshDatabase(DB);
  // A gateway process of its own, so that its work does not delay this test's clock.
  gp = await startGatewayProcess(gatewayDir(DB, { policy: { allowAll: true } } as never));
});
afterAll(async () => gp?.terminate());

it('another client logs in and queries while one floods without reading', async () => {
  const flood = await RawClient.connect(gp.port);
  await flood.login(DB, await gp.token());
  flood.sock.pause();
  const one = query('SELECT 1');
  const chunk = Buffer.concat(Array(Math.floor(2 ** 20 / one.length)).fill(one));
  for (let mb = 0; mb < 8; mb++) {
    if (flood.sock.write(chunk)) continue;
    const drained = await Promise.race([
      new Promise<boolean>((r) => flood.sock.once('drain', () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    if (!drained) break;
  }
  // Generous: a starved gateway took 3 to 11 s here; a healthy one takes milliseconds, and
  // up to 2.1 s on a loaded 2-core machine (which failed a 2 s bound).
  const started = Date.now();
  const other = await RawClient.connect(gp.port);
  await other.login(DB, await gp.token());
  expect(errorsOf(await other.simple('SELECT 1'))).toEqual([]);
  expect(Date.now() - started).toBeLessThan(5000);
  other.destroy();
  flood.destroy();
}, 120_000);
