// Class variants of security corpus cases: facts that a masked column is compared, grouped or
// joined through forms the corpus names only once (DISTINCT, set operations, NATURAL JOIN).
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from './index.js';
import type { ColumnFact } from './types.js';

const opts = { searchPath: ['public'], database: 'postgres' };

beforeAll(async () => {
  await initSql();
});

function cols(sql: string): ColumnFact[] {
  const r = analyze(sql, opts);
  expect(r.error).toBeUndefined();
  expect(r.statements).toHaveLength(1);
  return r.statements[0].columns;
}

const has = (cs: ColumnFact[], table: string, column: string, clause: string): boolean =>
  cs.some((c) => c.table === table && c.column === column && c.clause === clause);

describe('masked-column oracles beyond the corpus strings', () => {
  it('SEC-OR-007: plain DISTINCT groups by every output column', () => {
    expect(has(cols('SELECT DISTINCT card FROM customers'), 'customers', 'card', 'group')).toBe(
      true,
    );
    expect(has(cols('SELECT DISTINCT * FROM customers'), 'customers', '*', 'group')).toBe(true);
    expect(has(cols('SELECT card FROM customers'), 'customers', 'card', 'group')).toBe(false);
  });

  it('SEC-OR-004: INTERSECT, EXCEPT and UNION compare the rows of both arms', () => {
    for (const op of ['INTERSECT', 'EXCEPT', 'UNION', 'INTERSECT ALL', 'EXCEPT ALL']) {
      const cs = cols(`SELECT card FROM customers ${op} SELECT '4111-1111-1111-1111'`);
      expect(has(cs, 'customers', 'card', 'group'), op).toBe(true);
    }
    const star = cols("SELECT * FROM customers INTERSECT SELECT 1, 'a', 'b', 'c'");
    expect(has(star, 'customers', '*', 'group')).toBe(true);
    // UNION ALL keeps every row: nothing is compared.
    const all = cols("SELECT card FROM customers UNION ALL SELECT 'x'");
    expect(has(all, 'customers', 'card', 'group')).toBe(false);
  });

  it('SEC-OR-004: NATURAL JOIN may join on any column both sides have', () => {
    const cs = cols("SELECT * FROM customers NATURAL JOIN (SELECT '4111' AS card) x");
    expect(has(cs, 'customers', '*', 'join')).toBe(true);
    const plain = cols('SELECT * FROM customers c JOIN orders o ON o.customer_id = c.id');
    expect(has(plain, 'customers', '*', 'join')).toBe(false);
  });
});
