import { beforeAll, describe, expect, it } from 'vitest';
import { initSql } from './index.js';
import { redactExtra, redactLiterals } from './redact.js';

beforeAll(() => initSql());

describe('redactLiterals', () => {
  it('replaces every kind of constant and empties comments', () => {
    expect(
      redactLiterals(
        "SELECT 'é', E'\\'x', 5, 1.5e3, B'01', X'ff', $$d$$, $t$x$t$, U&'d\\0061t' /* c 'x' */ -- hi\n FROM t WHERE a = $1 AND n = -42",
      ),
    ).toBe('SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? /**/ --\n FROM t WHERE a = $1 AND n = -?');
  });

  it('keeps identifiers, quoted ones and non-ASCII text in them included', () => {
    expect(redactLiterals(`select 'héllo' as "wörld", 7 from "T"`)).toBe(
      'select ? as "wörld", ? from "T"',
    );
  });

  it('replaces a SET value written as a bare word', () => {
    expect(redactLiterals('SET app.key TO sekrit', true)).toBe('SET app.key TO ?');
    expect(redactLiterals("SET LOCAL app.key = 'a', b", true)).toBe('SET LOCAL app.key = ?, ?');
    expect(redactLiterals('ALTER ROLE bob SET app.k = v', true)).toBe(
      'ALTER ROLE bob SET app.k = ?',
    );
  });

  it('replaces text it cannot scan whole', () => {
    expect(redactLiterals("SELECT 'unterminated secret")).toBe('[text redacted: 27 bytes]');
    expect(redactLiterals('SELECT 1 /* secret')).toBe('[text redacted: 18 bytes]');
  });
});

describe('redactExtra', () => {
  it('leaves out the values extra facts copy from the text', () => {
    expect(
      redactExtra({
        set: { name: 'a', value: 'b', local: false },
        execute: { name: 'p', params: ['x', null] },
        prepare: { name: 'p', statement: { text: "SELECT 'x'", command: 'SELECT' } },
        notify: { kind: 'notify', channel: 'c', payload: 'pp' },
        copy: { file: '/tmp/f' },
      }),
    ).toEqual({
      set: { name: 'a', value: '?', local: false },
      execute: { name: 'p', params: ['?', '?'] },
      prepare: { name: 'p', statement: { text: 'SELECT ?', command: 'SELECT' } },
      notify: { kind: 'notify', channel: 'c', payload: '?' },
      copy: { file: '/tmp/f' },
    });
  });
});
