// Numbers for the bench: medians, percentiles, pgbench output, and /proc CPU and memory.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Median of the finite values, or null when there are none. */
export function median(values: (number | null | undefined)[]): number | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (xs.length === 0) return null;
  xs.sort((a, b) => a - b);
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** Nearest-rank percentile (0–100) of values already sorted ascending. */
export function percentileSorted(sorted: Float64Array | number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export interface PgbenchSummary {
  tps: number | null;
  transactions: number | null;
  failed: number | null;
  latencyAvgMs: number | null;
}

/** Reads the summary pgbench prints at the end of a run (PostgreSQL 15 wording). */
export function parsePgbenchOutput(text: string): PgbenchSummary {
  const num = (re: RegExp): number | null => {
    const m = re.exec(text);
    return m ? Number(m[1]) : null;
  };
  return {
    tps: num(/^tps = ([\d.]+)/m),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/),
    latencyAvgMs: num(/latency average = ([\d.]+) ms/),
  };
}

/**
 * Per-transaction latencies (µs) from `pgbench -l` files: each line is
 * `client_id transaction_no time script_no time_epoch time_us`, `time` being the latency.
 */
export function readPgbenchLogLatencies(dir: string, prefix: string): Float64Array {
  const values: number[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(prefix + '.')) continue;
    for (const line of readFileSync(`${dir}/${f}`, 'utf8').split('\n')) {
      const parts = line.split(' ');
      if (parts.length < 6) continue;
      const us = Number(parts[2]);
      if (Number.isFinite(us)) values.push(us);
    }
  }
  return Float64Array.from(values).sort();
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks: live time plus that of reaped children. */
  ticks: number;
}

function readStat(pid: number): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): field n is f[n - 3].
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { pid, ppid: Number(f[1]), ticks };
  } catch {
    return null;
  }
}

/** The given processes and all their live descendants. */
export function processTree(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = roots.filter((p) => p > 0);
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * CPU time (µs) used so far by the process trees under `roots`. Reaped children are counted
 * through their parent's cutime/cstime, so a delta stays right when workers come and go.
 */
export function treeCpuMicros(roots: number[]): number {
  let ticks = 0;
  for (const pid of processTree(roots)) ticks += readStat(pid)?.ticks ?? 0;
  return (ticks * 1e6) / ticksPerSecond();
}

export interface MemorySample {
  /** Sum of VmRSS over the tree (counts shared pages once per process). */
  rssKb: number;
  /** Sum of Pss over the tree (shared pages split between processes). */
  pssKb: number | null;
  processes: number;
}

function statusKb(pid: number, file: string, key: string): number | null {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/${file}`, 'utf8'),
    );
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Resident memory of the process trees under `roots`. */
export function treeMemory(roots: number[]): MemorySample {
  const pids = processTree(roots);
  let rssKb = 0;
  let pssKb: number | null = 0;
  for (const pid of pids) {
    rssKb += statusKb(pid, 'status', 'VmRSS') ?? 0;
    const pss = statusKb(pid, 'smaps_rollup', 'Pss');
    pssKb = pss === null || pssKb === null ? null : pssKb + pss;
  }
  return { rssKb, pssKb, processes: pids.length };
}
