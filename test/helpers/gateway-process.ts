// `portcullis start` as a child process, with a config file in its own temp dir pointing at the
// run's PostgreSQL; tokens are minted with the dev key the child uses.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKey, mintToken } from '../../src/auth/index.js';
import type { GatewayConfig } from '../../src/config/index.js';
import { adminClient, gatewayClient, testUpstream } from './gateway.js';
import { run, start, type RunResult, type Running } from './spawn.js';

/** `portcullis …` through tsx, as `npx tsx src/cli/main.ts …` runs it. */
export const CLI = [process.execPath, '--import', 'tsx', 'src/cli/main.ts'] as const;

/** A temp dir holding gateway.config.json (upstream = the run's PostgreSQL) and .data/. */
export function gatewayDir(database: string, config: Partial<GatewayConfig> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-proc-'));
  writeConfig(dir, database, config);
  return dir;
}

export function writeConfig(dir: string, database: string, config: Partial<GatewayConfig>): void {
  const full: GatewayConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    // The password from the environment: a config file holds no secret.
    upstream: {
      ...testUpstream(database, { password: { env: 'PORTCULLIS_TEST_PG_PASSWORD' } }),
      routes: undefined,
    },
    auth: { jwt: { jwks: { dev: true } } },
    recording: { enabled: false },
    ...config,
  };
  writeFileSync(join(dir, 'gateway.config.json'), JSON.stringify(full, null, 2));
}

export interface GatewayProcess {
  running: Running;
  port: number;
  output(): { stdout: string; stderr: string };
  token(sub?: string, groups?: string[]): Promise<string>;
  client(database: string, groups?: string[]): Promise<pg.Client>;
  /** SIGTERM and wait for the exit (SIGKILL after `ms`). */
  terminate(ms?: number): Promise<RunResult>;
  /** Wait for the exit without signalling (SIGKILL after `ms`). */
  exited(ms?: number): Promise<RunResult>;
}

/** Start `portcullis start --config <dir>/gateway.config.json` and wait until it listens. */
export async function startGatewayProcess(
  dir: string,
  timeoutMs = 120_000,
): Promise<GatewayProcess> {
  const key = await loadOrCreateDevKey(join(dir, '.data'));
  const running = start(
    CLI[0],
    [...CLI.slice(1), 'start', '--config', join(dir, 'gateway.config.json')],
    {
      cwd: process.cwd(),
      timeoutMs: 30 * 60_000,
    },
  );
  let stdout = '';
  let stderr = '';
  running.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  running.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`gateway did not start:\n${stderr}`)),
      timeoutMs,
    );
    const check = () => {
      const m = /Portcullis is ready on [^:\s]+:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    running.child.stdout!.on('data', check);
    running.done.then((r) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${r.code}:\n${stderr}`));
    }, reject);
  });
  const token = (sub = 'agent-1', groups = ['agents']) =>
    mintToken(key, { sub, groups, ttlSeconds: 3600, issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
  return {
    running,
    port,
    output: () => ({ stdout, stderr }),
    token,
    client: (database, groups) =>
      gatewayClient({ port, token }, database, { sub: 'agent-1', groups, ignoreErrors: true }),
    exited: async (ms = 60_000) => {
      const timer = setTimeout(() => running.child.kill('SIGKILL'), ms);
      const r = await running.done;
      clearTimeout(timer);
      return r;
    },
    terminate: async (ms = 60_000) => {
      if (running.child.exitCode === null) running.child.kill('SIGTERM');
      const timer = setTimeout(() => running.child.kill('SIGKILL'), ms);
      const r = await running.done;
      clearTimeout(timer);
      return r;
    },
  };
}

/** Poll `fn` until it returns true; throws after `ms`. */
export async function until(what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Wait until no backend of `database` runs `sql` (a statement cancelled upstream). */
export async function untilNotRunning(database: string, sql: string, ms = 5000): Promise<void> {
  const admin = await adminClient(database);
  try {
    await until(
      `${sql} to end`,
      async () =>
        (
          await admin.query(
            `SELECT 1 FROM pg_stat_activity WHERE query = $1 AND state = 'active'`,
            [sql],
          )
        ).rowCount === 0,
      ms,
    );
  } finally {
    await admin.end();
  }
}

/** `portcullis verify` of a child gateway's spool and file sink, with its dev key. */
export function verifyGatewayDir(dir: string, timeoutMs = 180_000): Promise<RunResult> {
  return run(
    CLI[0],
    [
      ...CLI.slice(1),
      'verify',
      '--dir',
      join(dir, 'spool'),
      '--dir',
      join(dir, '.data', 'recordings'),
      '--key',
      join(dir, '.data', 'dev-signing-key.json'),
    ],
    { cwd: process.cwd(), timeoutMs },
  );
}
