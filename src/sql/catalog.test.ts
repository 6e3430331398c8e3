// What the upstream catalog adds to the facts: t.f on a relation without a column f is a
// function of its whole row, and search_path functions and operators named like
// pg_catalog's may run in their place; (x).f may call f(x), known for pg_catalog's
// functions without it.
import { beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from './catalog.js';
import { analyze, initSql } from './index.js';
import type { AnalyzeOptions, StatementFacts } from './types.js';

const catalog = new Catalog({
  relations: [
    ['public', 'customers', ['id', 'name', 'card', 'ctid', 'xmin', 'tableoid']],
    ['public', 'orders', ['id', 'customer_id', 'amount']],
  ],
  functions: [
    ['public', 'lower'],
    ['public', 'hstore'],
    ['public', 'generate_series'],
  ],
  operators: [['public', '||']],
});
const withCatalog = { searchPath: ['public'], database: 'postgres', catalog };
const without = { searchPath: ['public'], database: 'postgres' };

function facts(sql: string, opts: AnalyzeOptions = withCatalog): StatementFacts {
  const r = analyze(sql, opts);
  expect(r.error).toBeUndefined();
  return r.statements[0];
}

/** The facts as a policy sees them (the cache identity left out). */
const plain = (f: StatementFacts): unknown => JSON.parse(JSON.stringify(f));

const wholeCustomers = expect.objectContaining({
  schema: 'public',
  table: 'customers',
  column: '*',
});

beforeAll(async () => {
  await initSql();
});

describe('analysis with the upstream catalog', () => {
  it('reads t.f as a function of the whole row when the relation has no column f', () => {
    for (const sql of [
      'SELECT c.text FROM customers c',
      'SELECT c.varchar FROM customers c',
      'SELECT customers.hstore FROM customers',
      'SELECT public.customers.text FROM public.customers',
      'SELECT s.text FROM (SELECT * FROM customers) s',
      'SELECT j.text FROM (customers c JOIN orders o ON o.customer_id = c.id) AS j',
      'WITH w AS (TABLE customers) SELECT w.text FROM w',
    ]) {
      const f = facts(sql);
      expect(f.columns, sql).toContainEqual(wholeCustomers);
    }
    expect(facts('SELECT c.text FROM customers c').functions).toContainEqual({
      schema: 'pg_catalog',
      name: 'text',
      effect: 'read',
    });
    expect(facts('SELECT c.hstore FROM customers c').functions).toEqual(
      expect.arrayContaining([{ schema: 'public', name: 'hstore', effect: 'unknown' }]),
    );
  });

  it('changes nothing for a column the relation has, system columns included', () => {
    for (const sql of [
      'SELECT c.name FROM customers c',
      'SELECT c.xmin, c.ctid FROM customers c',
      'SELECT s.name FROM (SELECT * FROM customers) s',
      'SELECT o.amount FROM orders o',
    ]) {
      expect(plain(facts(sql)), sql).toEqual(plain(facts(sql, without)));
      if (!sql.includes('*'))
        expect(
          facts(sql).columns.some((c) => c.column === '*'),
          sql,
        ).toBe(false);
    }
  });

  it('names the whole row of a subquery whose output names are known, catalog or not', () => {
    const sql = 'SELECT s.hstore FROM (SELECT id, amount FROM orders) s';
    for (const opts of [withCatalog, without]) {
      const f = facts(sql, opts);
      expect(f.columns).toContainEqual(
        expect.objectContaining({ table: 'orders', column: 'amount', derived: true }),
      );
      expect(f.functions).toContainEqual(expect.objectContaining({ name: 'hstore' }));
    }
  });

  it('keeps a relation outside the catalog as before (a table created since)', () => {
    const sql = 'SELECT n.text FROM newer n';
    expect(plain(facts(sql))).toEqual(plain(facts(sql, without)));
  });

  it('lists a search_path function or operator named like a built-in beside it', () => {
    expect(facts('SELECT lower(name::varchar) FROM customers').functions).toEqual(
      expect.arrayContaining([
        { schema: 'pg_catalog', name: 'lower', effect: 'read' },
        { schema: 'public', name: 'lower', effect: 'unknown' },
      ]),
    );
    expect(facts('SELECT upper(name) FROM customers').functions).toEqual([
      { schema: 'pg_catalog', name: 'upper', effect: 'read' },
    ]);
    expect(facts("SELECT name || 'x' FROM customers").functions).toContainEqual({
      schema: 'public',
      name: '||',
      effect: 'unknown',
    });
    expect(facts('SELECT * FROM generate_series(1, 3)').relations).toContainEqual(
      expect.objectContaining({ schema: 'public', name: 'generate_series', kind: 'function' }),
    );
    // Qualified names are what they say.
    expect(facts('SELECT pg_catalog.lower(name) FROM customers').functions).toEqual([
      { schema: 'pg_catalog', name: 'lower', effect: 'read' },
    ]);
  });

  it('does not share cached facts between catalogs', () => {
    const sql = 'SELECT c.text FROM customers c';
    const before = facts(sql, without);
    expect(before.columns).not.toContainEqual(wholeCustomers);
    expect(facts(sql).columns).toContainEqual(wholeCustomers);
    expect(plain(facts(sql, without))).toEqual(plain(before));
  });

  it('lists (x).f as the call f(x) it may be, for a value x of any type', () => {
    const fns = (sql: string, opts?: AnalyzeOptions) =>
      facts(sql, opts).functions.map((f) => `${f.schema}.${f.name}:${f.effect}`);
    // pg_catalog's functions, catalog or not: PostgreSQL calls them on a value of any type.
    for (const opts of [withCatalog, without]) {
      expect(fns("SELECT ('/etc/hosts'::text).lo_import", opts)).toContain(
        'pg_catalog.lo_import:side_effect',
      );
      expect(fns('SELECT (o.id).pg_cancel_backend FROM orders o', opts)).toContain(
        'pg_catalog.pg_cancel_backend:side_effect',
      );
    }
    // A search_path function: known from the catalog only.
    expect(fns('SELECT (c).hstore FROM customers c')).toContain('public.hstore:unknown');
    expect(fns('SELECT (c).hstore FROM customers c', without)).not.toContain(
      'public.hstore:unknown',
    );
    // A field that no function is named after stays a field.
    expect(fns("SELECT (pg_stat_file('x')).size")).toEqual(['pg_catalog.pg_stat_file:side_effect']);
    // A sequence named through field notation is still a sequence drawn from.
    expect(
      facts("SELECT ('public.order_seq'::text).nextval").relations.map((r) => [r.name, r.access]),
    ).toEqual([['order_seq', 'write']]);
  });

  it('lists t.f over a FROM function of unknown columns as the call f(t), and TABLESAMPLE methods', () => {
    const fns = (sql: string, opts?: AnalyzeOptions) =>
      facts(sql, opts).functions.map((f) => `${f.schema}.${f.name}:${f.effect}`);
    for (const opts of [withCatalog, without]) {
      // t is the value itself: any function of the name runs, not only one with effects.
      expect(fns("SELECT t.current_setting FROM unnest(ARRAY['port']) t", opts)).toContain(
        'pg_catalog.current_setting:read',
      );
      expect(fns("SELECT t.pg_get_viewdef FROM CAST('v' AS text) t", opts)).toContain(
        'pg_catalog.pg_get_viewdef:read',
      );
      // Columns named in a column definition list, or a function's known output, stay columns.
      expect(fns('SELECT t.name FROM my_users() AS t(id int, name text)', opts)).toEqual([
        'public.my_users:unknown',
      ]);
      expect(fns("SELECT t.key FROM jsonb_each('{}') t", opts)).toEqual([
        'pg_catalog.jsonb_each:read',
      ]);
      // So do the columns an XMLTABLE or JSON_TABLE declares, unless an alias renames them.
      const jt = `JSON_TABLE('[]'::jsonb, '$[*]' COLUMNS (name text PATH '$.n',
                    NESTED PATH '$.x[*]' COLUMNS (inner1 int PATH '$')))`;
      expect(fns(`SELECT t.name, t.inner1 FROM ${jt} t`, opts)).toEqual([]);
      const xt = `XMLTABLE('/r' PASSING (xml '<r/>') COLUMNS card text PATH 'n')`;
      expect(fns(`SELECT x.name FROM ${xt.replace('card', 'name')} AS x(a)`, opts)).toEqual([
        'pg_catalog.name:read',
      ]);
      expect(fns(`SELECT x.name FROM ${xt.replace('card', 'name')} AS x`, opts)).toEqual([]);
      // Renamed, its card is no column of it: the name is the outer query's.
      const outer = (sql: string) => facts(sql, opts).columns.map((c) => `${c.table}.${c.column}`);
      expect(outer(`SELECT (SELECT card FROM ${xt} AS x(a)) FROM customers`)).toEqual([
        'customers.card',
      ]);
      expect(outer(`SELECT (SELECT card FROM ${xt} AS x) FROM customers`)).toEqual([]);
      expect(fns('SELECT * FROM orders TABLESAMPLE system_time (1000)', opts)).toEqual([
        'public.system_time:unknown',
      ]);
      expect(fns('SELECT * FROM orders TABLESAMPLE SYSTEM (50)', opts)).toEqual([]);
    }
  });

  it("tells with the catalog that an unqualified WHERE column is the written table's", () => {
    const sql = 'UPDATE orders SET amount = 0 FROM customers c WHERE customer_id = c.id';
    expect(facts(sql).where_names_target).toBe(true);
    // Without it, customers may have a customer_id too.
    expect(facts(sql, without).where_names_target).toBe(false);
  });

  it('lists a search_path operator that IN, NULLIF, LIKE, BETWEEN, CASE and USING look up', () => {
    const cat = new Catalog({
      relations: [['public', 'orders', ['id', 'status']]],
      functions: [],
      operators: [
        ['public', '='],
        ['public', '~~'],
        ['public', '>='],
      ],
    });
    const fns = (sql: string, c?: Catalog) =>
      analyze(sql, { searchPath: ['public'], catalog: c }).statements[0].functions.map(
        (f) => `${f.schema}.${f.name}`,
      );
    for (const [sql, op] of [
      ["SELECT CASE status WHEN 'new' THEN 1 END FROM orders", 'public.='],
      ["SELECT 1 FROM orders WHERE status IN ('a', 'b')", 'public.='],
      ["SELECT NULLIF(status, 'x') FROM orders", 'public.='],
      ['SELECT 1 FROM orders WHERE id IS DISTINCT FROM 2', 'public.='],
      ["SELECT 1 FROM orders WHERE status LIKE 'x%'", 'public.~~'],
      ['SELECT 1 FROM orders WHERE id BETWEEN 1 AND 2', 'public.>='],
      ['SELECT 1 FROM orders a JOIN orders b USING (id)', 'public.='],
      ['SELECT 1 FROM orders WHERE status IN (SELECT status FROM orders)', 'public.='],
    ]) {
      expect(fns(sql, cat), sql).toContain(op);
      // Without the catalog the built-in symbols are pg_catalog's, and not listed.
      expect(fns(sql), sql).toEqual([]);
    }
  });
});
