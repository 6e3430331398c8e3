// pgjdbc (Debian's libpostgresql-jdbc-java, Java 17) through the gateway: batches of
// Parse/Bind/Execute before one Sync, named server-side statements, fetch sizes, the
// CopyManager, metadata queries and a batch the policy refuses. A missing driver or JDK fails the test: CI installs them.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, startClientsGateway, type TestGateway } from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const DB = 'dp_jdbc';
const JAR = '/usr/share/java/postgresql.jar';
let g: TestGateway;

beforeAll(async () => {
  g = await startClientsGateway(DB);
});
afterAll(async () => g?.stop());

describe('pgjdbc through the gateway', () => {
  it('runs parameters, a batch, server-prepared statements, fetch sizes, COPY, errors and metadata', async () => {
    if (!existsSync(JAR)) throw new Error(`${JAR} missing: install libpostgresql-jdbc-java`);
    const url = `jdbc:postgresql://127.0.0.1:${g.port}/${DB}`;
    const r = await run('java', ['-cp', JAR, 'test/clients/JdbcSmoke.java', url], {
      env: { PGPASSWORD: await g.token() },
      timeoutMs: 90_000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.params).toEqual([42, 'snow ☃']);
    expect(out.typed).toEqual(['2.5', '0.25', '12.34']);
    expect(out.batch).toBe(50);
    expect(out.repeated).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8']);
    expect(out.server_prepared).toBeGreaterThan(0);
    expect(out.fetched).toBe(50);
    expect(out.tx).toEqual(['committed', 'n2']);
    expect(out.copied_in).toBe(25);
    expect(out.copied_out).toBe('1,committed\n2,n2\n');
    expect(out.runtime_error).toBe('22012');
    expect(out.syntax_error).toBe('42601');
    expect(out.refused_batch).toBe('42501');
    expect(out.refused_message).toContain('the secrets table is off limits');
    expect(out.tables).toEqual(['items']);
    expect(out.opaque_batch).toBe(3);
    expect(out.final_count).toBe(77);

    const a = await adminClient(DB);
    const rows = await a.query("SELECT count(*)::int AS n FROM items WHERE name LIKE 'copied %'");
    expect(rows.rows[0].n).toBe(25);
    // Neither neighbour of the refused statement ran.
    const batch = await a.query('SELECT count(*)::int AS n FROM items WHERE id IN (900, 901)');
    expect(batch.rows[0].n).toBe(0);
    expect((await a.query('SELECT count(*)::int AS n FROM secrets')).rows[0].n).toBe(0);
    const opaque = await a.query('SELECT name FROM items WHERE id IN (910, 911) ORDER BY id');
    expect(opaque.rows.map((r) => r.name)).toEqual(['before do', 'after do']);
    await a.end();
  }, 120_000);
});
