// psql through the gateway: simple queries, \copy both ways, cancel with Ctrl-C, and a
// CancelRequest with an unknown key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  gatewayClient,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { RawClient, cancelRequest, errorsOf, rows } from './helpers/raw.js';
import { run, start } from './helpers/spawn.js';

const DB = 'dp_psql';
const PSQL = '/usr/bin/psql';
let g: TestGateway;
let dir: string;
let admin: pg.Client;

async function psql(args: string[], opts: { input?: string; onErrorStop?: boolean } = {}) {
  return run(
    PSQL,
    [
      '-X',
      '-v',
      `ON_ERROR_STOP=${opts.onErrorStop === false ? 0 : 1}`,
      '-d',
      g.conninfo(DB),
      ...args,
    ],
    { env: { PGPASSWORD: await g.token() }, input: opts.input },
  );
}

/** Wait until the server runs a statement matching `like` (seen from an admin session). */
async function waitActive(like: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await admin.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()",
      [like],
    );
    if (r.rows[0].n > 0) return;
    if (Date.now() > deadline) throw new Error(`statement ${like} never started`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE t (id int PRIMARY KEY, name text); CREATE TABLE notes (body text);',
  );
  g = await startTestGateway(DB);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-psql-'));
  admin = await adminClient(DB);
});
afterAll(async () => {
  await admin?.end();
  await g?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('psql through the gateway', () => {
  it('runs simple queries and the writes reach the database', async () => {
    const r = await psql([
      '-At',
      '-c',
      "INSERT INTO notes VALUES ('from psql')",
      '-c',
      'SELECT body, current_user FROM notes',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INSERT 0 1');
    expect(r.stdout).toContain('from psql|postgres');
    const a = await admin.query('SELECT body FROM notes');
    expect(a.rows).toEqual([{ body: 'from psql' }]);
  });

  it('runs a script from stdin with a transaction and reports errors with ON_ERROR_STOP', async () => {
    const ok = await psql(['-At'], {
      input:
        "BEGIN;\nINSERT INTO notes VALUES ('a'), ('b');\nCOMMIT;\nSELECT count(*) FROM notes;\n",
    });
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n').at(-1)).toBe('3');
    const bad = await psql(['-At', '-c', 'SELECT * FROM no_such_table']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('relation "no_such_table" does not exist');
  });

  it('\\copy FROM a file loads the rows, \\copy TO a file writes them back', async () => {
    const src = join(dir, 'in.tsv');
    writeFileSync(src, '1\tone\n2\ttwo\n3\t\\N\n');
    const inRes = await psql(['-c', `\\copy t FROM '${src}'`]);
    expect(inRes.stderr).toBe('');
    expect(inRes.code).toBe(0);
    expect(inRes.stdout).toContain('COPY 3');
    const a = await admin.query('SELECT id, name FROM t ORDER BY id');
    expect(a.rows).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
      { id: 3, name: null },
    ]);

    await admin.query("INSERT INTO t SELECT i, 'n' || i FROM generate_series(4, 5000) i");
    const dst = join(dir, 'out.csv');
    const outRes = await psql(['-c', `\\copy (SELECT * FROM t ORDER BY id) TO '${dst}' CSV`]);
    expect(outRes.code).toBe(0);
    expect(outRes.stdout).toContain('COPY 5000');
    const lines = readFileSync(dst, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(5000);
    expect(lines.slice(0, 4)).toEqual(['1,one', '2,two', '3,', '4,n4']);
    expect(lines[4999]).toBe('5000,n5000');

    const tbl = join(dir, 'table.tsv');
    const t2 = await psql(['-c', `\\copy t TO '${tbl}'`]);
    expect(t2.code).toBe(0);
    expect(readFileSync(tbl, 'utf8').split('\n')).toHaveLength(5001);
  });

  it('a failing \\copy FROM leaves nothing behind and the error reaches psql', async () => {
    const src = join(dir, 'bad.tsv');
    writeFileSync(src, '9001\tok\nnot-a-number\tbad\n');
    const r = await psql(['-c', `\\copy t FROM '${src}'`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('invalid input syntax for type integer');
    const a = await admin.query('SELECT count(*)::int AS n FROM t WHERE id = 9001');
    expect(a.rows[0].n).toBe(0);
  });

  it('Ctrl-C cancels a running statement through the gateway and the session goes on', async () => {
    const token = await g.token();
    const p = start(
      PSQL,
      [
        '-X',
        '-v',
        'ON_ERROR_STOP=0',
        '-At',
        '-d',
        g.conninfo(DB),
        '-c',
        'SELECT pg_sleep(30)',
        '-c',
        "SELECT 'still here'",
      ],
      { env: { PGPASSWORD: token }, timeoutMs: 60_000 },
    );
    await waitActive('SELECT pg_sleep(30)%');
    await new Promise((r) => setTimeout(r, 1000));
    const sentAt = Date.now();
    p.child.kill('SIGINT');
    const r = await p.done;
    // Generous: pg_sleep(30) would run 30 s; a cancel ends it long before.
    expect(Date.now() - sentAt).toBeLessThan(20_000);
    expect(r.stderr).toContain('canceling statement due to user request');
    expect(r.stderr).not.toContain('server closed the connection');
    expect(r.code).toBe(1);
    // A non-interactive psql stops its script after Ctrl-C (exit 1, as against PostgreSQL
    // itself), so the session going on is checked with a second client below and in
    // postgres-js.test.ts (cancel, then the same connection runs more statements).
    expect(r.stdout).not.toContain('still here');
    // The backend leaves the statement (its activity row may lag a moment behind).
    let left = -1;
    for (let i = 0; i < 100 && left !== 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      const q = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'",
      );
      left = q.rows[0].n;
    }
    expect(left).toBe(0);
    const after = await psql(['-At', '-c', "SELECT 'after cancel'"]);
    expect(after.stdout.trim()).toBe('after cancel');
  });

  it('ignores a CancelRequest with an unknown key: closed silently, the statement runs on', async () => {
    const c = await gatewayClient(g, DB);
    const q = c.query("SELECT pg_sleep(2), 'finished' AS s");
    await waitActive("SELECT pg_sleep(2), 'finished'%");
    const forged = await RawClient.connect(g.port);
    await forged.write(cancelRequest(12345, 999));
    const answer = await forged.rest(10_000);
    expect(answer).toEqual([]);
    expect(forged.ended).toBe(true);
    const r = await q;
    expect(r.rows[0].s).toBe('finished');
    await c.end();
  });

  it('a cancel sent while the session is idle cancels nothing: not the next statement either', async () => {
    // libpq waits for the cancel connection to close before it goes on; the gateway closes
    // it once its own cancel has reached PostgreSQL, which finds nothing running.
    for (let i = 0; i < 6; i++) {
      const c = await RawClient.connect(g.port);
      const login = await c.login(DB, await g.token());
      const key = login.find((m) => m.type === 'K')!.body;
      expect(errorsOf(await c.simple('SELECT 1'))).toEqual([]);
      const cancel = await RawClient.connect(g.port);
      await cancel.write(cancelRequest(key.readInt32BE(0), key.readInt32BE(4)));
      await cancel.closed;
      expect(errorsOf(await c.simple('SELECT pg_sleep(0.2)'))).toEqual([]);
      c.destroy();
    }
  });

  it('a raw client sees psql-visible results: multi-statement simple query', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token());
    const ms = await c.simple('SELECT 1; SELECT 2');
    expect(rows(ms)).toEqual([['1'], ['2']]);
    c.destroy();
  });
});
