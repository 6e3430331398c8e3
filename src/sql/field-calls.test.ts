// t.f over a function in FROM that returns one plain value is PostgreSQL's f(t). Called that
// way, a function must carry the same facts as when written f(t): the catalog lookup a reg*
// I/O function does, the opacity of a sequence named at run time, the settings it reads.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from './index.js';
import type { StatementFacts } from './types.js';

const opts = { searchPath: ['public'], database: 'postgres' };

beforeAll(async () => {
  await initSql();
});

function one(sql: string): StatementFacts {
  const r = analyze(sql, opts);
  expect(r.error).toBeUndefined();
  expect(r.statements).toHaveLength(1);
  return r.statements[0];
}

const fn = (s: StatementFacts, name: string): boolean => s.functions.some((f) => f.name === name);

describe('t.f field notation keeps the facts of f(t)', () => {
  it('t.regclassout over OIDs is a catalog lookup, as regclassout(x) is', () => {
    // Verified on PostgreSQL 18: prints customers, orders, orders_id_seq, customers_pkey,
    // pg_toast.pg_toast_16387 ... for the OIDs from 16384: every relation's name, without
    // naming a catalog.
    const sql =
      'SELECT t.regclassout FROM unnest(ARRAY(SELECT g::oid FROM generate_series(16384, 16400) g)) t';
    expect(fn(one(sql), 'to_regclass')).toBe(true);
    // The same call written as a call is listed so.
    expect(fn(one('SELECT regclassout(t) FROM unnest(ARRAY[16387::oid]) t'), 'to_regclass')).toBe(
      true,
    );
  });

  it('t.regclass over names, t.regroleout over OIDs: lookups too', () => {
    expect(fn(one("SELECT t.regclass FROM unnest(ARRAY['customers']) t"), 'to_regclass')).toBe(
      true,
    );
    expect(
      fn(
        one(
          'SELECT t.regroleout FROM unnest(ARRAY(SELECT g::oid FROM generate_series(10, 20) g)) t',
        ),
        'to_regrole',
      ),
    ).toBe(true);
  });

  it('t.currval names its sequence at run time: opaque, as currval(x) is', () => {
    // PostgreSQL opens whatever relation t names ("cannot open relation "customers"" for a
    // table, "does not exist" otherwise).
    expect(one('SELECT currval(t) FROM unnest(ARRAY[$1::text]) t').opaque).toBe(true);
    expect(one("SELECT t.currval FROM unnest(ARRAY['customers']) t").opaque).toBe(true);
  });

  it('t.current_setting reports settings_read, as current_setting(t) does', () => {
    const s = one("SELECT t.current_setting FROM unnest(ARRAY['search_path']) t");
    expect(fn(s, 'current_setting')).toBe(true);
    expect(s.settings_read).toEqual([null]);
  });
});
