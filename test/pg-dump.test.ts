// pg_dump through the gateway (allow-all policy). The machine's pg_dump is version 15 and
// refuses to dump a newer server, so this file runs its own PostgreSQL 15 cluster from the
// system binaries and puts a gateway in front of it.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freePort } from '../src/upstream/embedded.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const BIN = '/usr/lib/postgresql/15/bin';
const DB = 'dp_dump';
/** Restored into through the gateway by pg_restore. */
const RESTORED = 'dp_dump_via_gateway';
const PASSWORD = 'pg15-test-secret';
let dir: string;
let port: number;
let g: TestGateway;

/** Run a PostgreSQL binary as the postgres OS user when we are root (the server refuses root). */
function asPostgres(bin: string, args: string[]): string {
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]]
    : [join(BIN, bin), args];
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function direct(database: string): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password: PASSWORD,
    database,
  });
  await c.connect();
  return c;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-pg15-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    writeFileSync(join(dir, 'pw'), PASSWORD);
    chownSync(join(dir, 'pw'), uid, gid);
  } else writeFileSync(join(dir, 'pw'), PASSWORD);
  asPostgres('initdb', [
    '-D',
    join(dir, 'data'),
    '-U',
    'postgres',
    '--auth=scram-sha-256',
    `--pwfile=${join(dir, 'pw')}`,
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  port = await freePort();
  asPostgres('pg_ctl', [
    '-D',
    join(dir, 'data'),
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=off`,
    'start',
  ]);
  const admin = await direct('postgres');
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(`CREATE DATABASE ${RESTORED}`);
  await admin.end();
  const d = await direct(DB);
  await d.query(`
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, note text);
    INSERT INTO customers VALUES (1, 'Ada', 'tab	inside'), (2, 'Grace', NULL), (3, 'Linus', 'back\\slash');
    CREATE INDEX customers_name ON customers (name);
    CREATE VIEW customer_names AS SELECT name FROM customers;
    CREATE SEQUENCE ticket_seq START 100;
  `);
  await d.end();
  g = await startTestGateway(DB, {
    upstream: {
      targets: {
        main: {
          host: '127.0.0.1',
          port,
          database: DB,
          user: 'postgres',
          password: { value: PASSWORD },
          maxConnections: 20,
        },
        restored: {
          host: '127.0.0.1',
          port,
          database: RESTORED,
          user: 'postgres',
          password: { value: PASSWORD },
          maxConnections: 20,
        },
      },
      routes: { [DB]: 'main', [RESTORED]: 'restored' },
    },
  });
}, 180_000);

afterAll(async () => {
  await g?.stop();
  if (dir) {
    try {
      asPostgres('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    } catch {
      /* already stopped */
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('pg_dump through the gateway', () => {
  it('dumps schema and data in plain format to stdout', async () => {
    const r = await run('/usr/bin/pg_dump', ['--no-sync', '-d', g.conninfo(DB)], {
      env: { PGPASSWORD: await g.token() },
      timeoutMs: 120_000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain('CREATE TABLE public.customers (');
    expect(out).toContain('CREATE VIEW public.customer_names AS');
    expect(out).toContain('CREATE INDEX customers_name ON public.customers USING btree (name);');
    expect(out).toContain('CREATE SEQUENCE public.ticket_seq');
    expect(out).toContain('COPY public.customers (id, name, note) FROM stdin;');
    expect(out).toContain('1\tAda\ttab\\tinside\n2\tGrace\t\\N\n3\tLinus\tback\\\\slash\n\\.\n');
    expect(out).toContain("SELECT pg_catalog.setval('public.ticket_seq', 100, false);");
    expect(out).toContain('-- PostgreSQL database dump complete');
  });

  it('the dump restores into a fresh database to the same rows', async () => {
    const r = await run('/usr/bin/pg_dump', ['--no-sync', '-d', g.conninfo(DB)], {
      env: { PGPASSWORD: await g.token() },
      timeoutMs: 120_000,
    });
    expect(r.code).toBe(0);
    const admin = await direct('postgres');
    await admin.query('DROP DATABASE IF EXISTS dp_dump_restored');
    await admin.query('CREATE DATABASE dp_dump_restored');
    await admin.end();
    const restore = await run(
      '/usr/bin/psql',
      [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-d',
        `host=127.0.0.1 port=${port} dbname=dp_dump_restored user=postgres sslmode=disable`,
      ],
      { env: { PGPASSWORD: PASSWORD }, input: r.stdout },
    );
    expect(restore.code).toBe(0);
    const d = await direct('dp_dump_restored');
    const rows = await d.query('SELECT id, name, note FROM customers ORDER BY id');
    expect(rows.rows).toEqual([
      { id: 1, name: 'Ada', note: 'tab\tinside' },
      { id: 2, name: 'Grace', note: null },
      { id: 3, name: 'Linus', note: 'back\\slash' },
    ]);
    await d.end();
  });

  it('pg_restore of a custom-format dump through the gateway rebuilds the database', async () => {
    const file = join(dir, 'dump.custom');
    const env = { PGPASSWORD: await g.token() };
    const dump = await run(
      '/usr/bin/pg_dump',
      ['--no-sync', '-Fc', '-f', file, '-d', g.conninfo(DB)],
      {
        env,
        timeoutMs: 120_000,
      },
    );
    expect(dump.stderr).toBe('');
    expect(dump.code).toBe(0);
    // pg_restore sets search_path to '' with set_config, then creates, copies and setvals.
    const restore = await run(
      '/usr/bin/pg_restore',
      ['--no-owner', '--exit-on-error', '-d', g.conninfo(RESTORED), file],
      { env, timeoutMs: 120_000 },
    );
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    const d = await direct(RESTORED);
    const rows = await d.query('SELECT id, name, note FROM customers ORDER BY id');
    expect(rows.rows).toEqual([
      { id: 1, name: 'Ada', note: 'tab\tinside' },
      { id: 2, name: 'Grace', note: null },
      { id: 3, name: 'Linus', note: 'back\\slash' },
    ]);
    expect((await d.query('SELECT count(*)::int AS n FROM customer_names')).rows[0].n).toBe(3);
    expect((await d.query("SELECT nextval('ticket_seq')::int AS v")).rows[0].v).toBe(100);
    await d.end();
  });
});
