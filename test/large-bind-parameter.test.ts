// A message over session.maxMessageBytes (16 MiB by default): a 20 MiB bytea parameter, an
// application storing a file. The session ends with 08P01 naming the limit and the setting
// (node pg reads it; psycopg 3, still sending, reports the closed connection), and with the
// setting raised the statement runs, through node pg and psycopg 3 alike.
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
    c.execute("INSERT INTO files (data) VALUES (%s)", (b"\\x01" * ${SIZE},))
    print(json.dumps(c.execute("SELECT max(length(data)) FROM files").fetchone()[0]))
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
  it('over the limit: node pg reads 08P01 naming the limit and the setting', async () => {
    const c = await gatewayClient(small, DB, { ignoreErrors: true });
    const err = await c.query('SELECT length($1::bytea) AS n', [Buffer.alloc(SIZE, 1)]).then(
      () => undefined,
      (e: { code?: string; message: string }) => e,
    );
    await c.end().catch(() => undefined);
    expect(err?.code).toBe('08P01');
    expect(err?.message).toMatch(
      /exceeds the limit of 16777216 bytes \(session\.maxMessageBytes\)/,
    );
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
    expect(JSON.parse(py.stdout)).toBe(SIZE);
  });
});
