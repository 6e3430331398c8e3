import { describe, expect, it } from 'vitest';
import { NameTable, UNCERTAIN, runAt, runOf, type Change } from './name-table.js';

/** Send the staged changes of a group; its span ends (as at a Sync) when `end`. */
function send<T>(t: NameTable<T>, end = true): Change[] {
  const out: Change[] = [];
  t.commit(out);
  if (end) t.endSpan();
  return out;
}

describe('NameTable', () => {
  it('a change is seen by its own group and span, uncertain after, and stands once made', () => {
    const t = new NameTable<string>();
    t.stage('s', 'one', 0);
    expect(t.get('s')).toBe('one');
    const [c] = send(t, false);
    // Later groups before the Sync see it: if it was skipped, so are they.
    expect(t.get('s')).toBe('one');
    t.endSpan();
    expect(t.get('s')).toBe(UNCERTAIN);
    expect(t.get('other')).toBeUndefined();
    c.settle(true);
    expect(t.get('s')).toBe('one');
  });

  it('a change PostgreSQL did not make leaves the name as it was', () => {
    const t = new NameTable<string>();
    t.stage('s', 'one', 0);
    send(t)[0].settle(true);
    t.stage('s', 'two', 0);
    send(t)[0].settle(false);
    expect(t.get('s')).toBe('one');
    t.stage('s', null, 0);
    send(t)[0].settle(false);
    expect(t.get('s')).toBe('one');
    t.stage('s', null, 0);
    send(t)[0].settle(true);
    expect(t.get('s')).toBeUndefined();
  });

  it('a refused group changes nothing', () => {
    const t = new NameTable<string>();
    t.stage('s', 'one', 0);
    t.rollback();
    expect(t.get('s')).toBeUndefined();
    expect(send(t)).toEqual([]);
  });

  it('a name stays uncertain until every change to it is answered', () => {
    const t = new NameTable<string>();
    t.stage('s', 'one', 0);
    const [a] = send(t);
    t.stage('s', null, 1);
    const [b] = send(t);
    a.settle(true);
    expect(t.get('s')).toBe(UNCERTAIN);
    b.settle(true);
    expect(t.get('s')).toBeUndefined();
  });

  it('removing every name keeps the kept one, and makes all others uncertain until answered', () => {
    const t = new NameTable<string>(100, '');
    t.stage('', 'unnamed', 0);
    t.stage('n', 'named', 1);
    for (const c of send(t)) c.settle(true);
    t.stageClear(runAt(0));
    expect(t.get('')).toBe('unnamed');
    expect(t.get('n')).toBeUndefined();
    const [c] = send(t);
    expect(c.at).toBeLessThan(0);
    expect(runOf(c.at)).toBe(0);
    expect(t.get('n')).toBe(UNCERTAIN);
    expect(t.get('')).toBe('unnamed');
    c.settle(true);
    expect(t.get('n')).toBeUndefined();
    expect(t.get('')).toBe('unnamed');
  });

  it('past the cap the oldest name is forgotten; a cleared transaction forgets all', () => {
    const t = new NameTable<string>(2);
    for (const n of ['a', 'b', 'c']) {
      t.stage(n, n, 0);
      send(t)[0].settle(true);
    }
    expect(t.get('a')).toBeUndefined();
    expect(t.get('c')).toBe('c');
    t.clearLive();
    expect(t.get('c')).toBeUndefined();
  });

  it('past the weight the oldest names are forgotten, and the one just made stays', () => {
    const t = new NameTable<string>(100, undefined, (v) => v.length, 10);
    for (const n of ['aaaa', 'bbbb', 'cccc']) {
      t.stage(n, n, 0);
      send(t)[0].settle(true);
    }
    expect(t.get('aaaa')).toBeUndefined();
    expect(t.get('bbbb')).toBe('bbbb');
    t.stage('big', 'x'.repeat(50), 0);
    send(t)[0].settle(true);
    expect(t.get('bbbb')).toBeUndefined();
    expect(t.get('cccc')).toBeUndefined();
    expect(t.get('big')).toHaveLength(50);
    // A removed name no longer counts.
    t.stage('big', null, 0);
    send(t)[0].settle(true);
    t.stage('dddd', 'dddd', 0);
    send(t)[0].settle(true);
    t.stage('eeee', 'eeee', 0);
    send(t)[0].settle(true);
    expect(t.get('dddd')).toBe('dddd');
  });
});
