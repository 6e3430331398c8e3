// ORDER BY / GROUP BY / DISTINCT ON by position after a `*`, and plain DISTINCT, must count
// every column the `*` brings for that clause (docs/policy-api.md: "a position ... counts the
// columns of that select-list entry only (every entry's when a `*` comes before it)").
// When the `*` expands a subquery or CTE whose own output is a `*`, or when the same
// whole-row fact was already listed by a FROM subquery, no order/group fact is listed at
// all: P2 (card may not be sorted by or grouped on) then allows the statement with a mask,
// while PostgreSQL sorts or groups by the masked column.
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPg } from '../../test/pg-env.js';
import { regoEngine } from '../policy/rego-engine.js';
import type { PolicyInput } from '../policy/types.js';
import { readRegoSources } from '../runtime/policy.js';
import { analyze, initSql } from './index.js';

const root = path.resolve(__dirname, '..', '..');
const P2 = path.join(root, 'test', 'security', 'policies', 'p2.rego');

interface Case {
  sql: string;
  clause: 'order' | 'group';
  /** What PostgreSQL's answer shows about card. */
  check: (rows: Record<string, unknown>[]) => void;
}

// Fixture: ids 1..3; card order is Eve (3400…) < Ann (4111…) < Bob (5500…).
const byCard = (rows: Record<string, unknown>[]) =>
  expect(rows.map((r) => r.name)).toEqual(['Eve', 'Ann', 'Bob']);

const CASES: Case[] = [
  {
    // The name of the customer with the smallest card number.
    sql: 'SELECT name FROM (SELECT * FROM (SELECT * FROM customers) a ORDER BY 4 LIMIT 1) s',
    clause: 'order',
    check: (rows) => expect(rows).toEqual([{ name: 'Eve' }]),
  },
  {
    sql: 'WITH a AS (SELECT * FROM customers) SELECT * FROM a ORDER BY 4',
    clause: 'order',
    check: byCard,
  },
  {
    sql: 'SELECT a.* FROM (TABLE customers) a ORDER BY 4',
    clause: 'order',
    check: byCard,
  },
  {
    // A direct table star, missed because the FROM subquery listed the same fact first.
    sql: 'SELECT c.* FROM (SELECT * FROM customers) d JOIN customers c ON c.id = d.id ORDER BY 4',
    clause: 'order',
    check: byCard,
  },
  {
    sql: 'SELECT DISTINCT ON (4) * FROM (TABLE customers) a',
    clause: 'group',
    check: byCard,
  },
  {
    sql: 'SELECT * FROM (TABLE customers) a GROUP BY 1, 2, 3, 4 ORDER BY 1',
    clause: 'group',
    check: (rows) => expect(rows).toHaveLength(3),
  },
  {
    sql: 'SELECT DISTINCT * FROM (TABLE customers) a',
    clause: 'group',
    check: (rows) => expect(rows).toHaveLength(3),
  },
];

let client: pg.Client;
const engine = regoEngine(readRegoSources([P2], root));

beforeAll(async () => {
  await initSql();
  const e = testPg();
  client = new pg.Client({ ...e, database: 'postgres' });
  await client.connect();
  // pg_temp comes first in the search_path: `customers` is this table here.
  await client.query(
    'CREATE TEMP TABLE customers (id int PRIMARY KEY, name text, email text, card text)',
  );
  await client.query(
    "INSERT INTO customers VALUES (1,'Ann','ann@example.com','4111-1111-1111-1111')," +
      "(2,'Bob','bob@example.com','5500-0000-0000-0004'),(3,'Eve','eve@example.eu','3400-000000-00009')",
  );
});

afterAll(async () => {
  await client?.end();
});

function decide(sql: string) {
  const r = analyze(sql, { searchPath: ['public'], database: 'postgres' });
  expect(r.error, sql).toBeUndefined();
  const s = r.statements[0];
  const input: PolicyInput = {
    identity: { sub: 'agent-1', groups: ['agents'], method: 'jwt', claims: {} },
    session: {
      id: 't',
      database: 'postgres',
      target: 'main',
      application_name: '',
      client_addr: '127.0.0.1',
      tls: false,
      in_transaction: false,
    },
    statement: { ...s, protocol: 'simple', params: null, index: 0, count: 1 },
    now_ns: 0,
  } as PolicyInput;
  return { facts: s, decision: engine.decide(input) };
}

describe('a position or DISTINCT over a nested `*` counts the masked column', () => {
  for (const c of CASES) {
    it(c.sql, async () => {
      // PostgreSQL really sorts / groups by card.
      c.check((await client.query(c.sql)).rows);
      const { facts, decision } = decide(c.sql);
      const hit = facts.columns.some(
        (x) =>
          x.schema === 'public' &&
          x.table === 'customers' &&
          (x.column === 'card' || x.column === '*') &&
          x.clause === c.clause,
      );
      expect(
        hit,
        `customers card/* listed with clause ${c.clause}: ${JSON.stringify(facts.columns)}`,
      ).toBe(true);
      // P2: card may not be used for ordering or grouping.
      expect(decision.kind, JSON.stringify(decision)).toBe('deny');
    });
  }
});
