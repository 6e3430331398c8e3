// The targets pgbench is pointed at: direct PostgreSQL, the C/Node peers, and the gateway.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../src/upstream/embedded.js';
import { run, spawnLogged, waitForPort, type Spawned } from './procs.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..');

export interface Upstream {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** The role's stored SCRAM secret (pg_authid.rolpassword), when it could be read. */
  scramSecret?: string;
}

export interface StartContext {
  upstream: Upstream;
  /** A private temporary directory for this target's config, logs and state. */
  dir: string;
  /** Most client connections the target must accept at once. */
  maxClients: number;
}

export interface RunningTarget {
  name: string;
  host: string;
  port: number;
  user: string;
  database: string;
  /** What the client sends as password: the upstream password, or a JWT for the gateway. */
  password: string;
  /** Root processes whose CPU and memory are the proxy's (descendants included); none for direct. */
  pids: number[];
  notes: string[];
  stop(): Promise<void>;
}

export interface TargetSpec {
  name: string;
  kind: 'direct' | 'peer' | 'gateway';
  /** Starts the target; throws SkipTarget when it cannot run here. */
  start(ctx: StartContext): Promise<RunningTarget>;
  /** A query whose `psql -At` output shows the level's feature is active (e.g. a mask). */
  probe?: Probe;
}

export interface Probe {
  sql: string;
  expect: string;
}

/** Thrown when a target is unavailable on this machine; the bench reports it and goes on. */
export class SkipTarget extends Error {}

function which(...candidates: string[]): string | null {
  for (const c of candidates) {
    if (c.includes('/') && existsSync(c)) return c;
    try {
      return execFileSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).trim() || null;
    } catch {
      // not on PATH
    }
  }
  return null;
}

/** Readable by the unprivileged user some peers switch to. */
function openDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
}

function base(ctx: StartContext, name: string, port: number, proc: Spawned | null): RunningTarget {
  return {
    name,
    host: '127.0.0.1',
    port,
    user: ctx.upstream.user,
    database: ctx.upstream.database,
    password: ctx.upstream.password,
    pids: proc ? [proc.pid] : [],
    notes: [],
    stop: async () => proc?.stop(),
  };
}

async function started(
  name: string,
  proc: Spawned,
  port: number,
  logFile: string,
  timeoutMs = 20000,
): Promise<void> {
  try {
    await waitForPort('127.0.0.1', port, proc, timeoutMs);
  } catch (err) {
    await proc.stop(1000);
    throw new SkipTarget(`${name} did not start: ${(err as Error).message} (log: ${logFile})`);
  }
}

export const direct: TargetSpec = {
  name: 'direct',
  kind: 'direct',
  start: async (ctx) => ({
    ...base(ctx, 'direct', ctx.upstream.port, null),
    host: ctx.upstream.host,
  }),
};

function pgbouncer(name: string, poolMode: 'session' | 'transaction'): TargetSpec {
  return {
    name,
    kind: 'peer',
    start: async (ctx) => {
      const bin = which('pgbouncer', '/usr/sbin/pgbouncer');
      if (!bin) throw new SkipTarget('pgbouncer not installed (scripts/install-bench-peers.sh)');
      openDir(ctx.dir);
      const port = await freePort();
      const { upstream: up } = ctx;
      const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
      // With the stored SCRAM secret in userlist.txt pgbouncer verifies the client's proof
      // and reuses the client's key upstream, without computing PBKDF2 itself on each login
      // (the plain password costs it several ms of CPU per connection).
      const secret = up.scramSecret ?? up.password;
      writeFileSync(join(ctx.dir, 'userlist.txt'), `${q(up.user)} ${q(secret)}\n`, {
        mode: 0o644,
      });
      const ini = [
        '[databases]',
        `${up.database} = host=${up.host} port=${up.port} dbname=${up.database}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        // Clients authenticate with SCRAM like they do directly; pgbouncer logs in upstream
        // with the plain password from userlist.txt.
        'auth_type = scram-sha-256',
        `auth_file = ${join(ctx.dir, 'userlist.txt')}`,
        `pool_mode = ${poolMode}`,
        `max_client_conn = ${ctx.maxClients + 100}`,
        `default_pool_size = ${Math.min(ctx.maxClients + 10, 600)}`,
        'server_idle_timeout = 60',
        'log_connections = 0',
        'log_disconnections = 0',
        'ignore_startup_parameters = extra_float_digits,options',
      ].join('\n');
      const cfg = join(ctx.dir, 'pgbouncer.ini');
      writeFileSync(cfg, ini + '\n', { mode: 0o644 });
      const log = join(ctx.dir, 'pgbouncer.log');
      // pgbouncer refuses to run as root; -u switches to an unprivileged user.
      const args = process.getuid?.() === 0 ? ['-u', 'postgres', cfg] : [cfg];
      const proc = spawnLogged(bin, args, log, { stopSignal: 'SIGTERM' });
      await started(name, proc, port, log);
      const t = base(ctx, name, port, proc);
      t.notes.push(
        `pool_mode=${poolMode}, auth scram-sha-256 with ${up.scramSecret ? 'the stored SCRAM secret' : 'the plain password'} in userlist.txt`,
      );
      return t;
    },
  };
}

export const pgpool: TargetSpec = {
  name: 'pgpool',
  kind: 'peer',
  start: async (ctx) => {
    const bin = which('pgpool', '/usr/sbin/pgpool');
    if (!bin) throw new SkipTarget('pgpool not installed (scripts/install-bench-peers.sh)');
    openDir(ctx.dir);
    const [port, pcpPort] = [await freePort(), await freePort()];
    const { upstream: up } = ctx;
    const children = ctx.maxClients + 8;
    const conf = [
      "backend_clustering_mode = 'raw'",
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${ctx.dir}'`,
      "pcp_listen_addresses = ''",
      `pcp_port = ${pcpPort}`,
      `pcp_socket_dir = '${ctx.dir}'`,
      `backend_hostname0 = '${up.host}'`,
      `backend_port0 = ${up.port}`,
      'backend_weight0 = 1',
      "backend_flag0 = 'DISALLOW_TO_FAILOVER'",
      // One pre-forked child per client connection, each caching one backend connection.
      `num_init_children = ${children}`,
      'max_pool = 1',
      'reserved_connections = 0',
      'child_life_time = 0',
      'connection_life_time = 0',
      'connection_cache = on',
      'load_balance_mode = off',
      'memory_cache_enabled = off',
      'health_check_period = 0',
      'sr_check_period = 0',
      'failover_on_backend_error = off',
      'use_watchdog = off',
      'enable_pool_hba = on',
      `pool_passwd = '${join(ctx.dir, 'pool_passwd')}'`,
      `pid_file_name = '${join(ctx.dir, 'pgpool.pid')}'`,
      `logdir = '${ctx.dir}'`,
      "log_min_messages = 'warning'",
      'log_connections = off',
    ].join('\n');
    const cfg = join(ctx.dir, 'pgpool.conf');
    writeFileSync(cfg, conf + '\n');
    writeFileSync(join(ctx.dir, 'pool_hba.conf'), 'host all all 127.0.0.1/32 scram-sha-256\n');
    // A TEXT-prefixed entry lets pgpool run SCRAM both with the client and with PostgreSQL.
    writeFileSync(join(ctx.dir, 'pool_passwd'), `${up.user}:TEXT${up.password}\n`, {
      mode: 0o600,
    });
    writeFileSync(join(ctx.dir, 'pcp.conf'), '');
    const log = join(ctx.dir, 'pgpool.log');
    const proc = spawnLogged(
      bin,
      ['-n', '-f', cfg, '-a', join(ctx.dir, 'pool_hba.conf'), '-F', join(ctx.dir, 'pcp.conf')],
      log,
      // SIGINT is pgpool's fast shutdown: children are terminated, clients cut.
      { stopSignal: 'SIGINT' },
    );
    await started('pgpool', proc, port, log, 30000);
    const t = base(ctx, 'pgpool', port, proc);
    t.notes.push(`raw mode, num_init_children=${children}, max_pool=1, scram via pool_passwd`);
    return t;
  },
};

export const haproxy: TargetSpec = {
  name: 'haproxy',
  kind: 'peer',
  start: async (ctx) => {
    const bin = which('haproxy', '/usr/sbin/haproxy');
    if (!bin) throw new SkipTarget('haproxy not installed (scripts/install-bench-peers.sh)');
    openDir(ctx.dir);
    const port = await freePort();
    const conf = [
      'global',
      `  maxconn ${ctx.maxClients * 2 + 100}`,
      '  nbthread 2',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 1h',
      '  timeout server 1h',
      'listen pg',
      `  bind 127.0.0.1:${port}`,
      `  maxconn ${ctx.maxClients + 50}`,
      `  server pg ${ctx.upstream.host}:${ctx.upstream.port}`,
    ].join('\n');
    const cfg = join(ctx.dir, 'haproxy.cfg');
    writeFileSync(cfg, conf + '\n');
    const log = join(ctx.dir, 'haproxy.log');
    const proc = spawnLogged(bin, ['-db', '-f', cfg], log);
    await started('haproxy', proc, port, log);
    const t = base(ctx, 'haproxy', port, proc);
    t.notes.push('mode tcp, nbthread 2');
    return t;
  },
};

export const nodePipe: TargetSpec = {
  name: 'node-pipe',
  kind: 'peer',
  start: async (ctx) => {
    openDir(ctx.dir);
    const port = await freePort();
    const log = join(ctx.dir, 'node-pipe.log');
    const proc = spawnLogged(
      process.execPath,
      [join(here, 'node-pipe.mjs'), String(port), ctx.upstream.host, String(ctx.upstream.port)],
      log,
    );
    await started('node-pipe', proc, port, log);
    return base(ctx, 'node-pipe', port, proc);
  },
};

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep merge of plain objects; arrays and scalars in `over` replace those in `base`. */
export function mergeConfig(baseCfg: Plain, over: Plain): Plain {
  const out: Plain = { ...baseCfg };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlain(v) && isPlain(out[k]) ? mergeConfig(out[k] as Plain, v) : v;
  }
  return out;
}

/** Extra node flags for the gateway, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (space-separated). */
function nodeArgs(): string[] {
  return (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** How to run the gateway CLI: the built bundle when present, otherwise the sources via tsx. */
export function gatewayCommand(): { cmd: string; args: string[]; how: string } {
  const dist = join(repoRoot, 'dist', 'portcullis.mjs');
  if (existsSync(dist)) {
    const built = statSync(dist).mtime.toISOString().slice(0, 19);
    return {
      cmd: process.execPath,
      args: [...nodeArgs(), dist],
      how: `dist/portcullis.mjs (built ${built}Z)`,
    };
  }
  return {
    cmd: process.execPath,
    // By URL: the gateway runs in its own directory, from which 'tsx' would not resolve.
    args: [
      ...nodeArgs(),
      '--import',
      pathToFileURL(join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href,
      join(repoRoot, 'src', 'cli', 'main.ts'),
    ],
    how: 'node --import tsx src/cli/main.ts',
  };
}

const UPSTREAM_PASSWORD_ENV = 'PORTCULLIS_BENCH_UPSTREAM_PASSWORD';

/** Mints a client token with the gateway's `token` command (tries with and without --config). */
async function gatewayToken(configFile: string, cwd: string): Promise<string> {
  const { cmd, args } = gatewayCommand();
  const attempts = [
    // A day, so the token outlives a long run (the default is an hour).
    [
      ...args,
      'token',
      '--config',
      configFile,
      '--sub',
      'bench',
      '--groups',
      'bench',
      '--ttl',
      '86400',
    ],
    [...args, 'token', '--config', configFile, '--sub', 'bench', '--groups', 'bench'],
    [...args, 'token', '--sub', 'bench', '--groups', 'bench'],
  ];
  let last = '';
  for (const a of attempts) {
    const r = await run(cmd, a, { cwd, timeoutMs: 60000 });
    const lines = r.stdout.split('\n').map((l) => l.trim());
    const token = lines.reverse().find((l) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(l));
    if (r.code === 0 && token) return token;
    last = `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  }
  throw new Error(`token command failed (${last})`);
}

/**
 * The gateway under test at one feature level: the same build, started with the base bench
 * config merged with `configOverrides`. The client password is a JWT from `portcullis token`.
 */
export function gatewayTarget(
  levelName: string,
  configOverrides: Plain,
  probe?: Probe,
): TargetSpec {
  return {
    name: levelName,
    kind: 'gateway',
    probe,
    start: async (ctx) => {
      openDir(ctx.dir);
      const port = await freePort();
      const { upstream: up } = ctx;
      const baseCfg: Plain = {
        listen: { host: '127.0.0.1', port, maxClients: ctx.maxClients + 100 },
        admin: { port: 0 },
        upstream: {
          targets: {
            main: {
              host: up.host,
              port: up.port,
              database: up.database,
              user: up.user,
              password: { env: UPSTREAM_PASSWORD_ENV },
              maxConnections: 600,
            },
          },
          routes: { '*': 'main' },
        },
        auth: { jwt: { jwks: { dev: true } } },
        recording: { enabled: false },
        dataDir: join(ctx.dir, 'data'),
      };
      // The policy section is taken whole from the level (merging `files` into a base
      // `allowAll: true` would leave allowAll on); allowAll when the level names none.
      if (!('policy' in configOverrides)) baseCfg.policy = { allowAll: true };
      const cfgObj = mergeConfig(baseCfg, configOverrides);
      const cfg = join(ctx.dir, 'portcullis.config.mjs');
      writeFileSync(
        cfg,
        `// Written by bench/peers.ts for level ${levelName}.\nexport default ${JSON.stringify(cfgObj, null, 2)};\n`,
      );
      const { cmd, args, how } = gatewayCommand();
      const log = join(ctx.dir, 'gateway.log');
      const env = { ...process.env, [UPSTREAM_PASSWORD_ENV]: up.password };
      const proc = spawnLogged(cmd, [...args, 'start', '--config', cfg], log, {
        cwd: ctx.dir,
        env,
      });
      await started(levelName, proc, port, log, 60000);
      let token: string;
      try {
        token = await gatewayToken(cfg, ctx.dir);
      } catch (err) {
        await proc.stop(2000);
        throw new SkipTarget(`${levelName}: ${(err as Error).message} (log: ${log})`);
      }
      const t = base(ctx, levelName, port, proc);
      t.password = token;
      t.notes.push(`${how}; overrides ${JSON.stringify(configOverrides)}`);
      return t;
    },
  };
}

const rego = (f: string) => join(here, 'policies', f);

/**
 * Gateway feature levels, cheapest first: one line per level. Each is the same build with
 * a different config, so the cost of each feature shows as the step between two levels.
 */
export const GATEWAY_LEVELS: {
  name: string;
  overrides: Plain;
  byDefault: boolean;
  probe?: Probe;
}[] = [
  { name: 'gw-allow', overrides: { policy: { allowAll: true } }, byDefault: true },
  { name: 'gw-policy', overrides: { policy: { files: [rego('bench.rego')] } }, byDefault: true },
  {
    name: 'gw-mask',
    overrides: { policy: { files: [rego('bench-mask.rego')] } },
    byDefault: false,
  },
  {
    name: 'gw-record',
    overrides: {
      policy: { files: [rego('bench.rego')] },
      recording: { enabled: true, durability: 'fsync' },
    },
    byDefault: true,
  },
  {
    // Write-ahead to the OS before forwarding (survives kill -9), fsync on an interval.
    name: 'gw-record-write',
    overrides: {
      policy: { files: [rego('bench.rego')] },
      recording: { enabled: true, durability: 'write' },
    },
    byDefault: true,
  },
];

/** Every known target, in the order they run within a round. */
export const ALL_TARGETS: { spec: TargetSpec; byDefault: boolean }[] = [
  { spec: direct, byDefault: true },
  { spec: pgbouncer('pgbouncer', 'session'), byDefault: true },
  { spec: pgbouncer('pgbouncer-tx', 'transaction'), byDefault: false },
  { spec: pgpool, byDefault: true },
  { spec: haproxy, byDefault: true },
  { spec: nodePipe, byDefault: true },
  ...GATEWAY_LEVELS.map((l) => ({
    spec: gatewayTarget(l.name, l.overrides, l.probe),
    byDefault: l.byDefault,
  })),
];
