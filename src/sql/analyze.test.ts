// Basic analyze() behaviour: statements, empty input, errors, size cap, cache.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, clearSqlCache, initSql, sqlCacheStats } from './index.js';

const opts = { searchPath: ['public'], database: 'postgres' };

beforeAll(async () => {
  await initSql();
});

describe('analyze', () => {
  it('reports a plain read', () => {
    const r = analyze('SELECT id, amount FROM public.orders WHERE status = $1', opts);
    expect(r.error).toBeUndefined();
    expect(r.statements).toHaveLength(1);
    const s = r.statements[0];
    expect(s.command).toBe('SELECT');
    expect(s.class).toBe('read');
    expect(s.relations).toEqual([
      { schema: 'public', name: 'orders', kind: 'table', access: 'read' },
    ]);
    expect(s.has_where).toBe(true);
  });

  it('splits multi-statement strings with their own text', () => {
    const r = analyze('SELECT 1; DELETE FROM orders', opts);
    expect(r.statements.map((s) => s.text)).toEqual(['SELECT 1', 'DELETE FROM orders']);
    expect(r.statements.map((s) => s.command)).toEqual(['SELECT', 'DELETE']);
  });

  it('handles empty and comment-only text', () => {
    for (const t of ['', '   ', '-- nothing', '/* a */', ';', ' ; ; ']) {
      expect(analyze(t, opts)).toEqual({ statements: [], empty: true });
    }
  });

  it('returns parse errors with position, never throws', () => {
    const r = analyze("SELECT 'a' 'b'", opts);
    expect(r.statements).toEqual([]);
    expect(r.error?.code).toBe('42601');
    expect(r.error?.message).toMatch(/syntax error/);
    expect(r.error?.position).toBe(12);
  });

  it('refuses oversized text before parsing', () => {
    const big = "SELECT '" + 'x'.repeat(2 * 1024 * 1024) + "'";
    const t0 = Date.now();
    const r = analyze(big, opts);
    expect(Date.now() - t0).toBeLessThan(200);
    expect(r.error).toEqual({
      code: '54000',
      message: expect.stringMatching(/statement too large/),
    });
    expect(analyze('SELECT 12345', { ...opts, maxBytes: 8 }).error?.code).toBe('54000');
    expect(analyze('SELECT 1', { ...opts, maxBytes: 8 }).error).toBeUndefined();
    // Multi-byte characters count as bytes.
    expect(analyze("SELECT 'ééé'", { ...opts, maxBytes: 14 }).error?.code).toBe('54000');
  });

  it('refuses a string of more statements than maxStatements, before building their facts', () => {
    const r = analyze('SELECT 1;'.repeat(5), { searchPath: ['public'], maxStatements: 4 });
    expect(r.error).toMatchObject({ code: '54000' });
    expect(r.error?.message).toContain('(5; the limit is 4)');
    expect(
      analyze('SELECT 1;'.repeat(4), { searchPath: ['public'], maxStatements: 4 }).statements,
    ).toHaveLength(4);
    // One statement, whatever the semicolons in its body.
    const atomic =
      'CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC ' + 'SELECT 1; '.repeat(5) + 'END';
    expect(analyze(atomic, { searchPath: ['public'], maxStatements: 4 }).statements).toHaveLength(
      1,
    );
  });

  it('bounds the cache by the memory of its facts, not only by its entries', () => {
    clearSqlCache();
    const opts = { searchPath: ['public'] };
    // Long scripts are not cached at all.
    for (let i = 0; i < 20; i++)
      analyze(`SELECT ${i};`.repeat(100) + `SELECT t${i}.a FROM t${i}`, opts);
    expect(sqlCacheStats().entries).toBe(0);
    // Distinct statements naming thousands of columns: some 1 MB of facts each.
    const cols = Array.from({ length: 8000 }, (_, j) => `c${j}`).join(', ');
    for (let i = 0; i < 40; i++) analyze(`SELECT ${cols} FROM t${i}`, opts);
    const { entries, weight } = sqlCacheStats();
    expect(weight).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(entries).toBeLessThan(40);
    expect(entries).toBeGreaterThan(0);
  });

  it('weighs the values facts keep (SET, EXECUTE parameters), not only their names', () => {
    clearSqlCache();
    const opts = { searchPath: ['public'] };
    const long = 'x'.repeat(60_000);
    for (let i = 0; i < 150; i++) analyze(`SET application_name = '${long}${i}'`, opts);
    for (let i = 0; i < 150; i++) analyze(`EXECUTE q('${long}${i}')`, opts);
    const { entries, weight } = sqlCacheStats();
    expect(weight).toBeLessThanOrEqual(16 * 1024 * 1024);
    // Each holds its 60 KB value (twice): far fewer than 300 fit.
    expect(entries).toBeLessThan(150);
  });

  it('refuses a NUL byte', () => {
    expect(analyze('SELECT 1\u0000; DELETE FROM orders', opts).error?.code).toBe('08P01');
  });

  it('shares one cache entry across literals, with the actual text', () => {
    clearSqlCache();
    const a = analyze('SELECT abalance FROM pgbench_accounts WHERE aid = 123', opts);
    const b = analyze('SELECT abalance FROM pgbench_accounts WHERE aid = 456', opts);
    expect(sqlCacheStats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
    expect(b.statements[0].text).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = 456');
    expect(b.statements[0].fingerprint).toBe(a.statements[0].fingerprint);
    expect({ ...b.statements[0], text: '' }).toEqual({ ...a.statements[0], text: '' });
  });

  it('names the settings current_setting reads, per literal (never shared across names)', () => {
    clearSqlCache();
    const read = (sql: string) => analyze(sql, opts).statements[0].settings_read;
    expect(read("SELECT current_setting('server_version')")).toEqual(['server_version']);
    expect(read("SELECT current_setting('restore_command')")).toEqual(['restore_command']);
    expect(read("SELECT current_setting(setting_name => 'TimeZone', missing_ok => true)")).toEqual([
      'TimeZone',
    ]);
    // Named any other way, the setting is not known.
    expect(read("SELECT current_setting('server_version'::varchar(6))")).toEqual([null]);
    expect(read('SELECT current_setting(name) FROM pg_settings')).toEqual([null]);
    expect(read("PREPARE p AS SELECT current_setting('a'), current_setting($1)")).toEqual([
      'a',
      null,
    ]);
    expect(read('SELECT 1')).toBeUndefined();
  });

  it("names a MERGE's actions and an INSERT's ON CONFLICT action", () => {
    const f = (sql: string) => analyze(sql, opts).statements[0];
    expect(
      f(
        'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN DO NOTHING',
      ).merge,
    ).toEqual({ actions: ['delete', 'nothing'] });
    expect(f('MERGE INTO t USING s ON true WHEN NOT MATCHED THEN INSERT VALUES (1)').merge).toEqual(
      { actions: ['insert'] },
    );
    expect(f('INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 1').on_conflict).toBe(
      'update',
    );
    expect(f('INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING').on_conflict).toBe('nothing');
    expect(f('INSERT INTO t VALUES (1), (2)').insert).toEqual({ source: 'values' });
    expect(f('INSERT INTO t SELECT generate_series(1, 9)').insert).toEqual({ source: 'query' });
    expect(f('INSERT INTO t DEFAULT VALUES').insert).toEqual({ source: 'default' });
  });

  it('names the writes a COPY or a WITH runs inside it, an upsert as an UPDATE too', () => {
    const f = (sql: string) => analyze(sql, opts).statements[0];
    expect(f('COPY (DELETE FROM t RETURNING id) TO STDOUT').nested_commands).toEqual(['DELETE']);
    expect(
      f('COPY (INSERT INTO t SELECT 1 ON CONFLICT (id) DO UPDATE SET a = 1 RETURNING id) TO STDOUT')
        .nested_commands,
    ).toEqual(['INSERT', 'UPDATE']);
    expect(
      f(
        'WITH x AS (INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2 RETURNING id) SELECT * FROM x',
      ).nested_commands,
    ).toEqual(['INSERT', 'UPDATE']);
    expect(f('COPY (SELECT 1) TO STDOUT').nested_commands).toBeUndefined();
  });

  it('keeps per-statement texts on cache hits of multi-statement strings', () => {
    clearSqlCache();
    analyze("SELECT 1; UPDATE orders SET status = 'x' WHERE id = 1", opts);
    const r = analyze("SELECT 22; UPDATE orders SET status = 'yyyy' WHERE id = 333", opts);
    expect(sqlCacheStats().hits).toBe(1);
    expect(r.statements.map((s) => s.text)).toEqual([
      'SELECT 22',
      "UPDATE orders SET status = 'yyyy' WHERE id = 333",
    ]);
  });

  it('separates cache entries by search_path and database', () => {
    clearSqlCache();
    const a = analyze('SELECT * FROM t', { searchPath: ['public'] });
    const b = analyze('SELECT * FROM t', { searchPath: ['app'] });
    expect(a.statements[0].relations[0].schema).toBe('public');
    expect(b.statements[0].relations[0].schema).toBe('app');
  });

  it('returns immutable shared templates', () => {
    const r = analyze('SELECT id FROM orders', opts);
    expect(Object.isFrozen(r.statements[0].relations)).toBe(true);
  });
});

describe('cache keys', () => {
  it('hashes long keys and never confuses a plain key with a hashed one', async () => {
    const { createHash } = await import('node:crypto');
    clearSqlCache();
    const long =
      'SELECT ' + Array.from({ length: 200 }, (_, i) => `c${i}`).join(', ') + ' FROM customers';
    const a = analyze(long, opts);
    expect(a.statements[0].relations[0].name).toBe('customers');
    const forged = '#' + createHash('sha256').update(long).digest('base64');
    const b = analyze(forged, opts);
    expect(b.error?.code).toBe('42601');
    // Long literal-only variants still share the entry.
    const before = sqlCacheStats().hits;
    analyze(long.replace('c0', "'x'"), opts);
    analyze(long.replace('c0', "'y'"), opts);
    expect(sqlCacheStats().hits).toBe(before + 1);
  });
});
