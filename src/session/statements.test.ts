import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from '../sql/index.js';
import type { DecisionRecord, PolicyEngine } from '../policy/types.js';
import type { DecisionPoint } from './decide.js';
import type { BindMessage } from '../wire/index.js';
import { UNCERTAIN, type Change } from './name-table.js';
import { BindParams, SessionNames } from './statements.js';

beforeAll(async () => {
  await initSql();
});

const engine = { version: 'v' } as PolicyEngine;
const allowed: DecisionRecord = {
  decision: { kind: 'allow', mask: {}, limits: {}, reasons: [] },
  id: 'd',
  policyVersion: 'v',
};

function remember(names: SessionNames, sql: string): void {
  const facts = analyze(sql, { searchPath: ['public'] }).statements[0];
  names.remember(sql, { facts, decision: allowed, inTxn: false }, engine, false, undefined);
}

describe('the Parse memo', () => {
  it('remembers a Parse text, but not a long one', () => {
    const names = new SessionNames({} as DecisionPoint);
    remember(names, 'SELECT a FROM t WHERE b = $1');
    expect(names.memo('SELECT a FROM t WHERE b = $1', engine, false, undefined)).toBeDefined();
    const long = `SELECT a FROM t WHERE b = '${'x'.repeat(20_000)}'`;
    remember(names, long);
    expect(names.memo(long, engine, false, undefined)).toBeUndefined();
  });

  it('is not used under another catalog (a DDL changes what a `*` expands to)', () => {
    const names = new SessionNames({} as DecisionPoint);
    remember(names, 'SELECT * FROM t');
    expect(names.memo('SELECT * FROM t', engine, false, undefined)).toBeDefined();
    expect(names.memo('SELECT * FROM t', engine, false, {})).toBeUndefined();
  });

  it('is bounded by the memory of its facts, not only by its entries', () => {
    const names = new SessionNames({} as DecisionPoint);
    // Texts under the length cut, each naming thousands of columns (some 200 KB of facts).
    const cols = Array.from({ length: 1500 }, (_, j) => `c${j}`).join(',');
    const texts = Array.from({ length: 40 }, (_, i) => `SELECT ${cols} FROM t${i}`);
    for (const t of texts) remember(names, t);
    expect(names.memo(texts[39], engine, false, undefined)).toBeDefined();
    expect(names.memo(texts[0], engine, false, undefined)).toBeUndefined();
  });
});

describe('the portal table', () => {
  it("is bounded by its Bind parameters' bytes, not only by its count", () => {
    const names = new SessionNames({} as DecisionPoint);
    const facts = analyze('SELECT length($1)', { searchPath: ['public'] }).statements[0];
    const big = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 40; i++) {
      const bind: BindMessage = {
        portal: `p${i}`,
        statement: 's',
        paramFormats: [],
        params: [big],
        resultFormats: [],
      };
      names.portals.stage(
        `p${i}`,
        { prepared: { facts, decision: allowed, inTxn: true }, params: new BindParams(bind) },
        0,
      );
      const out: Change[] = [];
      names.portals.commit(out);
      names.portals.endSpan();
      for (const c of out) c.settle(true);
    }
    expect(names.portals.get('p39')).toBeDefined();
    // 40 MiB of parameters (80 as text) is past the bound: the oldest portals are gone.
    expect(names.portals.get('p0')).toBeUndefined();
  });
});

describe('EXPLAIN DECLARE', () => {
  it('opens no cursor: the one open under that name keeps its decision and rows left', () => {
    const names = new SessionNames({ session: { in_transaction: true } } as DecisionPoint);
    const limited: DecisionRecord = {
      ...allowed,
      decision: { kind: 'allow', mask: {}, limits: { max_rows: 500 }, reasons: [] },
    };
    const facts = (sql: string) => analyze(sql, { searchPath: ['public'] }).statements[0];
    const declare = facts('DECLARE c CURSOR FOR SELECT g FROM generate_series(1, 1000) g');
    names.stage(declare, limited, 0);
    names.commit();
    const left = () => {
      const b = names.fetchBudget(facts('FETCH 500 FROM c'));
      return b && b !== UNCERTAIN ? b.left : undefined;
    };
    expect(left()).toBe(500);
    const b = names.fetchBudget(facts('FETCH 500 FROM c'));
    if (b && b !== UNCERTAIN) b.left = 0;
    for (const sql of [
      'EXPLAIN DECLARE c CURSOR FOR SELECT 1',
      'EXPLAIN (ANALYZE) DECLARE c CURSOR WITH HOLD FOR SELECT 1',
    ]) {
      names.stage(facts(sql), limited, 0);
      names.commit();
      expect(left()).toBe(0);
      const c = names.cursors.get('c');
      expect(c && c !== UNCERTAIN ? c.facts : undefined).toBe(declare);
    }
  });
});
