// Facts of statements by kind: relations and access, columns and clauses, functions, extras.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql, paramTypeFacts } from './index.js';
import type { AnalyzeOptions, StatementFacts } from './types.js';

const opts = { searchPath: ['public'], database: 'postgres' };

beforeAll(async () => {
  await initSql();
});

function one(sql: string, o: AnalyzeOptions = opts): StatementFacts {
  const r = analyze(sql, o);
  expect(r.error, sql).toBeUndefined();
  expect(r.statements, sql).toHaveLength(1);
  return r.statements[0];
}
const rels = (s: StatementFacts): string[] =>
  s.relations
    .map(
      (r) =>
        `${r.schema}.${r.name}:${r.access}${r.kind !== 'table' ? ':' + r.kind : ''}${r.locking ? ':lock' : ''}`,
    )
    .sort();
const cols = (s: StatementFacts): string[] =>
  s.columns
    .map(
      (c) => `${c.table}.${c.column}:${c.clause}${c.derived ? ':d' : ''}${c.ambiguous ? ':a' : ''}`,
    )
    .sort();
const fns = (s: StatementFacts): string[] =>
  s.functions.map((f) => `${f.schema}.${f.name}:${f.effect}`).sort();

describe('relations', () => {
  it('resolves unqualified names against the search_path, pg_catalog first', () => {
    expect(rels(one('SELECT * FROM pg_class, orders'))).toEqual([
      'pg_catalog.pg_class:read',
      'public.orders:read',
    ]);
    expect(
      rels(one('SELECT * FROM orders', { searchPath: ['app', 'public'], database: 'd' })),
    ).toEqual(['app.orders:read']);
    expect(rels(one('SELECT * FROM pg_stat_activity'))).toEqual([
      'pg_catalog.pg_stat_activity:read:view',
    ]);
    expect(one('SELECT * FROM orders').relations[0].unqualified).toBe(true);
    expect(one('SELECT * FROM public.orders').relations[0].unqualified).toBeUndefined();
  });

  it('keeps quoted case and truncates to 63 bytes as the parser does', () => {
    expect(rels(one('SELECT * FROM "Orders"'))).toEqual(['public.Orders:read']);
    expect(rels(one('SELECT * FROM ORDERS'))).toEqual(['public.orders:read']);
    expect(one(`SELECT * FROM ${'a'.repeat(70)}`).relations[0].name).toBe('a'.repeat(63));
  });

  it('marks other databases', () => {
    expect(one('SELECT * FROM postgres.public.t').cross_database).toBeUndefined();
    expect(one('SELECT * FROM other.public.t').cross_database).toBe(true);
    expect(one('SELECT * FROM other.public.t', { searchPath: ['public'] }).cross_database).toBe(
      true,
    );
  });

  it('reports writes of DML, writable CTEs, INSERT sources, UPDATE FROM, DELETE USING', () => {
    expect(rels(one('INSERT INTO orders SELECT * FROM staging'))).toEqual([
      'public.orders:write',
      'public.staging:read',
    ]);
    expect(
      rels(one('UPDATE orders o SET status = c.name FROM customers c WHERE c.id = o.customer_id')),
    ).toEqual(['public.customers:read', 'public.orders:write']);
    expect(
      rels(one('DELETE FROM orders USING customers c WHERE c.id = orders.customer_id')),
    ).toEqual(['public.customers:read', 'public.orders:write']);
    const w = one(
      'WITH moved AS (DELETE FROM orders RETURNING *) INSERT INTO orders_archive SELECT * FROM moved',
    );
    expect(rels(w)).toEqual(['public.orders:write', 'public.orders_archive:write']);
    expect(w.nested_commands).toEqual(['DELETE']);
    const m = one(
      'MERGE INTO orders o USING staging s ON o.id = s.id WHEN MATCHED THEN UPDATE SET amount = s.amount WHEN NOT MATCHED THEN INSERT (id, amount) VALUES (s.id, s.amount)',
    );
    expect([m.command, m.class]).toEqual(['MERGE', 'write']);
    expect(rels(m)).toEqual(['public.orders:write', 'public.staging:read']);
    expect(cols(m)).toContain('orders.amount:set');
    expect(cols(m)).toContain('orders.id:values');
    expect(cols(m)).toContain('staging.amount:set');
  });

  it('does not let a CTE shadow a DML target', () => {
    expect(rels(one('WITH orders AS (SELECT 1) DELETE FROM orders'))).toEqual([
      'public.orders:write',
    ]);
  });

  it('scopes CTE names', () => {
    expect(rels(one('WITH orders AS (SELECT * FROM customers) SELECT * FROM orders'))).toEqual([
      'public.customers:read',
    ]);
    // Inside its own (non-recursive) definition the name is the table.
    expect(rels(one('WITH orders AS (SELECT * FROM orders) SELECT * FROM orders'))).toEqual([
      'public.orders:read',
    ]);
    // A CTE of a subquery is not visible outside it.
    expect(rels(one('SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) x, c'))).toEqual([
      'public.c:read',
    ]);
    // Schema-qualified names never name a CTE.
    expect(rels(one('WITH orders AS (SELECT 1) SELECT * FROM public.orders'))).toEqual([
      'public.orders:read',
    ]);
    expect(
      rels(
        one(
          'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r',
        ),
      ),
    ).toEqual([]);
  });

  it('finds relations in every subquery position', () => {
    const s = one(
      'SELECT (SELECT max(a) FROM t1), x.* FROM t2 x JOIN LATERAL (SELECT * FROM t3) y ON true WHERE EXISTS (SELECT 1 FROM t4) GROUP BY 1 HAVING count(*) > (SELECT count(*) FROM t5) ORDER BY (SELECT 1 FROM t6 LIMIT 1)',
    );
    expect(rels(s)).toEqual([
      'public.t1:read',
      'public.t2:read',
      'public.t3:read',
      'public.t4:read',
      'public.t5:read',
      'public.t6:read',
    ]);
    expect(rels(one('SELECT coalesce((SELECT 1 FROM t7), 0), f((SELECT 2 FROM t8))'))).toEqual([
      'public.t7:read',
      'public.t8:read',
    ]);
    expect(rels(one('SELECT 1 FROM a UNION SELECT 2 FROM b EXCEPT SELECT 3 FROM c'))).toEqual([
      'public.a:read',
      'public.b:read',
      'public.c:read',
    ]);
  });

  it('reports functions in FROM as relations of kind function', () => {
    const s = one('SELECT * FROM generate_series(1, 3) g, public.report_orders() r');
    expect(rels(s)).toEqual([
      'pg_catalog.generate_series:read:function',
      'public.report_orders:read:function',
    ]);
    expect(fns(s)).toEqual(['pg_catalog.generate_series:read', 'public.report_orders:unknown']);
  });

  it('reports SELECT INTO targets and locking clauses', () => {
    const s = one('SELECT * INTO TEMP stolen FROM orders');
    expect([s.command, s.class, s.select_into]).toEqual(['SELECT INTO', 'ddl', true]);
    expect(rels(s)).toEqual(['pg_temp.stolen:write', 'public.orders:read']);
    const l = one(
      'SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id FOR UPDATE OF o',
    );
    expect(rels(l)).toEqual([
      'public.customers:read',
      'public.orders:read',
      'public.orders:write:lock',
    ]);
    expect([l.class, l.locking]).toEqual(['write', true]);
    const all = one('SELECT * FROM orders, customers FOR SHARE');
    expect(rels(all)).toContain('public.customers:write:lock');
  });

  it('reports sequences named by nextval() and does not share them by key', () => {
    const a = analyze("SELECT nextval('seq_a')", opts).statements[0];
    const b = analyze("SELECT nextval('seq_b')", opts).statements[0];
    expect(rels(a)).toEqual(['public.seq_a:write:sequence']);
    expect(rels(b)).toEqual(['public.seq_b:write:sequence']);
    expect(rels(one("SELECT currval('app.s')"))).toEqual(['app.s:write:sequence']);
  });
});

describe('columns', () => {
  it('resolves through aliases and single-table scopes', () => {
    expect(
      cols(one('SELECT c.card, o.id FROM customers c JOIN orders o ON o.customer_id = c.id')),
    ).toEqual([
      'customers.card:select',
      'customers.id:join:d',
      'orders.customer_id:join:d',
      'orders.id:select',
    ]);
    expect(cols(one('SELECT id FROM orders o JOIN customers c USING (id)'))).toEqual([
      'customers.id:join:a',
      'customers.id:select:a',
      'orders.id:join:a',
      'orders.id:select:a',
    ]);
  });

  it('marks derived columns for every kind of expression', () => {
    for (const e of [
      'upper(card)',
      "card || ''",
      'card::text',
      'CASE WHEN true THEN card END',
      'count(card)',
      'max(card) OVER ()',
      'ARRAY[card]',
      'ROW(card)',
      '(ARRAY[card])[1]',
      "COALESCE(card, '')",
      "NULLIF(card, '')",
      'GREATEST(card, card)',
      'card IS NULL',
      'card COLLATE "C"',
      'xmlelement(name x, card)',
      "json_build_object('k', card)",
      '(SELECT card)',
    ]) {
      expect(cols(one(`SELECT ${e} FROM customers`)), e).toContain('customers.card:select:d');
    }
    expect(cols(one('SELECT (card) AS x FROM customers'))).toEqual(['customers.card:select']);
  });

  it('reports whole-row references as "*" derived', () => {
    expect(cols(one('SELECT row_to_json(c) FROM customers c'))).toContain('customers.*:select:d');
    expect(cols(one('SELECT (c.*)::text FROM customers c'))).toEqual(['customers.*:select:d']);
    expect(cols(one('SELECT (c).card FROM customers c'))).toContain('customers.*:select:d');
    expect(cols(one('SELECT customers FROM customers'))).toContain('customers.*:select:d');
    expect(cols(one('SELECT * FROM customers'))).toEqual(['customers.*:select']);
    expect(cols(one('SELECT c.* FROM customers c'))).toEqual(['customers.*:select']);
    expect(cols(one('TABLE customers'))).toEqual(['customers.*:select']);
  });

  it('uses clauses: where, group, having, order, window, returning, set, values', () => {
    const s = one('SELECT a, count(*) FROM t WHERE b = 1 GROUP BY a HAVING max(c) > 1 ORDER BY d');
    expect(cols(s)).toEqual([
      't.a:group',
      't.a:select',
      't.b:where:d',
      't.c:having:d',
      't.d:order',
    ]);
    expect(cols(one('SELECT rank() OVER (PARTITION BY a ORDER BY b) FROM t'))).toEqual([
      't.a:group:d',
      't.b:order:d',
    ]);
    expect(
      cols(one('SELECT sum(x) OVER w FROM t WINDOW w AS (PARTITION BY a ORDER BY b)')),
    ).toEqual(['t.a:group:d', 't.b:order:d', 't.x:select:d']);
    expect(cols(one('UPDATE t SET a = b + 1 WHERE c = 2 RETURNING d'))).toEqual([
      't.a:set',
      't.b:set:d',
      't.c:where:d',
      't.d:returning',
    ]);
    expect(cols(one('INSERT INTO t (a, b) VALUES (1, 2) RETURNING *'))).toEqual([
      't.*:returning',
      't.a:values',
      't.b:values',
    ]);
  });

  it('an ORDER BY of a set operation sorts by the result column it names', () => {
    expect(
      cols(one('SELECT id::text FROM customers UNION ALL SELECT card FROM customers ORDER BY 1')),
    ).toContain('customers.card:order:d');
    expect(
      cols(one('SELECT card AS k FROM customers UNION ALL SELECT name FROM customers ORDER BY k')),
    ).toContain('customers.card:order:d');
    expect(
      cols(
        one('SELECT card, id FROM customers UNION ALL SELECT name, id FROM customers ORDER BY 2'),
      ),
    ).not.toContain('customers.card:order:d');
  });

  it('counts ordinal GROUP BY / ORDER BY for the select-list entry at that position', () => {
    expect(cols(one('SELECT left(card, 1), count(*) FROM customers GROUP BY 1'))).toEqual([
      'customers.card:group:d',
      'customers.card:select:d',
    ]);
    expect(cols(one('SELECT id, card FROM customers ORDER BY 2'))).toContain(
      'customers.card:order:d',
    );
    // Only the entry named: ORDER BY 1 sorts by id, not by card. The facts depend on the
    // literal, so texts that differ only in it are not served each other's facts.
    expect(cols(one('SELECT id, card FROM customers ORDER BY 1'))).not.toContain(
      'customers.card:order:d',
    );
    expect(cols(one('SELECT id, card FROM customers ORDER BY 2'))).toContain(
      'customers.card:order:d',
    );
    // A `*` before the position hides which column it is: every column counts.
    expect(cols(one('SELECT *, 1 FROM customers ORDER BY 2'))).toContain('customers.*:order:d');
  });

  it('counts GROUP BY / ORDER BY of a select-list alias for the aliased columns', () => {
    expect(cols(one('SELECT left(card, 1) AS k FROM customers GROUP BY k'))).toContain(
      'customers.card:group:d',
    );
    expect(cols(one('SELECT card AS k FROM customers ORDER BY k'))).toContain(
      'customers.card:order:d',
    );
  });

  it('follows columns through CTEs and subqueries', () => {
    expect(cols(one('WITH x AS (SELECT card FROM customers) SELECT card FROM x'))).toEqual([
      'customers.card:select',
    ]);
    expect(cols(one('SELECT s.k FROM (SELECT card AS k FROM customers) s'))).toEqual([
      'customers.card:select',
    ]);
    expect(cols(one('SELECT upper(k) FROM (SELECT card AS k FROM customers) s'))).toEqual([
      'customers.card:select',
      'customers.card:select:d',
    ]);
    expect(cols(one('SELECT z FROM (SELECT card FROM customers) s(z)'))).toEqual([
      'customers.card:select',
    ]);
    expect(cols(one('WITH x(z) AS (SELECT card FROM customers) SELECT z FROM x'))).toEqual([
      'customers.card:select',
    ]);
    expect(cols(one('SELECT card FROM (SELECT * FROM customers) s'))).toEqual([
      'customers.*:select',
      'customers.card:select',
    ]);
    expect(cols(one('SELECT * FROM (SELECT card FROM customers) s'))).toEqual([
      'customers.card:select',
    ]);
    // Set operations lose the origin in RowDescription (table OID 0): derived.
    expect(cols(one("SELECT card FROM customers UNION ALL SELECT 'x'"))).toEqual([
      'customers.card:select:d',
    ]);
    expect(
      cols(one('SELECT s.card FROM (SELECT card FROM customers UNION ALL SELECT card FROM c2) s')),
    ).toEqual(['c2.card:select:d', 'customers.card:select:d']);
    // Scalar subqueries lose the origin in RowDescription: derived.
    expect(cols(one('SELECT (SELECT card FROM customers LIMIT 1)'))).toEqual([
      'customers.card:select:d',
    ]);
  });

  it('resolves correlated references to the outer query', () => {
    expect(
      cols(one('SELECT (SELECT 1 FROM customers c WHERE c.id = o.customer_id) FROM orders o')),
    ).toEqual(['customers.id:where:d', 'orders.customer_id:where:d']);
  });

  it('lists a GROUP BY or ORDER BY name that may be an output alias as a candidate only', () => {
    // GROUP BY who: customers' column who if it has one, else the alias.
    expect(cols(one('SELECT upper(name) AS who, count(*) FROM customers GROUP BY who'))).toEqual([
      'customers.name:group:d',
      'customers.name:select:d',
      'customers.who:group:a',
    ]);
    // An input column that is no alias stays certain.
    expect(cols(one('SELECT count(*) FROM customers GROUP BY name'))).toEqual([
      'customers.name:group',
    ]);
    // ORDER BY x beside an entry whose output name is not known: x may be that entry.
    expect(cols(one('SELECT CASE WHEN id > 0 THEN name END FROM customers ORDER BY x'))).toContain(
      'customers.x:order:a',
    );
  });

  it('reads TABLESAMPLE arguments in the outer query, past the FROM items before them', () => {
    // PostgreSQL gives TABLESAMPLE arguments no LATERAL view of their own level: a sibling's
    // column or alias of the same name does not hide the outer query's.
    const sample = (from: string, arg: string): string =>
      `SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM ${from}, orders o TABLESAMPLE BERNOULLI (${arg}))`;
    for (const from of ['(SELECT 1 AS card) s', 'generate_series(1, 1) AS card'])
      expect(cols(one(sample(from, "CASE WHEN card LIKE '4%' THEN 100 ELSE 0 END")))).toContain(
        'customers.card:select:d',
      );
    expect(
      cols(one(sample('orders c', "CASE WHEN c.card LIKE '4%' THEN 100 ELSE 0 END"))),
    ).toContain('customers.card:select:d');
    expect(cols(one(sample('orders c', 'length(c::text)')))).toContain('customers.*:select:d');
    expect(
      cols(one(sample('(SELECT 1 AS card) s JOIN orders p ON true', 'length(card)'))),
    ).toContain('customers.card:select:d');
    // REPEATABLE too; and inside a LATERAL subquery the items before that subquery count.
    expect(cols(one(sample('(SELECT 1 AS card) s', '10) REPEATABLE (length(card)')))).toContain(
      'customers.card:select:d',
    );
    expect(
      cols(
        one(
          'SELECT z.n FROM customers c, LATERAL (SELECT count(*) AS n FROM (SELECT 1 AS card) s, orders o TABLESAMPLE SYSTEM (length(card))) z',
        ),
      ),
    ).toContain('customers.card:select:d');
    // A subquery in the argument still reads its own FROM.
    expect(
      cols(one(sample('orders p', '(SELECT length(card) FROM (SELECT 1 AS card) s2)'))),
    ).not.toContain('customers.card:select:d');
  });
});

describe('functions', () => {
  it('classifies from the catalogue', () => {
    expect(
      fns(one('SELECT lower(x), now(), count(*), jsonb_build_object(1, 2), random() FROM t')),
    ).toEqual([
      'pg_catalog.count:read',
      'pg_catalog.jsonb_build_object:read',
      'pg_catalog.lower:read',
      'pg_catalog.now:read',
      'pg_catalog.random:read',
    ]);
    for (const f of [
      "pg_read_file('x')",
      "pg_read_binary_file('x')",
      "pg_ls_dir('.')",
      'lo_import(1)',
      'pg_cancel_backend(1)',
      'pg_advisory_xact_lock(1)',
      'pg_try_advisory_lock(1)',
      "pg_notify('a', 'b')",
      'pg_sleep_for(1)',
      'pg_reload_conf()',
      'pg_switch_wal()',
      "pg_create_physical_replication_slot('s')",
      "pg_logical_emit_message(true, 'a', 'b')",
      'pg_promote()',
      "query_to_xml('select 1', true, true, '')",
      "table_to_xml('customers', true, true, '')",
      "cursor_to_xml('c', 1, true, true, '')",
      "dblink_exec('x')",
      "set_config('a', 'b', false)",
    ]) {
      expect(one(`SELECT ${f}`).functions[0].effect, f).toBe('side_effect');
    }
  });

  it('treats functions outside pg_catalog as unknown, wherever they are called', () => {
    expect(fns(one('SELECT pg_temp.f()'))).toEqual(['pg_temp.f:unknown']);
    expect(fns(one('SELECT my_func(1)'))).toEqual(['public.my_func:unknown']);
    expect(fns(one('SELECT pg_catalog.no_such_function()'))).toEqual([
      'pg_catalog.no_such_function:unknown',
    ]);
    expect(fns(one('UPDATE t SET a = f() WHERE g(b)'))).toEqual([
      'public.f:unknown',
      'public.g:unknown',
    ]);
    expect(fns(one('INSERT INTO t VALUES (f())'))).toEqual(['public.f:unknown']);
    expect(fns(one('SELECT * FROM t ORDER BY f(a)'))).toEqual(['public.f:unknown']);
    expect(fns(one('SELECT count(*) FILTER (WHERE f(a)) FROM t'))).toEqual([
      'pg_catalog.count:read',
      'public.f:unknown',
    ]);
    expect(fns(one('CREATE TABLE t (a int DEFAULT f())'))).toEqual(['public.f:unknown']);
    expect(fns(one('CALL p(f())'))).toEqual(['public.f:unknown', 'public.p:unknown']);
  });

  it('reports schema-qualified operators', () => {
    expect(fns(one('SELECT 1 OPERATOR(public.===) 2'))).toEqual(['public.===:unknown']);
    expect(fns(one('SELECT 1 OPERATOR(pg_catalog.+) 2'))).toEqual(['pg_catalog.+:read']);
    expect(fns(one('SELECT 1 + 2'))).toEqual([]);
  });

  it('reports the SQL-syntax functions', () => {
    expect(
      fns(
        one(
          "SELECT extract(year FROM now()), substring('a' FROM 1), position('a' IN 'b'), trim(' a ')",
        ),
      ),
    ).toEqual([
      'pg_catalog.btrim:read',
      'pg_catalog.extract:read',
      'pg_catalog.now:read',
      'pg_catalog.position:read',
      'pg_catalog.substring:read',
    ]);
  });
});

describe('commands and classes', () => {
  const table: [string, string, string][] = [
    ['SELECT 1', 'SELECT', 'read'],
    ['VALUES (1)', 'SELECT', 'read'],
    ['INSERT INTO t VALUES (1)', 'INSERT', 'write'],
    ['UPDATE t SET a = 1', 'UPDATE', 'write'],
    ['DELETE FROM t', 'DELETE', 'write'],
    ['CREATE TABLE t (a int)', 'CREATE TABLE', 'ddl'],
    ['CREATE TABLE t AS SELECT 1', 'CREATE TABLE AS', 'ddl'],
    ['CREATE MATERIALIZED VIEW v AS SELECT 1', 'CREATE MATERIALIZED VIEW', 'ddl'],
    ['CREATE VIEW v AS SELECT * FROM customers', 'CREATE VIEW', 'ddl'],
    ['CREATE INDEX ON t (a)', 'CREATE INDEX', 'ddl'],
    ['DROP TABLE t', 'DROP TABLE', 'ddl'],
    ['DROP VIEW v', 'DROP VIEW', 'ddl'],
    ['DROP FUNCTION f(int)', 'DROP FUNCTION', 'ddl'],
    ['ALTER TABLE t ADD COLUMN b int', 'ALTER TABLE', 'ddl'],
    ['ALTER TABLE t RENAME TO u', 'ALTER TABLE', 'ddl'],
    ['ALTER TABLE t OWNER TO x', 'ALTER TABLE', 'ddl'],
    ['TRUNCATE t', 'TRUNCATE TABLE', 'write'],
    ['BEGIN', 'BEGIN', 'transaction'],
    ['START TRANSACTION', 'START TRANSACTION', 'transaction'],
    ['COMMIT', 'COMMIT', 'transaction'],
    ['END', 'COMMIT', 'transaction'],
    ['ROLLBACK', 'ROLLBACK', 'transaction'],
    ['ABORT', 'ROLLBACK', 'transaction'],
    ['SAVEPOINT s', 'SAVEPOINT', 'transaction'],
    ['RELEASE SAVEPOINT s', 'RELEASE', 'transaction'],
    ["COMMIT PREPARED 'x'", 'COMMIT PREPARED', 'transaction'],
    ["ROLLBACK PREPARED 'x'", 'ROLLBACK PREPARED', 'transaction'],
    ['SET x = 1', 'SET', 'session'],
    ['RESET x', 'RESET', 'session'],
    ['SHOW x', 'SHOW', 'session'],
    ['DISCARD ALL', 'DISCARD ALL', 'session'],
    ['DISCARD PLANS', 'DISCARD PLANS', 'session'],
    ['LISTEN c', 'LISTEN', 'session'],
    ['UNLISTEN *', 'UNLISTEN', 'session'],
    ["NOTIFY c, 'x'", 'NOTIFY', 'utility'],
    ['VACUUM t', 'VACUUM', 'utility'],
    ['ANALYZE t', 'ANALYZE', 'utility'],
    ['CLUSTER t USING i', 'CLUSTER', 'utility'],
    ['REINDEX TABLE t', 'REINDEX', 'utility'],
    ['CHECKPOINT', 'CHECKPOINT', 'utility'],
    ["LOAD 'x'", 'LOAD', 'utility'],
    ['REFRESH MATERIALIZED VIEW v', 'REFRESH MATERIALIZED VIEW', 'ddl'],
    ["COMMENT ON TABLE t IS 'x'", 'COMMENT', 'ddl'],
    ["SECURITY LABEL ON TABLE t IS 'x'", 'SECURITY LABEL', 'ddl'],
    ['GRANT SELECT ON t TO r', 'GRANT', 'dcl'],
    ['REVOKE SELECT ON t FROM r', 'REVOKE', 'dcl'],
    ['GRANT r TO u', 'GRANT ROLE', 'dcl'],
    ['CREATE ROLE r', 'CREATE ROLE', 'dcl'],
    ['ALTER ROLE r SUPERUSER', 'ALTER ROLE', 'dcl'],
    ['ALTER ROLE r SET search_path = evil', 'ALTER ROLE', 'dcl'],
    ['DROP ROLE r', 'DROP ROLE', 'dcl'],
    ['ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r', 'ALTER DEFAULT PRIVILEGES', 'dcl'],
    ["ALTER SYSTEM SET log_statement = 'none'", 'ALTER SYSTEM', 'ddl'],
    ['ALTER DATABASE d SET x = 1', 'ALTER DATABASE', 'ddl'],
    ['CREATE DATABASE d', 'CREATE DATABASE', 'ddl'],
    ['CREATE SCHEMA s', 'CREATE SCHEMA', 'ddl'],
    ['CREATE SEQUENCE s', 'CREATE SEQUENCE', 'ddl'],
    ["CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", 'CREATE FUNCTION', 'ddl'],
    ["CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1'", 'CREATE PROCEDURE', 'ddl'],
    ['CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING', 'CREATE RULE', 'ddl'],
    ['CREATE EXTENSION x', 'CREATE EXTENSION', 'ddl'],
    ["CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", 'CREATE SUBSCRIPTION', 'ddl'],
    ['DO $$ BEGIN END $$', 'DO', 'unknown'],
    ['CALL p()', 'CALL', 'unknown'],
    ['PREPARE p AS SELECT 1', 'PREPARE', 'read'],
    ['EXECUTE p', 'EXECUTE', 'unknown'],
    ['DEALLOCATE p', 'DEALLOCATE', 'session'],
    ['DEALLOCATE ALL', 'DEALLOCATE ALL', 'session'],
    ['DECLARE c CURSOR FOR SELECT 1', 'DECLARE CURSOR', 'read'],
    ['FETCH 10 FROM c', 'FETCH', 'read'],
    ['MOVE 10 IN c', 'MOVE', 'read'],
    ['CLOSE c', 'CLOSE CURSOR', 'utility'],
    ['LOCK TABLE t', 'LOCK TABLE', 'write'],
    ['COPY t TO STDOUT', 'COPY', 'read'],
    ['COPY t FROM STDIN', 'COPY', 'write'],
    ['EXPLAIN SELECT 1', 'EXPLAIN', 'read'],
    ['SET CONSTRAINTS ALL DEFERRED', 'SET CONSTRAINTS', 'transaction'],
  ];
  for (const [sql, command, cls] of table) {
    it(sql, () => {
      const s = one(sql);
      expect([s.command, s.class]).toEqual([command, cls]);
    });
  }

  it('marks opaque statements', () => {
    for (const sql of [
      'DO $$ BEGIN END $$',
      'CALL p()',
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
      'CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()',
      'CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING',
      "COPY t FROM PROGRAM 'x'",
      "LOAD 'x'",
    ]) {
      expect(one(sql).opaque, sql).toBe(true);
    }
    expect(one('SELECT 1').opaque).toBe(false);
  });
});

describe('kind-specific facts', () => {
  it('COPY', () => {
    expect(one("COPY t (a, b) FROM '/tmp/x' WITH (FORMAT csv)").copy).toEqual({
      direction: 'from',
      program: false,
      file: '/tmp/x',
      stdio: false,
      format: 'csv',
      header: false,
      query: false,
    });
    for (const [sql, header] of [
      ['COPY t TO STDOUT CSV HEADER', true],
      ['COPY t TO STDOUT (FORMAT csv, HEADER)', true],
      ['COPY t TO STDOUT (HEADER on)', true],
      ['COPY t TO STDOUT (HEADER 1)', true],
      ['COPY t TO STDOUT (HEADER false)', false],
      ['COPY t TO STDOUT (HEADER 0)', false],
      ['COPY t FROM STDIN (HEADER match)', true],
    ] as const)
      expect(one(sql).copy, sql).toMatchObject({ header });
    const p = one("COPY t TO PROGRAM 'gzip > /tmp/x'");
    expect(p.copy).toMatchObject({ direction: 'to', program: true, stdio: false });
    expect([p.class, p.opaque]).toEqual(['utility', true]);
    const q = one('COPY (SELECT card FROM customers WHERE id = 1) TO STDOUT');
    expect(q.copy).toMatchObject({ query: true, stdio: true });
    expect(cols(q)).toEqual(['customers.card:select', 'customers.id:where:d']);
    expect(cols(one('COPY t (a, b) TO STDOUT'))).toEqual(['t.a:select', 't.b:select']);
    expect(one('COPY t TO STDOUT BINARY').copy).toMatchObject({ format: 'binary' });
  });

  it('transactions', () => {
    expect(one('BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY').transaction).toEqual({
      kind: 'begin',
      isolation: 'serializable',
      read_only: true,
    });
    expect(one('START TRANSACTION READ WRITE').transaction).toEqual({
      kind: 'start',
      read_write: true,
    });
    expect(one('COMMIT AND CHAIN').transaction).toEqual({ kind: 'commit', chain: true });
    expect(one('ROLLBACK TO SAVEPOINT s').transaction).toEqual({ kind: 'rollback_to', name: 's' });
    expect(one("PREPARE TRANSACTION 'g'").transaction).toEqual({ kind: 'prepare', name: 'g' });
  });

  it('SET / RESET / SHOW', () => {
    expect(one('SET search_path TO evil, public').set).toEqual({
      name: 'search_path',
      value: 'evil, public',
      local: false,
      reset: false,
      all: false,
      default: false,
    });
    expect(one('SET LOCAL statement_timeout = 0').set).toMatchObject({ value: '0', local: true });
    expect(one("SET TIME ZONE 'UTC'").set).toMatchObject({ name: 'timezone', value: 'UTC' });
    expect(one("SET NAMES 'SJIS'").set).toMatchObject({ name: 'client_encoding', value: 'SJIS' });
    expect(one('SET ROLE NONE').set).toMatchObject({ name: 'role', value: 'none' });
    expect(one('RESET ROLE').set).toMatchObject({ name: 'role', reset: true, all: false });
    expect(one('RESET SESSION AUTHORIZATION').set).toMatchObject({
      name: 'session_authorization',
      reset: true,
    });
    expect(one('SET standard_conforming_strings = off').set).toMatchObject({ value: 'off' });
    const t = one('SET TRANSACTION READ WRITE');
    expect(t.set).toMatchObject({ name: 'transaction' });
    expect(t.transaction_options).toEqual({ read_write: true });
    expect(one('SHOW ALL').show).toEqual({ name: 'all' });
  });

  it('a SET of the value the gateway pins keeps it', () => {
    const keeps = (sql: string, o: AnalyzeOptions = opts) =>
      Boolean((one(sql, o).set as { keeps_pinned?: boolean }).keeps_pinned);
    expect(keeps('SET search_path TO public')).toBe(true);
    expect(keeps('set search_path to "public"')).toBe(true);
    expect(keeps("SET LOCAL search_path = 'public'")).toBe(true);
    // Each value is one schema, however it is quoted: 'public, x' is a schema of that name.
    expect(keeps("SET search_path = 'public, pg_temp'")).toBe(false);
    expect(keeps('SET search_path = public, pg_temp')).toBe(false);
    expect(keeps('SET search_path = "Public"')).toBe(false);
    expect(keeps('SET search_path TO DEFAULT')).toBe(false);
    expect(
      keeps('SET search_path = "$user", public', { ...opts, searchPath: ['$user', 'public'] }),
    ).toBe(true);
    expect(keeps("set client_encoding to 'unicode'")).toBe(true);
    expect(keeps("SET NAMES 'UTF-8'")).toBe(true);
    expect(keeps("SET client_encoding = 'SQL_ASCII'")).toBe(false);
    expect(keeps("SET client_encoding = 'utf16'")).toBe(false);
    expect(keeps('SET standard_conforming_strings = on')).toBe(true);
    expect(keeps('SET standard_conforming_strings = off')).toBe(false);
    expect(keeps("SET application_name = 'public'")).toBe(false);
  });

  it('an UPDATE or DELETE whose WHERE is false whatever the row', () => {
    const wf = (sql: string) => one(sql).where_false === true;
    for (const sql of [
      'DELETE FROM orders WHERE 1=0',
      'DELETE FROM orders WHERE (0 = 1)',
      'UPDATE orders SET status = $1 WHERE 1 = 0',
      'DELETE FROM orders WHERE false',
      'DELETE FROM orders WHERE 1 <> 1',
      'DELETE FROM orders WHERE NOT true',
      'DELETE FROM orders WHERE 1 = 0 AND id = 3',
      'DELETE FROM orders WHERE false OR 2 = 3',
      'DELETE FROM orders WHERE 1 < 0',
      'DELETE FROM orders WHERE id = 3 AND 2 >= 3',
    ])
      expect(wf(sql), sql).toBe(true);
    for (const sql of [
      'DELETE FROM orders WHERE 1=1',
      'DELETE FROM orders WHERE true',
      'DELETE FROM orders WHERE 1 = 0 OR id = 3',
      "DELETE FROM orders WHERE 'a' = 'b'",
      'DELETE FROM orders WHERE NULL',
      'DELETE FROM orders WHERE 1 = 0.0',
      'DELETE FROM orders WHERE id = 0',
      'DELETE FROM orders',
      'SELECT 1 FROM orders WHERE 1 = 0',
    ])
      expect(wf(sql), sql).toBe(false);
    // One text to a cache that ignores literals: each is read from its own literals.
    expect(wf('DELETE FROM orders WHERE 5 = 6')).toBe(true);
    expect(wf('DELETE FROM orders WHERE 5 = 5')).toBe(false);
    expect(wf('DELETE FROM orders WHERE 7 = 8 AND id = 1')).toBe(true);
    expect(wf('DELETE FROM orders WHERE 7 = 7 AND id = 1')).toBe(false);
    // A filter that names no constant pair still shares one cache entry.
    expect(analyze('DELETE FROM orders WHERE id = 41', opts).statements[0].where_false).toBe(
      undefined,
    );
  });

  it('an UPDATE or DELETE whose WHERE is true whatever the row', () => {
    const wt = (sql: string) => one(sql).where_true === true;
    for (const sql of [
      'DELETE FROM orders WHERE true',
      'DELETE FROM orders WHERE 1 = 1',
      'DELETE FROM orders WHERE id = 1 OR true',
      'UPDATE orders SET status = $1 WHERE true OR id = $2',
      'DELETE FROM orders WHERE id = 1 OR 1 = 1',
      'DELETE FROM orders WHERE NOT (id = 1 AND false)',
      'DELETE FROM orders WHERE (id = 1 OR 2 > 1) AND 3 <> 4',
      'DELETE FROM orders WHERE id = 2 OR NOT false',
    ])
      expect(wt(sql), sql).toBe(true);
    for (const sql of [
      'DELETE FROM orders WHERE id = 1',
      'DELETE FROM orders WHERE 1 = 1 AND id = 1',
      'DELETE FROM orders WHERE id = 1 OR NULL',
      "DELETE FROM orders WHERE id = 1 OR 'a' = 'a'",
      'DELETE FROM orders WHERE NOT (id = 1)',
      'DELETE FROM orders WHERE 1 = 0',
      'SELECT 1 FROM orders WHERE true',
    ])
      expect(wt(sql), sql).toBe(false);
    // One text to a cache that ignores literals: each is read from its own literals.
    expect(wt('DELETE FROM orders WHERE id = 1 OR 5 = 5')).toBe(true);
    expect(wt('DELETE FROM orders WHERE id = 1 OR 5 = 6')).toBe(false);
  });

  it('an UPDATE or DELETE whose WHERE has an OR arm naming no column', () => {
    const wo = (sql: string) => one(sql).where_open === true;
    for (const sql of [
      "DELETE FROM orders WHERE id = 1 OR 'a' = 'a'",
      'DELETE FROM orders WHERE id = 1 OR 1.0 = 1.0',
      'DELETE FROM orders WHERE id = 1 OR NULL IS NULL',
      'DELETE FROM orders WHERE id = 1 OR 1 IN (1)',
      "UPDATE orders SET status = 'x' WHERE id = $1 OR $2",
      "DELETE FROM orders WHERE (id = 1 AND status = 'x') OR now() > '2020-01-01'",
      'DELETE FROM orders WHERE NOT (1::bool AND id = 1) OR 2 BETWEEN 1 AND 3',
      "DELETE FROM orders WHERE NOT (id = 1 AND 'a' = 'b')",
      "DELETE FROM orders WHERE (id = 5 OR 'a' = 'a') IS TRUE",
      "DELETE FROM orders WHERE (id = 1 AND 'a' = 'b') IS NOT TRUE",
    ])
      expect(wo(sql), sql).toBe(true);
    for (const sql of [
      'DELETE FROM orders WHERE id = 1',
      'DELETE FROM orders WHERE 1 = 0 OR id = 2',
      "DELETE FROM orders WHERE id = 1 AND 'a' = 'a'",
      'DELETE FROM orders WHERE id IN (1, 2)',
      'DELETE FROM orders WHERE id = 1 OR 1 = 1',
      'DELETE FROM orders WHERE NOT (id = 1 OR 1 = 0)',
      "DELETE FROM orders WHERE NOT (id = 1 OR 'a' = 'b')",
      'DELETE FROM orders WHERE (id = 5) IS TRUE',
    ])
      expect(wo(sql), sql).toBe(false);
  });

  it('a shape read once with and once without literals deciding keeps its literals deciding', () => {
    // 0 > 10000000000 is no integer comparison the analyzer folds; it shares the shape of
    // 1 > 0, which it does. Either order, each text gets its own facts.
    const wt = (sql: string) => one(sql).where_true === true;
    for (const [a, b] of [
      [
        'DELETE FROM orders o WHERE id = 1 OR 1 > 0',
        'DELETE FROM orders o WHERE id = 5 OR 0 > 10000000000',
      ],
      [
        'DELETE FROM orders q WHERE id = 5 OR 0 > 10000000000',
        'DELETE FROM orders q WHERE id = 1 OR 1 > 0',
      ],
    ]) {
      const first = wt(a);
      wt(b);
      expect(wt(a)).toBe(first);
      expect(wt('DELETE FROM orders' + a.slice(18).replace(/OR .*/, 'OR 1 > 0'))).toBe(true);
    }
  });

  it('an UPDATE or DELETE whose WHERE names the rows written, through their own name', () => {
    const names = (sql: string) => one(sql).where_names_target;
    for (const sql of [
      'DELETE FROM orders WHERE id = 1',
      'DELETE FROM orders q USING orders z WHERE q.id = z.id AND z.id = 1',
      'DELETE FROM orders q WHERE EXISTS (SELECT 1 FROM orders z WHERE z.id = q.id)',
      'DELETE FROM public.orders WHERE orders.id = 1',
      'EXPLAIN ANALYZE UPDATE orders SET amount = 0 WHERE id = 1',
    ])
      expect(names(sql), sql).toBe(true);
    for (const sql of [
      'DELETE FROM orders q USING orders z WHERE z.id = 1',
      'UPDATE orders q SET amount = 0 FROM orders z WHERE z.id = 1',
      // An inner q is not the q written.
      'DELETE FROM orders q WHERE EXISTS (SELECT 1 FROM orders q WHERE q.id = 1)',
      // Names only outside its WHERE, or only where it filters nothing.
      'UPDATE orders SET amount = (SELECT 1 FROM customers c WHERE c.id = orders.customer_id) FROM customers z WHERE z.id = 1',
      'DELETE FROM orders q WHERE EXISTS (SELECT q.id FROM customers)',
      // Without the catalog an unqualified name may be the other table's.
      "DELETE FROM orders WHERE EXISTS (SELECT 1 FROM customers WHERE name = 'x')",
      "DELETE FROM orders USING customers WHERE name = 'x'",
      'EXPLAIN ANALYZE DELETE FROM orders q USING orders z WHERE z.id = 1',
    ])
      expect(names(sql), sql).toBe(false);
    expect(names('DELETE FROM orders')).toBeUndefined();
    // (x).unnest in a VALUES row is a set too.
    expect(
      (
        one('INSERT INTO orders VALUES ((ARRAY(SELECT id FROM orders)).unnest, 0)').insert as {
          source: string;
        }
      ).source,
    ).toBe('query');
  });

  it("an INSERT's VALUES calling a function that may return a set is a query's rows", () => {
    const source = (sql: string) => (one(sql).insert as { source: string }).source;
    for (const sql of [
      'INSERT INTO orders VALUES (unnest(ARRAY(SELECT id FROM orders)), 0) ON CONFLICT (id) DO UPDATE SET amount = 0',
      'INSERT INTO orders VALUES (pg_catalog.generate_series(1, 10), 0)',
      'INSERT INTO orders VALUES (1, lower(my_rows()::text))',
    ])
      expect(source(sql), sql).toBe('query');
    for (const sql of [
      "INSERT INTO orders VALUES (1, lower('x')), (2, (SELECT max(id) FROM orders))",
      'INSERT INTO orders VALUES (1, (SELECT unnest(ARRAY[1])))',
      'INSERT INTO orders VALUES ($1, $2)',
    ])
      expect(source(sql), sql).toBe('values');
  });

  it('constants under IS TRUE / IS NOT FALSE decide the WHERE too, whichever text was read first', () => {
    const facts = (sql: string) => {
      const f = one(sql);
      return {
        open: f.where_open === true,
        all: f.where_true === true,
        none: f.where_false === true,
      };
    };
    // One shape to a cache that ignores literals: the bounded one read first must not lend
    // its facts to the one that writes every row.
    for (const [bounded, every] of [
      [
        'UPDATE orders SET amount = 7 WHERE id = 1 OR (1 = 0) IS TRUE',
        'UPDATE orders SET amount = 7 WHERE id = 1 OR (1 = 1) IS TRUE',
      ],
      [
        'DELETE FROM orders WHERE id = -5 OR NOT (1 = 1) IS NOT FALSE',
        'DELETE FROM orders WHERE id = -5 OR NOT (1 = 0) IS NOT FALSE',
      ],
    ]) {
      expect(facts(bounded), bounded).toEqual({ open: false, all: false, none: false });
      expect(facts(every), every).toEqual({ open: false, all: true, none: false });
    }
    expect(facts('DELETE FROM orders WHERE (1 = 0) IS TRUE').none).toBe(true);
    expect(facts('DELETE FROM orders WHERE (1 = 0) IS NOT TRUE').all).toBe(true);
  });

  it('PREPARE / EXECUTE / DEALLOCATE', () => {
    const p = one('PREPARE q (int) AS UPDATE orders SET amount = 0 WHERE id = $1');
    expect([p.command, p.class]).toEqual(['PREPARE', 'write']);
    expect(p.prepare).toMatchObject({
      name: 'q',
      types: ['pg_catalog.int4'],
      statement: { command: 'UPDATE' },
    });
    expect(rels(p)).toEqual(['public.orders:write']);
    const e = one("EXECUTE q(1, 'x', pg_sleep(1))");
    expect(e.execute).toEqual({ name: 'q', params: ['1', 'x', null] });
    expect(fns(e)).toEqual(['pg_catalog.pg_sleep:side_effect']);
    expect(one('DEALLOCATE PREPARE q').deallocate).toEqual({ name: 'q' });
    expect(one('DEALLOCATE ALL').deallocate).toEqual({ name: null });
  });

  it('cursors', () => {
    const d = one('DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT card FROM customers FOR UPDATE');
    expect(d.cursor).toEqual({ name: 'c', hold: true, scroll: true });
    expect(d.class).toBe('write');
    expect(one('FETCH NEXT FROM c').cursor_op).toMatchObject({ kind: 'fetch', name: 'c' });
    expect(one('CLOSE c').cursor_op).toEqual({ kind: 'close', name: 'c' });
  });

  it('EXPLAIN', () => {
    const a = one('EXPLAIN (ANALYZE, BUFFERS) SELECT pg_sleep(1) FROM orders');
    expect(a.explain).toEqual({ analyze: true, command: 'SELECT' });
    expect(fns(a)).toEqual(['pg_catalog.pg_sleep:side_effect']);
    expect(one('EXPLAIN (ANALYZE false) SELECT 1').explain).toMatchObject({ analyze: false });
    expect(one('EXPLAIN (ANALYZE 1) SELECT 1').explain).toMatchObject({ analyze: true });
    expect(one('EXPLAIN ANALYZE VERBOSE SELECT 1').explain).toMatchObject({ analyze: true });
    const i = one('EXPLAIN ANALYZE INSERT INTO t SELECT * FROM customers');
    expect(i.class).toBe('write');
    expect(rels(i)).toEqual(['public.customers:read', 'public.t:write']);
    const c = one('EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1');
    expect(c.class).toBe('ddl');
  });

  it('LOCK, LISTEN/NOTIFY', () => {
    expect(one('LOCK TABLE orders IN SHARE MODE NOWAIT').lock).toEqual({
      mode: 'SHARE',
      nowait: true,
    });
    expect(one('LOCK orders').lock).toEqual({ mode: 'ACCESS EXCLUSIVE', nowait: false });
    expect(one('LISTEN ch').notify).toEqual({ kind: 'listen', channel: 'ch' });
    expect(one('UNLISTEN *').notify).toEqual({ kind: 'unlisten', channel: null });
  });

  it('DDL targets', () => {
    expect(rels(one('DROP TABLE a.b, c'))).toEqual(['a.b:write', 'public.c:write']);
    expect(rels(one('CREATE VIEW v AS SELECT * FROM customers'))).toEqual([
      'public.customers:read',
      'public.v:write',
    ]);
    expect(rels(one('CREATE TEMP TABLE x AS SELECT * FROM customers'))).toEqual([
      'pg_temp.x:write',
      'public.customers:read',
    ]);
    expect(rels(one('ALTER TABLE orders ADD COLUMN x int'))).toEqual(['public.orders:write']);
    expect(rels(one('TRUNCATE orders, customers'))).toEqual([
      'public.customers:write',
      'public.orders:write',
    ]);
    expect(rels(one("COMMENT ON COLUMN orders.status IS 'x'"))).toEqual(['public.orders:write']);
    expect(rels(one('GRANT SELECT ON orders TO r'))).toEqual(['public.orders:write']);
    expect(rels(one('CREATE INDEX i ON orders (status)'))).toEqual(['public.orders:write']);
    expect(rels(one('VACUUM ANALYZE orders'))).toEqual(['public.orders:write']);
    expect(rels(one('ALTER SEQUENCE orders_id_seq RESTART'))).toEqual([
      'public.orders_id_seq:write:sequence',
    ]);
    expect(rels(one('CREATE SEQUENCE s OWNED BY orders.id'))).toEqual(['public.s:write:sequence']);
  });
});

describe('bodies of DO and CREATE FUNCTION', () => {
  it('reports the static SQL of a DO block and flags dynamic SQL; stays opaque', () => {
    const d = one(
      "DO $$ BEGIN EXECUTE 'DELETE FROM ' || 'orders'; DELETE FROM customers WHERE id = 1; PERFORM pg_sleep(1); END $$",
    );
    expect([d.class, d.opaque]).toEqual(['unknown', true]);
    expect(d.do).toMatchObject({ language: 'plpgsql', parsed: true, dynamic: true });
    expect(rels(d)).toEqual(['public.customers:write']);
    expect(fns(d)).toEqual(['pg_catalog.pg_sleep:side_effect']);
    expect(one('DO $$ not plpgsql at all $$').do).toMatchObject({ parsed: false });
    expect(one("DO LANGUAGE plperlu 'system(1)'").do).toMatchObject({
      language: 'plperlu',
      parsed: false,
    });
  });

  it('reports what a SQL or PL/pgSQL function body touches', () => {
    const f = one(
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT count(*) FROM customers'",
    );
    expect(rels(f)).toEqual(['public.customers:read', 'public.f:write:function']);
    const p = one('CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN TRUNCATE orders; END $$');
    expect(rels(p)).toEqual(['public.orders:write', 'public.p:write:procedure']);
    expect(p.body).toMatchObject({ language: 'plpgsql', parsed: true, dynamic: false });
  });

  it('bounds nested bodies', () => {
    let sql = 'DROP TABLE deep';
    for (let i = 0; i < 8; i++) sql = `DO $t${i}$ BEGIN ${sql}; END $t${i}$`;
    const d = one(sql);
    expect(d.opaque).toBe(true);
    expect(rels(d)).toEqual([]);
  });
});

describe('robustness', () => {
  it('never throws on odd input', () => {
    for (const t of [
      '\\',
      "'",
      '"',
      '$$',
      '/*',
      '--',
      ';;;',
      'SELECT (',
      '\u0001',
      'é',
      'SELECT 1 FROM',
    ]) {
      expect(() => analyze(t, opts)).not.toThrow();
    }
  });
});

describe('names the catalog would settle (found by the security variants)', () => {
  it('an unqualified column of a subquery over base tables may be an outer one', () => {
    // orders has no card: PostgreSQL binds it to the outer customers.
    expect(cols(one('SELECT id, (SELECT card FROM orders LIMIT 1) FROM customers'))).toEqual([
      'customers.card:select:d:a',
      'customers.id:select',
      'orders.card:select:d:a',
    ]);
    // A subquery that names the column settles it.
    expect(
      cols(one('SELECT (SELECT card FROM (SELECT 1 AS card) s) FROM customers')).filter((c) =>
        c.startsWith('customers.card'),
      ),
    ).toEqual([]);
  });

  it('a column list over a "*" may rename any column', () => {
    const f = one('WITH x(a, b, c, d) AS (TABLE customers) SELECT a FROM x WHERE d IS NULL');
    expect(cols(f)).toContain('customers.*:where:d:a');
    expect(cols(f)).toContain('customers.*:select:a');
  });

  it("a join alias's column list renames the join's columns", () => {
    expect(cols(one('SELECT j.d FROM (customers CROSS JOIN orders) AS j(a, b, c, d)'))).toEqual([
      'customers.*:select:a',
      'orders.*:select:a',
    ]);
  });

  it('t.f may be f(t), a function of the whole row', () => {
    const f = one('SELECT c.row_to_json FROM customers c');
    expect(fns(f)).toEqual(['pg_catalog.row_to_json:read']);
    expect(cols(f)).toContain('customers.*:select:d:a');
    // A name no function of a row has stays a column.
    expect(fns(one('SELECT c.name FROM customers c'))).toEqual([]);
  });

  it('t.f over an item whose column names are not known may be f(t) on the whole row', () => {
    // jj's columns are customers' and unnest's: jj.hstore may be no column of either, and
    // then it is hstore(jj), every column of customers included.
    expect(
      cols(one('SELECT jj.hstore FROM (customers c CROSS JOIN unnest(ARRAY[1]) u) AS jj')),
    ).toEqual(['customers.*:select:d:a', 'customers.hstore:select:a']);
    expect(cols(one("SELECT s.id FROM (SELECT * FROM customers, jsonb_each('{}') j) s"))).toContain(
      'customers.*:select:d:a',
    );
    // Where the names are known, the column stays the only candidate.
    expect(
      cols(one('SELECT jj.hstore FROM (customers c CROSS JOIN generate_series(1, 2) g) AS jj')),
    ).toEqual(['customers.hstore:select']);
  });

  it('a cast to a reg* type is the catalog lookup it does', () => {
    expect(fns(one("SELECT 'orders'::regclass, 16384::pg_catalog.regrole"))).toEqual([
      'pg_catalog.to_regclass:read',
      'pg_catalog.to_regrole:read',
    ]);
    // The function-style cast, and a column typed regclass.
    expect(fns(one('SELECT regclass(16384)'))).toContain('pg_catalog.to_regclass:read');
    expect(fns(one('SELECT t.r FROM json_to_record(\'{"r": 1259}\') AS t(r regclass)'))).toContain(
      'pg_catalog.to_regclass:read',
    );
  });

  it('schema.table.f is f(table) too', () => {
    const f = one('SELECT public.customers.to_jsonb FROM customers');
    expect(fns(f)).toEqual(['pg_catalog.to_jsonb:read']);
    expect(cols(f)).toContain('customers.*:select:d:a');
  });

  it('positions and output names inside ROLLUP, CUBE, GROUPING SETS and a row', () => {
    for (const g of ['ROLLUP (1)', 'CUBE (1)', 'GROUPING SETS ((k))', '(1, 2)'])
      expect(cols(one(`SELECT card AS k, id FROM customers GROUP BY ${g}`))).toContain(
        'customers.card:group:d',
      );
  });

  it('WITH RECURSIVE items are followed in the order they depend on each other', () => {
    const f = one(
      'WITH RECURSIVE a AS (SELECT upper(x) AS u FROM b), b AS (SELECT card AS x FROM customers) SELECT u FROM a',
    );
    expect(cols(f)).toContain('customers.card:select:d');
  });

  it('functions that assign a transaction ID are side effects', () => {
    expect(fns(one('SELECT pg_current_xact_id(), txid_current()'))).toEqual([
      'pg_catalog.pg_current_xact_id:side_effect',
      'pg_catalog.txid_current:side_effect',
    ]);
  });

  it('PREPARE carries what its statement writes through a CTE', () => {
    const f = one(
      'PREPARE w AS WITH d AS (DELETE FROM orders RETURNING *) INSERT INTO orders SELECT * FROM d',
    );
    expect(f.writes_cte).toBe(true);
    expect(f.nested_commands).toEqual(['DELETE']);
  });
});

describe('types and lookups (third round of security variants)', () => {
  it("a type of the database's own is a relation of kind type; built-in types are not", () => {
    expect(rels(one("SELECT CAST('-1' AS public.positive_amount), (NULL::customers).*"))).toEqual([
      'public.customers:read:type',
      'public.positive_amount:read:type',
    ]);
    expect(
      rels(one("SELECT 1::int, 'a'::text, '{}'::jsonb, 'x'::varchar(3), ARRAY[1]::int[]")),
    ).toEqual([]);
  });

  it("the reg* types' I/O functions and PREPARE's reg* parameters are lookups", () => {
    expect(fns(one('SELECT regclassout(16384::oid)'))).toContain('pg_catalog.to_regclass:read');
    expect(fns(one('PREPARE r(regrole) AS SELECT $1::text'))).toEqual([
      'pg_catalog.to_regrole:read',
    ]);
  });

  it('array spellings of reg* types, and functions given a relation or type OID', () => {
    expect(fns(one("SELECT '{customers}'::_regclass"))).toEqual(['pg_catalog.to_regclass:read']);
    expect(fns(one("SELECT record_in('(1)', 16389, -1)"))).toContain('pg_catalog.to_regtype:read');
    expect(fns(one('SELECT satisfies_hash_partition(16384, 1, 0, 1)'))).toContain(
      'pg_catalog.to_regclass:read',
    );
  });

  it('a function returning a reg* value is a lookup, unless the value is cast to text', () => {
    // A regtype meeting a number or a string is converted to regtype implicitly.
    for (const sql of [
      'SELECT pg_typeof(1)',
      "SELECT pg_typeof(1) IN ('customers')",
      'SELECT x::text FROM (SELECT pg_typeof(1) UNION ALL SELECT 16389) s(x)',
      'SELECT pg_typeof(1)::text[]',
      'SELECT pg_basetype(16389)',
    ])
      expect(fns(one(sql)), sql).toContain('pg_catalog.to_regtype:read');
    expect(fns(one('SELECT pg_partition_root(16389)'))).toContain('pg_catalog.to_regclass:read');
    expect(fns(one("SELECT dictionary FROM ts_debug('a')"))).toContain(
      'pg_catalog.regdictionaryin:read',
    );
    expect(fns(one('SELECT get_current_ts_config()'))).toContain('pg_catalog.regconfigin:read');
    for (const sql of [
      'SELECT pg_typeof(1)::text',
      'SELECT pg_typeof(1)::varchar(20)',
      'SELECT CAST(pg_typeof(1) AS pg_catalog.text)',
    ])
      expect(fns(one(sql)), sql).toEqual(['pg_catalog.pg_typeof:read']);
  });

  it('functions that run a query given as text or read a cursor or tables by name are opaque', () => {
    for (const sql of [
      "SELECT query_to_xml('select g from big', false, false, '')",
      "SELECT cursor_to_xml('p', 1000, false, false, '')",
      "SELECT table_to_xml('orders', false, false, '')",
      "SELECT * FROM ts_stat('SELECT body FROM docs')",
    ])
      expect(one(sql).opaque, sql).toBe(true);
    expect(one("SELECT xmlelement(name a, 'x')").opaque).toBe(false);
  });

  it("a catalog's row type is reported as that catalog, kind type (its reg* fields convert)", () => {
    for (const sql of [
      'SELECT (NULL::pg_sequences).data_type',
      "SELECT ('(,,,x,,,,,,,)'::pg_catalog.pg_sequences).data_type",
      "SELECT a FROM json_to_record('{}') AS t(a pg_sequences)",
    ])
      expect(rels(one(sql)), sql).toContain('pg_catalog.pg_sequences:read:type');
    expect(rels(one("SELECT '{}'::pg_class[]"))).toEqual(['pg_catalog.pg_class:read:type']);
    // Other catalog types are plain values.
    expect(rels(one("SELECT '1 day'::interval, 'x'::text"))).toEqual([]);
  });

  it("a Parse parameter typed as a catalog's row type is that catalog, kind type", () => {
    expect(paramTypeFacts([83])?.relations).toEqual([
      { schema: 'pg_catalog', name: 'pg_class', kind: 'type', access: 'read' },
    ]);
    expect(paramTypeFacts([273, 83])?.relations).toHaveLength(1);
    // A type initdb made (a catalog view's row type): named by its OID.
    expect(paramTypeFacts([12050])?.relations).toEqual([
      { schema: 'pg_catalog', name: '12050', kind: 'type', access: 'read' },
    ]);
    expect(paramTypeFacts([23, 25, 0, 1043])).toBeUndefined();
  });

  it('ts_lexize names its dictionary: a qualified name looks the schema up', () => {
    expect(fns(one("SELECT ts_lexize('nosuch.x', 'a')"))).toContain(
      'pg_catalog.to_regnamespace:read',
    );
    expect(fns(one("SELECT ts_lexize('english_stem', 'a')"))).not.toContain(
      'pg_catalog.to_regnamespace:read',
    );
  });

  it('type-OID input functions, oidvectortypes and aclitem (role names) are lookups', () => {
    for (const sql of [
      "SELECT enum_in('x', 16389)",
      'SELECT domain_recv(NULL, 16389, -1)',
      "SELECT range_in('x', 16389, -1)",
      "SELECT multirange_in('{}', 16389, -1)",
      "SELECT oidvectortypes('16384 16385')",
    ])
      expect(fns(one(sql)), sql).toContain('pg_catalog.to_regtype:read');
    for (const sql of [
      "SELECT 'agent=r/gw'::aclitem",
      "SELECT '{agent=r/gw}'::aclitem[]",
      "SELECT aclitemin('postgres=r/postgres')",
    ])
      expect(fns(one(sql)), sql).toContain('pg_catalog.to_regrole:read');
    // Computing on OIDs names nothing.
    expect(fns(one("SELECT oidvectorout('1 2'), 16384::oid::int8"))).toEqual([
      'pg_catalog.oidvectorout:read',
    ]);
  });

  it('a sequence named at run time cannot be checked', () => {
    expect(one("SELECT nextval(x) FROM (VALUES ('orders_id_seq')) v(x)").opaque).toBe(true);
    expect(one('SELECT setval($1, 1)').opaque).toBe(true);
    expect(one("SELECT currval('orders_id_seq')").opaque).toBe(false);
    // currval locks whatever relation it names, as a write does, before it checks that the
    // relation is a sequence: a name given at run time could be any table's.
    expect(one('SELECT currval($1)').opaque).toBe(true);
    expect(rels(one("SELECT currval('app.s')"))).toEqual(['app.s:write:sequence']);
  });

  it('type checks of a named type and library-loading validators are side effects', () => {
    expect(fns(one("SELECT pg_input_is_valid('1', 'int4'), fmgr_c_validator(1)"))).toEqual([
      'pg_catalog.fmgr_c_validator:side_effect',
      'pg_catalog.pg_input_is_valid:side_effect',
    ]);
  });
});

describe('everyday statements', () => {
  it('SET TRANSACTION changes only the current transaction, as BEGIN ISOLATION LEVEL does', () => {
    for (const sql of [
      'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ',
      'SET TRANSACTION READ ONLY',
      'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE',
    ])
      expect(one(sql).class, sql).toBe('transaction');
    expect(one('BEGIN ISOLATION LEVEL REPEATABLE READ').class).toBe('transaction');
    // The session default is a session change.
    expect(
      one('SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE').class,
    ).toBe('session');
  });

  it('ORDER BY / GROUP BY position n is the n-th select-list column only', () => {
    const s = cols(one('SELECT id, status FROM orders ORDER BY 1'));
    expect(s).toContain('orders.id:order:d');
    expect(s).not.toContain('orders.status:order:d');
    expect(cols(one('SELECT id, name, card FROM customers ORDER BY 1'))).not.toContain(
      'customers.card:order:d',
    );
    expect(cols(one('SELECT status, max(amount) FROM orders GROUP BY 1'))).not.toContain(
      'orders.amount:group:d',
    );
  });

  it('ORDER BY an output name is that output column, not a column of the FROM items', () => {
    // PostgreSQL resolves a bare ORDER BY name against the output names first.
    const s = cols(one('SELECT status AS s FROM orders ORDER BY s'));
    expect(s.some((c) => c.startsWith('orders.s:'))).toBe(false);
    expect(s).toContain('orders.status:order:d');
    const d = cols(
      one(
        'SELECT "orders"."status", SUM("orders"."amount") AS "total" FROM "orders" GROUP BY "orders"."status" ORDER BY "total" DESC',
      ),
    );
    expect(d.some((c) => c.startsWith('orders.total:'))).toBe(false);
    expect(d).not.toContain('orders.status:order:d');
    const m = cols(one('SELECT id AS customer_id, name, card FROM customers ORDER BY customer_id'));
    expect(m.some((c) => c.startsWith('customers.customer_id:'))).toBe(false);
    expect(m).not.toContain('customers.card:order:d');
  });

  it('output columns of a function in FROM are not columns of the tables beside it', () => {
    // Were the table to have such a column too, PostgreSQL would refuse the name as ambiguous.
    for (const [sql, col] of [
      [
        "SELECT d::date AS day, count(o.id) FROM generate_series(now() - interval '2 days', now(), interval '1 day') AS d LEFT JOIN orders o ON true GROUP BY d",
        'd',
      ],
      ['SELECT o.id, s FROM orders o, generate_series(1, 2) s WHERE s > 1', 's'],
      ["SELECT v FROM orders o, unnest(ARRAY['a']) AS u(v)", 'v'],
      ['SELECT n FROM orders o CROSS JOIN LATERAL unnest(ARRAY[o.id]) AS n', 'n'],
      ['SELECT a FROM orders o, jsonb_to_recordset(\'[{"a":1}]\'::jsonb) AS x(a int)', 'a'],
      ['SELECT value FROM orders o, jsonb_array_elements_text(\'["a"]\'::jsonb)', 'value'],
    ] as const) {
      // At most a candidate (ambiguous) where the function's columns are not known (unnest
      // of an array of rows has the row's columns), never a certain column of orders.
      expect(
        cols(one(sql)).some((c) => c.startsWith(`orders.${col}:`) && !c.endsWith(':a')),
        sql,
      ).toBe(false);
    }
  });

  it("a join's USING or NATURAL column is each side's, even beside an item known to have it", () => {
    for (const sql of [
      "SELECT card FROM customers JOIN jsonb_to_recordset('[]') AS x(card text) USING (card)",
      "SELECT card FROM customers JOIN (VALUES ('4111')) v(card) USING (card)",
      'SELECT card FROM customers NATURAL JOIN generate_series(1, 2) AS card',
    ])
      expect(
        cols(one(sql)).some((c) => c.startsWith('customers.card:select')),
        sql,
      ).toBe(true);
  });

  it('information_schema relations are views', () => {
    expect(rels(one('SELECT column_name FROM information_schema.columns'))).toEqual([
      'information_schema.columns:read:view',
    ]);
    expect(rels(one('SELECT table_name FROM information_schema.tables'))).toEqual([
      'information_schema.tables:read:view',
    ]);
  });

  it('a FROM item name used as a whole row is not reported as a plain column of the table', () => {
    // orders has no column "o": `o` is the whole row. Without the catalog the name may be a
    // column too, but then only as a candidate (ambiguous), never as a certain column.
    for (const sql of [
      'SELECT row_to_json(o) FROM orders o WHERE o.id = 1',
      'SELECT jsonb_agg(o ORDER BY o.id) FROM orders o',
      'SELECT id FROM orders o WHERE to_jsonb(o) @> \'{"status": "paid"}\'',
    ]) {
      const s = cols(one(sql));
      expect(
        s.some((c) => c.startsWith('orders.*:')),
        sql,
      ).toBe(true);
      expect(
        s.filter((c) => c.startsWith('orders.o:') && !c.endsWith(':a')),
        sql,
      ).toEqual([]);
    }
  });
});
