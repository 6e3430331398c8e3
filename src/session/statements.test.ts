import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from '../sql/index.js';
import type { DecisionRecord, PolicyEngine } from '../policy/types.js';
import type { DecisionPoint } from './decide.js';
import { SessionNames } from './statements.js';

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
  names.remember(sql, { facts, decision: allowed, inTxn: false }, engine, false);
}

describe('the Parse memo', () => {
  it('remembers a Parse text, but not a long one', () => {
    const names = new SessionNames({} as DecisionPoint);
    remember(names, 'SELECT a FROM t WHERE b = $1');
    expect(names.memo('SELECT a FROM t WHERE b = $1', engine, false)).toBeDefined();
    const long = `SELECT a FROM t WHERE b = '${'x'.repeat(20_000)}'`;
    remember(names, long);
    expect(names.memo(long, engine, false)).toBeUndefined();
  });

  it('is bounded by the memory of its facts, not only by its entries', () => {
    const names = new SessionNames({} as DecisionPoint);
    // Texts under the length cut, each naming thousands of columns (some 200 KB of facts).
    const cols = Array.from({ length: 1500 }, (_, j) => `c${j}`).join(',');
    const texts = Array.from({ length: 40 }, (_, i) => `SELECT ${cols} FROM t${i}`);
    for (const t of texts) remember(names, t);
    expect(names.memo(texts[39], engine, false)).toBeDefined();
    expect(names.memo(texts[0], engine, false)).toBeUndefined();
  });
});
