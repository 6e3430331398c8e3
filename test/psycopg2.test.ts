// psycopg2 (Debian's python3-psycopg2, run by /usr/bin/python3) through the gateway:
// client-side parameters, implicit transactions, named cursors, COPY and notices. A
// missing psycopg2 fails the test: CI installs it. The policy refuses one table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, startClientsGateway, type TestGateway } from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const DB = 'dp_psycopg2';
let g: TestGateway;

beforeAll(async () => {
  g = await startClientsGateway(DB);
});
afterAll(async () => g?.stop());

describe('psycopg2 through the gateway', () => {
  it('runs parameters, transactions, a named cursor, COPY, notices and errors', async () => {
    const r = await run('/usr/bin/python3', ['test/clients/psycopg2_smoke.py', g.conninfo(DB)], {
      env: { PGPASSWORD: await g.token() },
    });
    if (r.code === 3) throw new Error(`install the Debian package python3-psycopg2: ${r.stdout}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.params).toEqual([42, 'snow ☃', "it's quoted"]);
    expect(out.inserted).toBe(10);
    expect(out.tx).toEqual(['committed', 'n2']);
    expect(out.named_cursor).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(out.copied_out).toBe('1,committed\n2,n2\n');
    expect(out.notices).toEqual(['NOTICE:  hello from the server']);
    expect(out.runtime_error).toBe('22012');
    expect(out.syntax_error).toBe('42601');
    expect(out.final_count).toBe(30);

    const a = await adminClient(DB);
    const rows = await a.query("SELECT count(*)::int AS n FROM items WHERE name LIKE 'copied %'");
    expect(rows.rows[0].n).toBe(20);
    await a.end();
  });
});
