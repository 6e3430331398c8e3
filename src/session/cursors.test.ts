import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from '../sql/index.js';
import type { DecisionRecord } from '../policy/types.js';
import { Cursors, runLimit, statedLimit } from './cursors.js';

const facts = (sql: string) => analyze(sql, { searchPath: ['public'] }).statements[0];
const allow = (max_rows?: number): DecisionRecord => ({
  decision: {
    kind: 'allow',
    mask: {},
    limits: max_rows === undefined ? {} : { max_rows },
    reasons: [],
  },
  id: '',
  policyVersion: 'test',
});

beforeAll(async () => {
  await initSql();
});

describe('Cursors', () => {
  it('a FETCH gets the budget its DECLARE opened, shared by every FETCH', () => {
    const cs = new Cursors();
    expect(cs.follow(facts('DECLARE c CURSOR FOR SELECT 1'), allow(5))).toBeUndefined();
    const b1 = cs.follow(facts('FETCH 3 FROM c'), allow(100));
    const b2 = cs.follow(facts('FETCH NEXT FROM c'), allow(100));
    expect(b1).toEqual({ max: 5, left: 5 });
    expect(b2).toBe(b1);
    expect(cs.get('c')?.facts.command).toBe('DECLARE CURSOR');
  });

  it('CLOSE, CLOSE ALL and DISCARD ALL end cursors; a new DECLARE starts afresh', () => {
    const cs = new Cursors();
    cs.follow(facts('DECLARE a CURSOR FOR SELECT 1'), allow(5));
    cs.follow(facts('DECLARE b CURSOR FOR SELECT 1'), allow(5));
    cs.follow(facts('CLOSE a'), allow());
    expect(cs.get('a')).toBeUndefined();
    expect(cs.get('b')).toBeDefined();
    cs.follow(facts('CLOSE ALL'), allow());
    expect(cs.get('b')).toBeUndefined();
    cs.follow(facts('DECLARE d CURSOR FOR SELECT 1'), allow(5));
    cs.follow(facts('DISCARD ALL'), allow());
    expect(cs.get('d')).toBeUndefined();
    cs.follow(facts('DECLARE e CURSOR FOR SELECT 1'), allow(5));
    cs.get('e')!.rows!.left = 0;
    cs.follow(facts('DECLARE e CURSOR FOR SELECT 1'), allow(7));
    expect(cs.get('e')?.rows).toEqual({ max: 7, left: 7 });
  });

  it('a cursor without a row limit is tracked with no budget; past the cap the oldest is forgotten', () => {
    const cs = new Cursors(2);
    cs.follow(facts('DECLARE x CURSOR FOR SELECT 1'), allow());
    expect(cs.get('x')).toBeDefined();
    expect(cs.follow(facts('FETCH ALL FROM x'), allow())).toBeUndefined();
    cs.follow(facts('DECLARE y CURSOR FOR SELECT 1'), allow());
    cs.follow(facts('DECLARE z CURSOR FOR SELECT 1'), allow());
    expect(cs.get('x')).toBeUndefined();
    expect(cs.get('z')).toBeDefined();
  });

  it('a run is held to the smaller of its own limit and what is left', () => {
    expect(runLimit(undefined, undefined)).toBeUndefined();
    expect(runLimit(10, undefined)).toBe(10);
    expect(runLimit(undefined, { max: 5, left: 2 })).toBe(2);
    expect(runLimit(10, { max: 5, left: 2 })).toBe(2);
    expect(runLimit(1, { max: 5, left: 2 })).toBe(1);
    expect(statedLimit(10, { max: 5, left: 0 })).toBe(5);
    expect(statedLimit(3, undefined)).toBe(3);
  });
});
