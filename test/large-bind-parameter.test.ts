// A message over session.maxMessageBytes (16 MiB by default): a 20 MiB bytea parameter, an
// application storing a file. The statement fails with 54000 naming the limit and the
// setting, and the session goes on, for node pg and psycopg 3 alike (before, the session
// ended, and psycopg 3, still sending, reported only a closed connection). With the setting
// raised the statement runs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freshDatabase,
  gatewayClient,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const DB = 'large_bind';
const SIZE = 20 * 1024 * 1024;
let small: TestGateway;
let raised: TestGateway;
let dir: string;

const PY = `
import json, sys, psycopg
host, port, db, user = sys.argv[1:5]
with psycopg.connect(host=host, port=port, dbname=db, user=user, password=sys.argv[5], autocommit=True) as c:
    try:
        c.execute("INSERT INTO files (data) VALUES (%s)", (b"\\x01" * ${SIZE},))
        refused = None
    except psycopg.Error as e:
        refused = [e.sqlstate, str(e)]
    print(json.dumps({"refused": refused, "max": c.execute("SELECT max(length(data)) FROM files").fetchone()[0]}))
`;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE files (data bytea)');
  small = await startTestGateway(DB, { policy: { allowAll: true } });
  raised = await startTestGateway(DB, {
    policy: { allowAll: true },
    session: { maxMessageBytes: 64 * 1024 * 1024 },
  });
  dir = mkdtempSync(join(tmpdir(), 'portcullis-large-bind-'));
  writeFileSync(join(dir, 'big.py'), PY);
});
afterAll(async () => {
  await small?.stop();
  await raised?.stop();
});

describe('a 20 MiB bind parameter', () => {
  it('over the limit: the statement fails with 54000 naming the limit, and the session goes on (node pg, psycopg 3)', async () => {
    const c = await gatewayClient(small, DB);
    const err = await c.query('SELECT length($1::bytea) AS n', [Buffer.alloc(SIZE, 1)]).then(
      () => undefined,
      (e: { code?: string; message: string; hint?: string }) => e,
    );
    expect(err?.code).toBe('54000');
    const said = /^a message of (\d+) bytes is over the gateway's limit of 16777216 bytes$/.exec(
      err?.message ?? '',
    );
    // The Bind: the parameter, and the names and counts around it.
    expect(Number(said?.[1])).toBeGreaterThan(SIZE);
    expect(Number(said?.[1])).toBeLessThan(SIZE + 100);
    expect(err?.hint).toMatch(/session\.maxMessageBytes/);
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();

    const args = ['127.0.0.1', String(small.port), DB, 'agent-1', await small.token()];
    const py = await run('/usr/bin/python3', [join(dir, 'big.py'), ...args], { timeoutMs: 60_000 });
    expect(py.stderr).toBe('');
    const out = JSON.parse(py.stdout);
    expect(out.refused[0]).toBe('54000');
    expect(out.refused[1]).toMatch(/over the gateway's limit of 16777216 bytes/);
    expect(out.max).toBeNull();
  });

  it('with session.maxMessageBytes raised, it runs: node pg and psycopg 3', async () => {
    const c = await gatewayClient(raised, DB);
    const r = await c.query<{ n: number }>('SELECT length($1::bytea) AS n', [
      Buffer.alloc(SIZE, 1),
    ]);
    await c.end();
    expect(r.rows[0].n).toBe(SIZE);
    const args = ['127.0.0.1', String(raised.port), DB, 'agent-1', await raised.token()];
    const py = await run('/usr/bin/python3', [join(dir, 'big.py'), ...args], { timeoutMs: 60_000 });
    expect(JSON.parse(py.stdout)).toEqual({ refused: null, max: SIZE });
  });
});
