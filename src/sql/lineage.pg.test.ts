// Column lineage against the real server: a column reported bare (not derived) in the select
// list must reach the client with its table as origin in RowDescription, or masking misses it.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPg } from '../../test/pg-env.js';
import { analyze, initSql } from './index.js';

const QUERIES = [
  'SELECT card FROM cust',
  'SELECT card AS email FROM cust',
  'SELECT (card) FROM cust',
  'TABLE cust',
  'SELECT * FROM cust',
  'SELECT c.* FROM cust c',
  "SELECT card FROM cust UNION ALL SELECT 'x'",
  "SELECT 'x' UNION ALL SELECT card FROM cust",
  'SELECT card FROM cust UNION SELECT card FROM cust',
  'SELECT x.card FROM (SELECT card FROM cust) x',
  'WITH w AS (SELECT card FROM cust) SELECT card FROM w',
  'WITH w AS MATERIALIZED (SELECT card FROM cust) SELECT card FROM w',
  'WITH w AS (SELECT card FROM cust UNION ALL SELECT card FROM cust) SELECT card FROM w',
  'WITH RECURSIVE r AS (SELECT card FROM cust UNION SELECT card FROM r) SELECT card FROM r',
  'SELECT (SELECT card FROM cust LIMIT 1)',
  'SELECT ARRAY(SELECT card FROM cust)',
  'SELECT x.c FROM (SELECT upper(card) c FROM cust) x',
  'SELECT card COLLATE "C" FROM cust',
  'SELECT card::text FROM cust',
  'SELECT coalesce(card) FROM cust',
  'SELECT DISTINCT card FROM cust',
  'SELECT card FROM cust GROUP BY card',
  'SELECT l.card FROM (SELECT 1) o, LATERAL (SELECT card FROM cust) l',
  'SELECT card FROM (SELECT * FROM cust) s',
  'UPDATE cust SET id = id RETURNING card',
  'WITH d AS (UPDATE cust SET id = id RETURNING card) SELECT card FROM d',
];

let client: pg.Client;

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
  await client.query('CREATE TEMP TABLE cust (id int, card text)');
  await client.query("INSERT INTO cust VALUES (1, '4111')");
});

afterAll(async () => {
  await client?.end();
});

describe('bare select columns keep their origin on the wire', () => {
  for (const q of QUERIES) {
    it(q, async () => {
      const r = await client.query(q);
      const withOrigin = r.fields.filter((f) => f.tableID !== 0).length;
      const facts = analyze(q, { searchPath: ['pg_temp'] }).statements[0];
      const bare = facts.columns.filter(
        (c) =>
          c.table === 'cust' && (c.clause === 'select' || c.clause === 'returning') && !c.derived,
      );
      // Every output column without an origin must not be claimed bare...
      if (withOrigin === 0) expect(bare).toEqual([]);
      // ...and the card column, whenever it is output without origin, is reported derived.
      const cardNoOrigin =
        r.fields.some((f) => f.tableID === 0) && facts.columns.some((c) => c.column === 'card');
      if (cardNoOrigin)
        expect(facts.columns.some((c) => c.column === 'card' && c.derived)).toBe(true);
    });
  }
});
