// Differential protocol test: seeded random sequences of frontend messages (extended and
// simple protocol, pipelined batches, errors mid-batch, COPY, cursors, portals with row
// counts, transactions) must get the same answer through the gateway as from PostgreSQL
// directly, with recording off and with write-ahead recording on (whose forwarding waits
// for the spool). WIRE_DIFF_SEEDS / WIRE_DIFF_FROM run more or other seeds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordingConfig } from '../src/config/index.js';
import { dirSource, verifyRecording } from '../src/record/index.js';
import { buildRecorder } from '../src/runtime/recording.js';
import { connectUpstream } from '../src/upstream/connect.js';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import {
  RawClient,
  bind,
  copyData,
  describe as describeMsg,
  execute,
  flush,
  msg,
  parse,
  query,
  sync,
} from './helpers/raw.js';
import { testPg } from './pg-env.js';
import {
  DIFF_SCHEMA,
  DIFF_SESSION_SETUP,
  generate,
  play,
  sameAnswer,
  type DiffAnswer,
  type DiffCase,
} from './helpers/wire-diff.js';

const DB = 'dp_wire_diff';
const SEEDS = Number(process.env.WIRE_DIFF_SEEDS ?? 300);
const FROM = Number(process.env.WIRE_DIFF_FROM ?? 1);

beforeAll(async () => {
  await freshDatabase(DB, DIFF_SCHEMA);
});

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
  s.socket.resume();
  return new RawClient(s.socket);
}

async function run(c: RawClient, k: DiffCase): Promise<DiffAnswer> {
  try {
    const setup = await c.simple(DIFF_SESSION_SETUP);
    if (setup.at(-1)?.type !== 'Z') throw new Error('session setup failed');
    return await play(c, k);
  } finally {
    c.destroy();
  }
}

/** The case's answers from PostgreSQL and through the gateway, described if they differ. */
async function difference(g: TestGateway, k: DiffCase, name: string): Promise<string | null> {
  const want = await run(await direct(), k);
  const got = await run(await rawLogin(g, DB), k);
  if (!want.finished && !want.closed) throw new Error(`${name}: PostgreSQL timed out`);
  if (sameAnswer(want, got) !== null) return null;
  return [
    `${name}:`,
    ...k.script.map((l) => `  > ${l}`),
    '  PostgreSQL:',
    ...want.lines.map((l) => `    ${l}`),
    `  gateway${got.closed ? ' (closed)' : ''}:`,
    ...got.lines.map((l) => `    ${l}`),
  ].join('\n');
}

/** Play seeds [from, from + count) both ways; the first few differences, described. */
async function differences(g: TestGateway, from: number, count: number): Promise<string> {
  const failures: string[] = [];
  for (let seed = from; seed < from + count && failures.length < 3; seed++) {
    const d = await difference(g, generate(seed), `seed ${seed}`);
    if (d) failures.push(d);
  }
  // A fresh client still works after all of that.
  const c = await rawLogin(g, DB);
  expect((await c.simple('SELECT 1')).at(-1)?.type).toBe('Z');
  c.destroy();
  return failures.join('\n\n');
}

/** A case from labelled messages, written one message per write (as slow clients do). */
function sequence(...steps: [string, Buffer][]): DiffCase {
  const end: [string, Buffer][] = [
    ['Sync', sync()],
    ['Query ROLLBACK', query('ROLLBACK')],
    ['Query end marker', query("SELECT 'end' AS marker")],
  ];
  const all = [...steps, ...end];
  return { script: all.map(([l]) => l), pieces: all.map(([, b]) => b) };
}

const copyFrom = (): [string, Buffer][] => [
  ['Parse COPY w FROM STDIN', parse('', 'COPY w FROM STDIN')],
  ['Bind', bind('', '')],
  ['Execute', execute()],
];

/** Sequences the random runs once found the gateway answering differently. */
const FOUND: Record<string, DiffCase> = {
  'an error in extended messages sent with no Sync, then a Query': sequence(
    ['Close P p', msg('C', Buffer.from('Pp\0'))],
    ['Describe S never-parsed', describeMsg('S', 'never-parsed')],
    ['Flush', flush()],
    ['Query BEGIN', query('BEGIN')],
    ['Parse', parse('', 'SELECT 1')],
    ['Bind', bind('', '')],
    ['Execute', execute()],
  ),
  'a COPY failed early, then a second COPY by Execute whose data comes before the answer': sequence(
    ['Query COPY w FROM STDIN', query('COPY w FROM STDIN')],
    ['CopyFail', msg('f', Buffer.from('stop\0'))],
    ...copyFrom(),
    ['CopyData', copyData('1\tx\n')],
    ['CopyDone', msg('c')],
    ['Query SELECT count(*) FROM w', query('SELECT count(*) FROM w')],
  ),
  'a batch failing at a name PostgreSQL does not have keeps the unnamed statement': sequence(
    ['Parse EXECUTE q', parse('', 'EXECUTE q')],
    ['Bind', bind('', '')],
    ['Execute', execute()],
    ['Sync', sync()],
    ['Describe S -', describeMsg('S', '')],
  ),
  'DISCARD ALL keeps the unnamed statement': sequence(
    ['Parse DISCARD ALL', parse('', 'DISCARD ALL')],
    ['Bind', bind('', '')],
    ['Execute', execute()],
    ['Bind', bind('', '')],
    ['Execute', execute()],
  ),
};

describe('the gateway answers as PostgreSQL does', () => {
  let g: TestGateway | undefined;
  afterAll(async () => g?.stop());

  it.each(Object.keys(FOUND))('%s', async (name) => {
    g ??= await startTestGateway(DB);
    expect(await difference(g, FOUND[name], name)).toBeNull();
  });

  it(`over ${SEEDS} seeded random message sequences`, async () => {
    g ??= await startTestGateway(DB);
    expect(await differences(g, FROM, SEEDS)).toBe('');
  }, 600_000);

  it('with every statement row-limited (holds behind limited statements in a block)', async () => {
    const lg = await startTestGateway(DB, {
      policy: { files: ['test/policies/allow-limited.rego'] },
    });
    try {
      expect(await differences(lg, FROM, Math.ceil(SEEDS / 3))).toBe('');
    } finally {
      await lg.stop();
    }
  }, 600_000);

  it('with write-ahead recording, and the recording verifies', async () => {
    const base = mkdtempSync(join(tmpdir(), 'portcullis-wirediff-'));
    const spoolDir = join(base, 'spool');
    const recording: RecordingConfig = { enabled: true, spoolDir, durability: 'fsync' };
    const recorder = (await buildRecorder(recording, base, '.data'))!;
    const rg = await startTestGateway(DB, { recording }, { recorder });
    try {
      expect(await differences(rg, FROM, Math.ceil(SEEDS / 3))).toBe('');
      await rg.stop();
      await recorder.close();
      const report = await verifyRecording(dirSource(join(base, '.data', 'recordings')));
      expect(report.breaks).toEqual([]);
      expect(report.sealed).toBe(true);
      // One chain per session (and the gateway's), each with its statements.
      expect(report.chains).toBeGreaterThan(Math.ceil(SEEDS / 3));
      expect(report.events).toBeGreaterThan(4 * Math.ceil(SEEDS / 3));
    } finally {
      await rg.stop().catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    }
  }, 600_000);
});
