// The workloads of BENCHMARKS.md: pgbench runs against one target, and held idle connections.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { RunningTarget } from './peers.js';
import { run } from './procs.js';
import {
  parsePgbenchOutput,
  percentileSorted,
  readPgbenchLogLatencies,
  treeCpuMicros,
  treeMemory,
} from './stats.js';

export interface Workload {
  id: string;
  title: string;
  /** pgbench arguments besides connection, -T and logging. */
  args: string[];
  /** Collect per-transaction latencies with `pgbench -l`. */
  latency?: boolean;
}

export const WORKLOADS: Workload[] = [
  { id: 'W1', title: '-S -c 1 (latency)', args: ['-S', '-c', '1'], latency: true },
  { id: 'W2', title: '-S -c 8 -j 2 simple', args: ['-S', '-c', '8', '-j', '2'] },
  {
    id: 'W3',
    title: '-S -M extended -c 8 -j 2',
    args: ['-S', '-M', 'extended', '-c', '8', '-j', '2'],
  },
  {
    id: 'W4',
    title: '-S -M prepared -c 8 -j 2',
    args: ['-S', '-M', 'prepared', '-c', '8', '-j', '2'],
  },
  { id: 'W5', title: 'TPC-B -c 8 -j 2 (transactions)', args: ['-c', '8', '-j', '2'] },
  {
    id: 'W7',
    title: '10 reads per pipelined batch -M extended -c 8 -j 2',
    args: [
      '-f',
      fileURLToPath(new URL('./scripts/pipeline.sql', import.meta.url)),
      '-M',
      'extended',
      '-c',
      '8',
      '-j',
      '2',
    ],
  },
  { id: 'W8', title: '-S -C -c 8 -j 2 reconnect', args: ['-S', '-C', '-c', '8', '-j', '2'] },
  { id: 'W10', title: '-S -c 64 -j 2', args: ['-S', '-c', '64', '-j', '2'] },
];

/** Clients the busiest workload opens at once. */
export const MAX_LOAD_CLIENTS = 64;

export interface PgbenchResult {
  target: string;
  workload: string;
  round: number;
  ok: boolean;
  error?: string;
  tps: number | null;
  transactions: number | null;
  /** Proxy CPU (all its processes) during the run, per transaction. */
  cpuUsPerTx: number | null;
  /** Proxy resident memory at the end of the run. */
  rssKb: number | null;
  p50Us?: number | null;
  p99Us?: number | null;
  /** 1-minute load average when the run started: how busy the shared machine was. */
  load1: number;
}

const PGBENCH = '/usr/bin/pgbench';

/** libpq environment that points psql/pgbench at a target. */
export function pgEnv(
  t: Pick<RunningTarget, 'host' | 'port' | 'user' | 'database' | 'password'>,
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PGHOST: t.host,
    PGPORT: String(t.port),
    PGUSER: t.user,
    PGDATABASE: t.database,
    PGPASSWORD: t.password,
    PGSSLMODE: 'disable',
    PGAPPNAME: 'portcullis-bench',
  };
}

/** One pgbench run of `seconds` against a target, with the proxy's CPU measured around it. */
export async function runPgbench(
  t: RunningTarget,
  w: Workload,
  seconds: number,
  round: number,
  tmpDir = tmpdir(),
): Promise<PgbenchResult> {
  const logDir = w.latency ? mkdtempSync(join(tmpDir, 'pgbench-log-')) : null;
  const args = [...w.args, '-T', String(seconds), '-n'];
  if (logDir) args.push('-l', `--log-prefix=${join(logDir, 'tx')}`);
  const load1 = Number(loadavg()[0].toFixed(2));
  const cpu0 = t.pids.length ? treeCpuMicros(t.pids) : null;
  const r = await run(PGBENCH, args, {
    env: pgEnv(t),
    cwd: logDir ?? undefined,
    timeoutMs: (seconds + 90) * 1000,
  });
  const cpu1 = t.pids.length ? treeCpuMicros(t.pids) : null;
  const s = parsePgbenchOutput(r.stdout);
  const res: PgbenchResult = {
    target: t.name,
    workload: w.id,
    round,
    ok: r.code === 0 && s.tps !== null,
    tps: s.tps,
    transactions: s.transactions,
    cpuUsPerTx:
      cpu0 !== null && cpu1 !== null && s.transactions ? (cpu1 - cpu0) / s.transactions : null,
    rssKb: t.pids.length ? treeMemory(t.pids).rssKb : null,
    load1,
  };
  if (!res.ok) {
    const msg = (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ');
    res.error = `pgbench exit ${r.code}: ${msg.slice(0, 300)}`;
  }
  if (logDir) {
    const lat = readPgbenchLogLatencies(logDir, 'tx');
    res.p50Us = percentileSorted(lat, 50);
    res.p99Us = percentileSorted(lat, 99);
    rmSync(logDir, { recursive: true, force: true });
  }
  return res;
}

export interface IdleResult {
  target: string;
  requested: number;
  opened: number;
  error?: string;
  rssBeforeKb: number | null;
  rssKb: number | null;
  pssKb: number | null;
  processes: number | null;
  kbPerConnection: number | null;
}

/**
 * Opens `count` client connections through the target (each completes startup and
 * authentication: ReadyForQuery), holds them idle, and reads the proxy's memory.
 */
export async function measureIdle(
  t: RunningTarget,
  count: number,
  settleMs = 2000,
): Promise<IdleResult> {
  const before = t.pids.length ? treeMemory(t.pids) : null;
  const clients: pg.Client[] = [];
  let error: string | undefined;
  const batch = 25;
  try {
    for (let i = 0; i < count; i += batch) {
      const group = Array.from({ length: Math.min(batch, count - i) }, () => {
        const c = new pg.Client({
          host: t.host,
          port: t.port,
          user: t.user,
          database: t.database,
          password: t.password,
          connectionTimeoutMillis: 30000,
        });
        c.on('error', () => {});
        return c;
      });
      const settled = await Promise.allSettled(group.map((c) => c.connect()));
      settled.forEach((s, j) => {
        if (s.status === 'fulfilled') clients.push(group[j]);
        else error ??= String((s.reason as Error)?.message ?? s.reason);
      });
      if (error) break;
    }
    await new Promise((r) => setTimeout(r, settleMs));
    const after = t.pids.length ? treeMemory(t.pids) : null;
    return {
      target: t.name,
      requested: count,
      opened: clients.length,
      error,
      rssBeforeKb: before?.rssKb ?? null,
      rssKb: after?.rssKb ?? null,
      pssKb: after?.pssKb ?? null,
      processes: after?.processes ?? null,
      kbPerConnection:
        before && after && clients.length ? (after.rssKb - before.rssKb) / clients.length : null,
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.end()));
  }
}
