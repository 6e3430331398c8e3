// Recording append micro-benchmark: 8 concurrent writers, 'fsync' / 'write' / 'off' durability.
// Usage: npx tsx bench/record-append.ts [seconds-per-mode] [--dir DIR]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRecorder } from '../src/record/recorder.js';
import { edKeys, startInfo, stmt } from '../src/record/testkit.js';
import type { Durability } from '../src/record/types.js';

const seconds = Number(process.argv[2] ?? 5);
const dirArg = process.argv.indexOf('--dir');
const baseDir = dirArg > 0 ? process.argv[dirArg + 1] : tmpdir();
const WRITERS = 8;
const keys = edKeys();

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function run(
  durability: Durability,
  syncMethod: 'open_datasync' | 'fdatasync' = 'open_datasync',
) {
  const dir = await mkdtemp(join(baseDir, 'pcl-bench-'));
  const rec = createRecorder({
    spoolDir: dir,
    durability,
    syncMethod,
    checkpoint: { signingKey: keys.privateJwk, everyEvents: 1000, everyMs: 1000 },
  });
  const sessions = await Promise.all(
    Array.from({ length: WRITERS }, (_, i) =>
      rec.openSession(startInfo({ sessionId: `bench-${i}` })),
    ),
  );
  const ev = stmt('SELECT abalance FROM pgbench_accounts WHERE aid = $1');
  const lat: number[] = [];
  const before = rec.stats();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  await Promise.all(
    sessions.map(async (s) => {
      while (performance.now() < end) {
        const t = performance.now();
        const seq = await s.statement(ev);
        lat.push(performance.now() - t);
        s.result(seq, { outcome: 'ok', duration_ms: 0.1, rows: 1, command_tag: 'SELECT 1' });
        n++;
        // A statement's round trip to PostgreSQL yields to the event loop; so do we.
        await new Promise<void>((r) => setImmediate(r));
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const after = rec.stats();
  await rec.close();
  await rm(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  const syncs = after.syncs - before.syncs;
  const writes = after.writes - before.writes;
  return {
    durability: durability === 'fsync' ? `fsync (${syncMethod})` : durability,
    statements_per_s: Math.round(n / elapsed),
    events_per_s: Math.round((2 * n) / elapsed),
    p50_us: Math.round(pct(lat, 50) * 1000),
    p99_us: Math.round(pct(lat, 99) * 1000),
    writes_per_s: Math.round(writes / elapsed),
    fsyncs_per_s: Math.round(syncs / elapsed),
    events_per_write: +((2 * n) / Math.max(1, writes)).toFixed(1),
    cpu_us_per_statement: +(((cpu.user + cpu.system) / n) * 1).toFixed(1),
  };
}

/** CPU cost of building and hashing the two events of one statement, without I/O. */
async function serializeCost() {
  const dir = await mkdtemp(join(baseDir, 'pcl-bench-'));
  const rec = createRecorder({ spoolDir: dir, durability: 'off' });
  const s = await rec.openSession(startInfo({ sessionId: 'cpu' }));
  const ev = stmt('SELECT abalance FROM pgbench_accounts WHERE aid = $1');
  const N = 20000;
  for (let round = 0; round < 2; round++) {
    const t = performance.now();
    for (let i = 0; i < N; i++) {
      void s.statement(ev);
      s.result(i, { outcome: 'ok', duration_ms: 0.1, rows: 1, command_tag: 'SELECT 1' });
      if (i % 500 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    if (round === 1)
      console.log(
        `serialize+hash, 2 events per statement: ${(((performance.now() - t) / N) * 1000).toFixed(1)} us per statement (incl. async writes)`,
      );
  }
  await rec.close();
  await rm(dir, { recursive: true, force: true });
}

const rows = [];
await serializeCost();
rows.push(await run('fsync', 'open_datasync'));
rows.push(await run('fsync', 'fdatasync'));
for (const mode of ['write', 'off'] as Durability[]) rows.push(await run(mode));
console.log(
  `record-append: ${WRITERS} concurrent writers, ${seconds}s per mode, spool in ${baseDir}`,
);
console.table(rows);
