// psycopg 3 (Debian's python3-psycopg, run by /usr/bin/python3) through the gateway. The
// client script prints JSON; this file checks it and the database. A missing psycopg fails
// the test: CI installs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const DB = 'dp_psycopg';
const PYTHON = '/usr/bin/python3';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

describe('psycopg 3 through the gateway', () => {
  it('parameters, executemany, transactions, prepared statements and pipeline mode', async () => {
    const probe = await run(PYTHON, ['-c', 'import psycopg; print(psycopg.__version__)']);
    if (probe.code !== 0) {
      throw new Error(
        `psycopg 3 is not importable by ${PYTHON} (install the Debian package python3-psycopg): ${probe.stderr.trim()}`,
      );
    }
    const r = await run(PYTHON, ['test/clients/psycopg_smoke.py', g.conninfo(DB)], {
      env: { PGPASSWORD: await g.token() },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.params).toEqual([42, 'snow ☃']);
    expect(out.typed).toEqual(['2.5', '12.34', '2026-01-02', '{"a": 1}', 2]);
    expect(out.executemany_count).toBe(10);
    expect(out.tx).toEqual(['committed', 'n2']);
    expect(out.prepared_on_server).toBeGreaterThan(0);
    expect(out.prepared_result).toBe('n4');
    expect(out.syntax_error).toBe('42601');
    expect(out.after_error).toBe('ok');
    expect(out.pipeline_supported).toBe(true);
    expect(out.pipeline).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(out.final_count).toBe(11);

    const a = await adminClient(DB);
    const rows = await a.query('SELECT id, name FROM items WHERE id IN (1, 2, 100) ORDER BY id');
    expect(rows.rows).toEqual([
      { id: 1, name: 'committed' },
      { id: 2, name: 'n2' },
      { id: 100, name: 'pipelined' },
    ]);
    await a.end();
  });
});
