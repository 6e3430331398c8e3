// The out-of-the-box demo: an embedded PostgreSQL with a small schema, reached through a
// non-superuser role whose password only the gateway knows.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connectUpstream, type UpstreamTarget } from '../upstream/connect.js';
import { startEmbedded, type EmbeddedHandle } from '../upstream/embedded.js';
import { runSql } from '../upstream/sql.js';
import { TERMINATE } from '../wire/index.js';
import { registerSecret } from '../util/logger.js';

const DEMO_ROLE = 'portcullis_gw';
const DEMO_DB = 'demo';

const DEMO_SCHEMA = `
CREATE TABLE IF NOT EXISTS public.customers (id int PRIMARY KEY, name text NOT NULL, email text, card text);
CREATE TABLE IF NOT EXISTS public.orders (id serial PRIMARY KEY, customer_id int REFERENCES public.customers(id),
  amount numeric(10,2) NOT NULL, status text NOT NULL DEFAULT 'new', created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO public.customers VALUES
  (1, 'Ann Lee', 'ann@example.com', '4111-1111-1111-1111'),
  (2, 'Bob Ray', 'bob@example.com', '5500-0000-0000-0004'),
  (3, 'Eve Kim', 'eve@example.eu', '3400-000000-00009')
ON CONFLICT (id) DO NOTHING;
INSERT INTO public.orders (customer_id, amount, status)
  SELECT c, (c * 10 + n)::numeric, CASE WHEN n % 2 = 0 THEN 'paid' ELSE 'new' END
  FROM generate_series(1, 3) c, generate_series(1, 4) n
  WHERE NOT EXISTS (SELECT 1 FROM public.orders);
`;

interface Credentials {
  superPassword: string;
  gatewayPassword: string;
}

function credentials(dir: string): Credentials {
  const file = join(dir, 'embedded-credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Credentials;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const c = {
    superPassword: randomBytes(18).toString('base64url'),
    gatewayPassword: randomBytes(18).toString('base64url'),
  };
  writeFileSync(file, JSON.stringify(c), { mode: 0o600 });
  return c;
}

export interface DemoDatabase {
  target: UpstreamTarget;
  handle: EmbeddedHandle;
}

/** Start (or reuse) the embedded demo database under `dataDir` and return its target. */
export async function startDemoDatabase(
  dataDir: string,
  onLog?: (l: string) => void,
): Promise<DemoDatabase> {
  const creds = credentials(dataDir);
  registerSecret(creds.superPassword);
  registerSecret(creds.gatewayPassword);
  const handle = await startEmbedded({
    dataDir: join(dataDir, 'pg'),
    password: creds.superPassword,
    onLog,
  });
  const base = {
    host: handle.host,
    port: handle.port,
    tls: 'disable' as const,
    connectTimeoutMs: 10_000,
  };
  const admin = await connectUpstream(
    {
      ...base,
      name: 'setup',
      database: 'postgres',
      user: 'postgres',
      password: creds.superPassword,
    },
    {},
  );
  try {
    const role = await runSql(
      admin.socket,
      `SELECT 1 FROM pg_roles WHERE rolname = '${DEMO_ROLE}'`,
    );
    if (role.rows.length === 0) {
      await runSql(
        admin.socket,
        `CREATE ROLE ${DEMO_ROLE} LOGIN PASSWORD '${creds.gatewayPassword}'`,
      );
    }
    const db = await runSql(admin.socket, `SELECT 1 FROM pg_database WHERE datname = '${DEMO_DB}'`);
    if (db.rows.length === 0)
      await runSql(admin.socket, `CREATE DATABASE ${DEMO_DB} OWNER ${DEMO_ROLE}`);
  } finally {
    admin.socket.end(TERMINATE);
  }
  const target: UpstreamTarget = {
    ...base,
    name: 'demo',
    database: DEMO_DB,
    user: DEMO_ROLE,
    password: creds.gatewayPassword,
  };
  const gw = await connectUpstream(target, {});
  try {
    await runSql(gw.socket, DEMO_SCHEMA);
  } finally {
    gw.socket.end(TERMINATE);
  }
  return { target, handle };
}
