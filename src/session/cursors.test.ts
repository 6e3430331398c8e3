import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from '../sql/index.js';
import type { DecisionRecord } from '../policy/types.js';
import { Cursors, runLimit, statedLimit, type Cursor } from './cursors.js';
import { UNCERTAIN, type Change } from './name-table.js';

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

/** Run one statement upstream: stage, send, and settle with whether PostgreSQL made it. */
function run(cs: Cursors, sql: string, rec = allow(), made = true): void {
  const f = facts(sql);
  cs.stage(f, rec, 0, true);
  const out: Change[] = [];
  cs.commit(out);
  cs.endSpan();
  for (const c of out) c.settle(made);
}

describe('Cursors', () => {
  it('a FETCH gets the budget its DECLARE opened, shared by every FETCH', () => {
    const cs = new Cursors();
    run(cs, 'DECLARE c CURSOR FOR SELECT 1', allow(5));
    const b1 = cs.budget(facts('FETCH 3 FROM c'));
    const b2 = cs.budget(facts('FETCH NEXT FROM c'));
    expect(b1).toEqual({ max: 5, left: 5 });
    expect(b2).toBe(b1);
    expect((cs.get('c') as Cursor).facts.command).toBe('DECLARE CURSOR');
  });

  it('CLOSE, CLOSE ALL and DISCARD ALL end cursors; a new DECLARE starts afresh', () => {
    const cs = new Cursors();
    run(cs, 'DECLARE a CURSOR FOR SELECT 1', allow(5));
    run(cs, 'DECLARE b CURSOR FOR SELECT 1', allow(5));
    run(cs, 'CLOSE a');
    expect(cs.get('a')).toBeUndefined();
    expect(cs.get('b')).toBeDefined();
    run(cs, 'CLOSE ALL');
    expect(cs.get('b')).toBeUndefined();
    run(cs, 'DECLARE d CURSOR FOR SELECT 1', allow(5));
    run(cs, 'DISCARD ALL');
    expect(cs.get('d')).toBeUndefined();
    run(cs, 'DECLARE e CURSOR FOR SELECT 1', allow(5));
    (cs.get('e') as Cursor).rows!.left = 0;
    run(cs, 'CLOSE e');
    run(cs, 'DECLARE e CURSOR FOR SELECT 1', allow(7));
    expect((cs.get('e') as Cursor).rows).toEqual({ max: 7, left: 7 });
  });

  it('a DECLARE PostgreSQL refused or skipped leaves the cursor as it was', () => {
    const cs = new Cursors();
    run(cs, 'DECLARE c CURSOR WITH HOLD FOR SELECT 1', allow(5));
    run(cs, 'DECLARE c CURSOR FOR SELECT 2', allow(), false);
    expect(cs.budget(facts('FETCH ALL FROM c'))).toEqual({ max: 5, left: 5 });
    run(cs, 'CLOSE c', allow(), false);
    expect(cs.get('c')).toBeDefined();
  });

  it('a cursor whose DECLARE has no answer yet is uncertain to later groups', () => {
    const cs = new Cursors();
    cs.stage(facts('DECLARE c CURSOR FOR SELECT 1'), allow(5), 0, true);
    // Its own group sees it.
    expect(cs.budget(facts('FETCH 1 FROM c'))).toEqual({ max: 5, left: 5 });
    const out: Change[] = [];
    cs.commit(out);
    cs.endSpan();
    expect(cs.get('c')).toBe(UNCERTAIN);
    expect(cs.budget(facts('FETCH 1 FROM c'))).toBe(UNCERTAIN);
    out[0].settle(true);
    expect(cs.budget(facts('FETCH 1 FROM c'))).toEqual({ max: 5, left: 5 });
  });

  it('a cursor without a row limit is tracked with no budget; past the cap the oldest is forgotten', () => {
    const cs = new Cursors(2);
    run(cs, 'DECLARE x CURSOR FOR SELECT 1');
    expect(cs.get('x')).toBeDefined();
    expect(cs.budget(facts('FETCH ALL FROM x'))).toBeUndefined();
    run(cs, 'DECLARE y CURSOR FOR SELECT 1');
    run(cs, 'DECLARE z CURSOR FOR SELECT 1');
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
