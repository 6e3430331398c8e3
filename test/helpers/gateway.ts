// Starts an in-process gateway in front of the run's PostgreSQL, with its own data dir and
// development key, and mints tokens for it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKey, mintToken } from '../../src/auth/index.js';
import type {
  GatewayConfig,
  UpstreamConfig,
  UpstreamTargetConfig,
} from '../../src/config/index.js';
import { Gateway, type GatewayOptions } from '../../src/runtime/gateway.js';
import { testPg } from '../pg-env.js';
import { RawClient } from './raw.js';

export interface TestGateway {
  gw: Gateway;
  port: number;
  adminPort: number;
  dataDir: string;
  token(sub?: string, groups?: string[], ttlSeconds?: number): Promise<string>;
  /** libpq connection string for psql/pgbench/pg_dump (password via PGPASSWORD). */
  conninfo(database: string, user?: string): string;
  stop(): Promise<void>;
}

/** Superuser client on the run's PostgreSQL (for setup and server-side checks). */
export async function adminClient(database = 'postgres'): Promise<pg.Client> {
  const t = testPg();
  const c = new pg.Client({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database,
  });
  await c.connect();
  return c;
}

/** Create (or recreate) a database for one test file. */
export async function freshDatabase(name: string, setupSql?: string): Promise<void> {
  const c = await adminClient();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  if (setupSql) {
    const d = await adminClient(name);
    await d.query(setupSql);
    await d.end();
  }
}

export interface ClientOptions {
  /** Startup user name (default agent-1); the identity is the token's. */
  user?: string;
  /** Token subject and groups, when the test needs a particular identity. */
  sub?: string;
  groups?: string[];
  /** Sent instead of a fresh token. */
  password?: string;
  /** For sessions the test expects the server to end: their 'error' events are expected. */
  ignoreErrors?: boolean;
  /** More node `pg` settings (ssl, pipeline...). */
  pg?: Record<string, unknown>;
}

/** A node `pg` client logged in through a gateway (in-process or a child process). */
export async function gatewayClient(
  g: { port: number; token(sub?: string, groups?: string[]): Promise<string> },
  database: string,
  o: ClientOptions = {},
): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: g.port,
    user: o.user ?? 'agent-1',
    database,
    password: o.password ?? (await g.token(o.sub, o.groups)),
    ...o.pg,
  } as pg.ClientConfig);
  if (o.ignoreErrors) c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** A raw-protocol client, logged in to `database` through the gateway with a fresh token. */
export async function rawLogin(g: TestGateway, database: string): Promise<RawClient> {
  const c = await RawClient.connect(g.port);
  await c.login(database, await g.token());
  return c;
}

/**
 * The run's PostgreSQL as the one upstream target `main` for `database`, every client
 * database routed to it; `target` and `more` add to the target and the upstream section.
 */
export function testUpstream(
  database: string,
  target: Partial<UpstreamTargetConfig> = {},
  more: Partial<UpstreamConfig> = {},
): UpstreamConfig {
  const t = testPg();
  return {
    targets: {
      main: {
        host: t.host,
        port: t.port,
        database,
        user: t.user,
        password: { value: t.password },
        ...target,
      },
    },
    routes: { '*': 'main' },
    ...more,
  };
}

export async function startTestGateway(
  database: string,
  config: Partial<GatewayConfig> = {},
  extra: Partial<GatewayOptions> = {},
): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  const full: GatewayConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    dataDir,
    upstream: testUpstream(database, { maxConnections: 700 }),
    auth: { jwt: { jwks: { dev: true } } },
    policy: { allowAll: true },
    recording: { enabled: false },
    ...config,
  };
  const gw = new Gateway({ config: full, baseDir: process.cwd(), ...extra });
  await gw.start();
  const key = await loadOrCreateDevKey(dataDir);
  return {
    gw,
    port: gw.port,
    adminPort: gw.adminPort,
    dataDir,
    token: (sub = 'agent-1', groups = ['agents'], ttlSeconds = 600) =>
      mintToken(key, { sub, groups, ttlSeconds, issuer: DEV_ISSUER, audience: DEV_AUDIENCE }),
    conninfo: (db: string, user = 'agent-1') =>
      `host=127.0.0.1 port=${gw.port} dbname=${db} user=${user} sslmode=disable`,
    stop: async () => {
      await gw.stop(2000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The real-client tests' setup: a fresh database with `items` and `secrets`, and a gateway
 * whose policy (test/policies/clients.rego) allows everything but `secrets`.
 */
export async function startClientsGateway(database: string): Promise<TestGateway> {
  await freshDatabase(
    database,
    'CREATE TABLE items (id int PRIMARY KEY, name text); CREATE TABLE secrets (id int)',
  );
  return startTestGateway(database, { policy: { files: ['test/policies/clients.rego'] } });
}
