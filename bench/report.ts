// Turns raw bench runs into medians, ratios and the target check, as a table and as JSON.
import type { IdleResult, PgbenchResult, Workload } from './workloads.js';
import { median } from './stats.js';

export interface Cell {
  target: string;
  workload: string;
  runs: number;
  failed: number;
  error?: string;
  tps: number | null;
  /** Medians of per-round ratios (each ratio taken between runs of the same round). */
  vsDirect: number | null;
  vsPgbouncer: number | null;
  vsPgpool: number | null;
  cpuUsPerTx: number | null;
  rssMb: number | null;
  p50Us?: number | null;
  p99Us?: number | null;
  /** Median over rounds of (target p50 − direct p50) in the same round. */
  addedP50Us?: number | null;
  addedP99Us?: number | null;
}

export interface Goal {
  what: string;
  target: string;
  limit: string;
  measured: number | null;
  pass: boolean | null;
}

const round1 = (x: number | null | undefined, d = 2): number | null =>
  typeof x === 'number' && Number.isFinite(x) ? Number(x.toFixed(d)) : null;

function ratioPerRound(
  runs: PgbenchResult[],
  target: string,
  workload: string,
  ref: string,
  pick: (r: PgbenchResult) => number | null | undefined,
  op: (a: number, b: number) => number,
): number | null {
  const byRound = new Map<number, { a?: number; b?: number }>();
  for (const r of runs) {
    if (r.workload !== workload || !r.ok) continue;
    const v = pick(r);
    if (typeof v !== 'number') continue;
    const e = byRound.get(r.round) ?? {};
    if (r.target === target) e.a = v;
    if (r.target === ref) e.b = v;
    byRound.set(r.round, e);
  }
  const values = [...byRound.values()]
    .filter((e) => e.a !== undefined && e.b !== undefined && (e.b !== 0 || op(1, 1) === 0))
    .map((e) => op(e.a!, e.b!));
  return median(values);
}

/** One cell per target × workload, in run order. */
export function summarize(runs: PgbenchResult[], targets: string[], workloads: Workload[]): Cell[] {
  const cells: Cell[] = [];
  const div = (a: number, b: number) => a / b;
  const sub = (a: number, b: number) => a - b;
  for (const w of workloads) {
    for (const t of targets) {
      const mine = runs.filter((r) => r.target === t && r.workload === w.id);
      if (mine.length === 0) continue;
      const ok = mine.filter((r) => r.ok);
      const ratio = (ref: string) =>
        t === ref ? null : ratioPerRound(runs, t, w.id, ref, (r) => r.tps, div);
      const cell: Cell = {
        target: t,
        workload: w.id,
        runs: mine.length,
        failed: mine.length - ok.length,
        error: mine.find((r) => r.error)?.error,
        tps: round1(median(ok.map((r) => r.tps)), 0),
        vsDirect: round1(ratio('direct')),
        vsPgbouncer: round1(ratio('pgbouncer')),
        vsPgpool: round1(ratio('pgpool')),
        cpuUsPerTx: round1(median(ok.map((r) => r.cpuUsPerTx)), 1),
        rssMb: round1(median(ok.map((r) => (r.rssKb === null ? null : r.rssKb / 1024))), 1),
      };
      if (w.latency) {
        cell.p50Us = round1(median(ok.map((r) => r.p50Us)), 0);
        cell.p99Us = round1(median(ok.map((r) => r.p99Us)), 0);
        if (t !== 'direct') {
          cell.addedP50Us = round1(
            ratioPerRound(runs, t, w.id, 'direct', (r) => r.p50Us, sub),
            0,
          );
          cell.addedP99Us = round1(
            ratioPerRound(runs, t, w.id, 'direct', (r) => r.p99Us, sub),
            0,
          );
        }
      }
      cells.push(cell);
    }
  }
  return cells;
}

/** The performance targets of the gateway, checked for every gateway level that ran. */
export function checkGoals(cells: Cell[], idle: IdleResult[], gatewayNames: string[]): Goal[] {
  const goals: Goal[] = [];
  const cell = (t: string, w: string) => cells.find((c) => c.target === t && c.workload === w);
  for (const g of gatewayNames) {
    if (g.startsWith('gw-record')) {
      // Recording's own goal: at most 10% TPS lost against the same policy unrecorded.
      const base = cell('gw-policy', 'W3')?.vsDirect ?? null;
      const mine = cell(g, 'W3')?.vsDirect ?? null;
      const m = base && mine !== null ? round1(mine / base, 2) : null;
      goals.push({
        what: 'W3 TPS / gw-policy (recording cost)',
        target: g,
        limit: '>= 0.9',
        measured: m,
        pass: m === null ? null : m >= 0.9,
      });
      continue;
    }
    const ratioGoal = (w: string, min: number) => {
      const m = cell(g, w)?.vsPgbouncer ?? null;
      goals.push({
        what: `${w} TPS / pgbouncer`,
        target: g,
        limit: `>= ${min}`,
        measured: m,
        pass: m === null ? null : m >= min,
      });
    };
    ratioGoal('W2', 0.75);
    ratioGoal('W3', 0.85);
    ratioGoal('W4', 0.85);
    const lat = cell(g, 'W1')?.addedP50Us ?? null;
    goals.push({
      what: 'W1 added p50 latency (µs over direct)',
      target: g,
      limit: '<= 60',
      measured: lat,
      pass: lat === null ? null : lat <= 60,
    });
    const i = idle.find((r) => r.target === g);
    const rss = i && i.opened === i.requested && i.rssKb !== null ? i.rssKb / 1024 : null;
    goals.push({
      what: `RSS MB at ${i?.requested ?? 500} idle connections`,
      target: g,
      limit: '<= 150',
      measured: round1(rss, 1),
      pass: rss === null ? null : rss <= 150,
    });
  }
  return goals;
}

function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const text = rows.map((r) => r.map((v) => (v === null || v === undefined ? '-' : String(v))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const line = (cols: string[]) =>
    cols.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n');
}

/** The human-readable report printed at the end of a run. */
export function formatReport(
  cells: Cell[],
  workloads: Workload[],
  idle: IdleResult[],
  goals: Goal[],
): string {
  const out: string[] = [];
  for (const w of workloads) {
    const rows = cells.filter((c) => c.workload === w.id);
    if (rows.length === 0) continue;
    out.push(`\n${w.id}  pgbench ${w.title}`);
    const headers = [
      'target',
      'ok',
      'tps',
      '/direct',
      '/pgbouncer',
      '/pgpool',
      'cpu µs/tx',
      'rss MB',
    ];
    if (w.latency) headers.push('p50 µs', 'p99 µs', '+p50 µs', '+p99 µs');
    out.push(
      table(
        headers,
        rows.map((c) => {
          const r: (string | number | null | undefined)[] = [
            c.target,
            `${c.runs - c.failed}/${c.runs}`,
            c.tps,
            c.vsDirect,
            c.vsPgbouncer,
            c.vsPgpool,
            c.cpuUsPerTx,
            c.rssMb,
          ];
          if (w.latency) r.push(c.p50Us, c.p99Us, c.addedP50Us, c.addedP99Us);
          return r;
        }),
      ),
    );
    for (const c of rows.filter((x) => x.error)) out.push(`  ${c.target}: ${c.error}`);
  }
  if (idle.length) {
    out.push('\nIdle connections (startup completed, then held)');
    out.push(
      table(
        ['target', 'opened', 'rss before MB', 'rss MB', 'pss MB', 'procs', 'KB/conn'],
        idle.map((i) => [
          i.target,
          `${i.opened}/${i.requested}`,
          round1(i.rssBeforeKb === null ? null : i.rssBeforeKb / 1024, 1),
          round1(i.rssKb === null ? null : i.rssKb / 1024, 1),
          round1(i.pssKb === null ? null : i.pssKb / 1024, 1),
          i.processes,
          round1(i.kbPerConnection, 1),
        ]),
      ),
    );
    for (const i of idle.filter((x) => x.error)) out.push(`  ${i.target}: ${i.error}`);
  }
  out.push('\nGateway targets');
  if (goals.length === 0) out.push('  (no gateway level ran)');
  else
    out.push(
      table(
        ['goal', 'target', 'limit', 'measured', 'result'],
        goals.map((g) => [
          g.what,
          g.target,
          g.limit,
          g.measured,
          g.pass === null ? 'n/a' : g.pass ? 'PASS' : 'FAIL',
        ]),
      ),
    );
  return out.join('\n');
}
