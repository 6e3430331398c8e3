// A time limit that runs out just as its statement completes: the gateway's cancel goes
// upstream on a connection of its own and may land after the statement is done. The
// statement the client sends next, once it has the answer, must not take that cancel.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { errorCodes, extendedStep, sync } from './helpers/raw.js';

const DB = 'time_limit_cancel_race';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, {
    policy: { files: ['test/policies/limited-text-timeout.rego'] },
  });
});
afterAll(async () => g?.stop());

it('the statement sent after one whose limit ran out as it completed is never cancelled', async () => {
  const c = await rawLogin(g, DB);
  const hits: string[] = [];
  try {
    for (let i = 0; i < 40; i++) {
      // Ends within a few ms of its 200 ms limit, either side.
      const s = 0.195 + (i % 20) * 0.001;
      await c.simple(`SELECT pg_catalog.pg_sleep(${s}) AS limited`);
      const next = errorCodes(await c.simple('SELECT pg_catalog.pg_sleep(0.02) AS free'));
      if (next.length) hits.push(`after sleep ${s}: ${next.join(',')}`);
    }
  } finally {
    c.destroy();
  }
  expect(hits).toEqual([]);
}, 60_000);

it('a group pipelined behind one whose limit ran out as it completed is never cancelled', async () => {
  // Before, the second group went upstream while the first ran, and took the cancel meant
  // for the first when that one completed just as its limit ran out.
  const c = await rawLogin(g, DB);
  const hits: string[] = [];
  try {
    for (let i = 0; i < 40; i++) {
      const s = 0.195 + (i % 20) * 0.001;
      await c.write(
        Buffer.concat([
          ...extendedStep(`SELECT pg_catalog.pg_sleep(${s}) AS limited`),
          sync(),
          ...extendedStep('SELECT pg_catalog.pg_sleep(0.02) AS free'),
          sync(),
        ]),
      );
      await c.until('Z');
      const next = errorCodes(await c.until('Z'));
      if (next.length) hits.push(`after sleep ${s}: ${next.join(',')}`);
    }
  } finally {
    c.destroy();
  }
  expect(hits).toEqual([]);
}, 60_000);
