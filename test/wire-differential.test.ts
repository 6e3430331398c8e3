// Differential protocol test: seeded random sequences of frontend messages (extended and
// simple protocol, pipelined batches, errors mid-batch, COPY, cursors, portals with row
// counts, transactions) must get the same answer through the gateway as from PostgreSQL
// directly. WIRE_DIFF_SEEDS / WIRE_DIFF_FROM run more or other seeds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectUpstream } from '../src/upstream/connect.js';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { RawClient } from './helpers/raw.js';
import { testPg } from './pg-env.js';
import {
  DIFF_SCHEMA,
  DIFF_SESSION_SETUP,
  generate,
  play,
  sameAnswer,
  type DiffAnswer,
} from './helpers/wire-diff.js';

const DB = 'dp_wire_diff';
const SEEDS = Number(process.env.WIRE_DIFF_SEEDS ?? 300);
const FROM = Number(process.env.WIRE_DIFF_FROM ?? 1);
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, DIFF_SCHEMA);
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

async function direct(): Promise<RawClient> {
  const t = testPg();
  const s = await connectUpstream(
    {
      name: 'direct',
      host: t.host,
      port: t.port,
      database: DB,
      user: t.user,
      password: t.password,
      tls: 'disable',
      connectTimeoutMs: 5000,
    },
    {},
  );
  return new RawClient(s.socket);
}

async function run(c: RawClient, seed: number): Promise<DiffAnswer> {
  try {
    const setup = await c.simple(DIFF_SESSION_SETUP);
    if (setup.at(-1)?.type !== 'Z') throw new Error('session setup failed');
    return await play(c, generate(seed));
  } finally {
    c.destroy();
  }
}

describe('the gateway answers as PostgreSQL does', () => {
  it(`over ${SEEDS} seeded random message sequences`, async () => {
    const failures: string[] = [];
    for (let seed = FROM; seed < FROM + SEEDS; seed++) {
      const want = await run(await direct(), seed);
      const got = await run(await rawLogin(g, DB), seed);
      if (!want.finished && !want.closed) throw new Error(`seed ${seed}: PostgreSQL timed out`);
      if (sameAnswer(want, got) !== null) continue;
      const k = generate(seed);
      failures.push(
        [
          `seed ${seed}:`,
          ...k.script.map((l) => `  > ${l}`),
          '  PostgreSQL:',
          ...want.lines.map((l) => `    ${l}`),
          `  gateway${got.closed ? ' (closed)' : ''}:`,
          ...got.lines.map((l) => `    ${l}`),
        ].join('\n'),
      );
      if (failures.length >= 3) break;
    }
    // A fresh client still works after all of that.
    const c = await rawLogin(g, DB);
    expect((await c.simple('SELECT 1')).at(-1)?.type).toBe('Z');
    c.destroy();
    expect(failures.join('\n\n')).toBe('');
  }, 600_000);
});
