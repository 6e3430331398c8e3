// asyncpg (Debian's python3-asyncpg, run by /usr/bin/python3) through the gateway: binary
// results, named statements, pipelined executemany, cursor pages, binary COPY, NOTIFY, a refused statement.
// A missing asyncpg fails the test: CI installs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, startClientsGateway, type TestGateway } from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const DB = 'dp_asyncpg';
const PYTHON = '/usr/bin/python3';
let g: TestGateway;

beforeAll(async () => {
  g = await startClientsGateway(DB);
});
afterAll(async () => g?.stop());

describe('asyncpg through the gateway', () => {
  it('runs parameters, executemany, transactions, prepared statements, cursors, COPY and NOTIFY', async () => {
    const r = await run(
      PYTHON,
      ['test/clients/asyncpg_smoke.py', '127.0.0.1', String(g.port), DB],
      {
        env: { PGPASSWORD: await g.token() },
      },
    );
    if (r.code === 3) throw new Error(`install the Debian package python3-asyncpg: ${r.stdout}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.params).toEqual([42, 'snow ☃', '1.5']);
    expect(out.executemany_count).toBe(10);
    expect(out.tx).toEqual(['committed', 'n2']);
    expect(out.prepared).toEqual(['n3', 'n4', 'n5']);
    expect(out.cursor_pages).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    expect(out.copied_in).toBe(50);
    expect(out.copied_out).toBe('1,committed\n2,n2\n3,n3\n');
    expect(out.syntax_error).toBe('42601');
    expect(out.runtime_error).toBe('22012');
    expect(out.refused[0]).toBe('42501');
    expect(out.refused[1]).toContain('the secrets table is off limits');
    expect(out.after_error).toBe('ok');
    expect(out.notify).toBe('hello');
    expect(out.final_count).toBe(60);

    const a = await adminClient(DB);
    const rows = await a.query("SELECT count(*)::int AS n FROM items WHERE name LIKE 'copied %'");
    expect(rows.rows[0].n).toBe(50);
    await a.end();
  });
});
