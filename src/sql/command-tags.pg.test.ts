// Command tags and statement splitting checked against the real PostgreSQL of the test run.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPg } from '../../test/pg-env.js';
import { analyze, initSql } from './index.js';

const SETUP = `
  CREATE TEMP TABLE t (a int PRIMARY KEY, b int, c int, d int);
  CREATE TEMP TABLE s (a int, b int);
  INSERT INTO t VALUES (1, 1, 1, 1);
  CREATE TEMP SEQUENCE q;
  CREATE MATERIALIZED VIEW pg_temp_mv_unused AS SELECT 1 AS x;
`;

/** Statements run inside BEGIN ... ROLLBACK; the tag PostgreSQL sends, minus row counts. */
const STATEMENTS = [
  'SELECT a FROM t',
  'VALUES (1)',
  'TABLE t',
  'INSERT INTO t VALUES (2, 2, 2, 2)',
  'UPDATE t SET b = 3 WHERE a = 1',
  'DELETE FROM t WHERE a = 1',
  'MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE',
  'WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x',
  'CREATE TEMP TABLE u (a int)',
  'CREATE TEMP VIEW v AS SELECT * FROM t',
  'CREATE INDEX ON t (b)',
  'ALTER TABLE t ADD COLUMN e int',
  'ALTER TABLE t RENAME COLUMN b TO bb',
  'DROP TABLE s',
  'TRUNCATE s',
  'LOCK TABLE t IN SHARE MODE',
  'SAVEPOINT sp',
  "SET LOCAL statement_timeout = '5s'",
  'RESET statement_timeout',
  'SHOW search_path',
  'LISTEN ch',
  'UNLISTEN ch',
  "NOTIFY ch, 'x'",
  "COMMENT ON TABLE t IS 'x'",
  'ANALYZE t',
  'DECLARE cur CURSOR FOR SELECT * FROM t',
  'PREPARE pp AS SELECT 1',
  'DEALLOCATE ALL',
  'SET CONSTRAINTS ALL DEFERRED',
  'DO $$ BEGIN END $$',
  "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
  'EXPLAIN SELECT 1',
  'REFRESH MATERIALIZED VIEW pg_temp_mv_unused',
  'GRANT SELECT ON t TO PUBLIC',
  'SELECT nextval($$q$$)',
];

let client: pg.Client;
let lastTag = '';

beforeAll(async () => {
  await initSql();
  const e = testPg();
  client = new pg.Client({
    host: e.host,
    port: e.port,
    user: e.user,
    password: e.password,
    database: 'postgres',
  });
  await client.connect();
  (client as unknown as { connection: NodeJS.EventEmitter }).connection.on(
    'commandComplete',
    (m: { text: string }) => {
      lastTag = m.text;
    },
  );
});

afterAll(async () => {
  await client?.end();
});

describe('command tags match PostgreSQL', () => {
  for (const sql of STATEMENTS) {
    it(sql, async () => {
      await client.query('BEGIN');
      try {
        await client.query(SETUP);
        await client.query(sql);
        const pgTag = lastTag.replace(/( \d+)+$/, '');
        const facts = analyze(sql, { searchPath: ['public'] });
        expect(facts.error).toBeUndefined();
        expect(facts.statements[0].command).toBe(pgTag);
      } finally {
        await client.query('ROLLBACK');
      }
    });
  }

  it('SELECT INTO / CREATE TABLE AS: PostgreSQL completes with SELECT n, the facts name the command', async () => {
    await client.query('BEGIN');
    try {
      await client.query('SELECT 1 AS x INTO TEMP z');
      expect(lastTag).toBe('SELECT 1');
      expect(
        analyze('SELECT 1 AS x INTO TEMP z', { searchPath: ['public'] }).statements[0].command,
      ).toBe('SELECT INTO');
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('splits a multi-statement string as the server executes it', async () => {
    const sql = "SELECT 1 -- c\r; SELECT 'a;b' AS x; SELECT $t$ ; $t$ /* ; */; SELECT 4";
    const r = await client.query(sql);
    const results = Array.isArray(r) ? r : [r];
    const facts = analyze(sql, { searchPath: ['public'] });
    expect(facts.statements).toHaveLength(results.length);
    expect(facts.statements.map((s) => s.command)).toEqual(results.map((x) => x.command));
  });
});
