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
    expect(
      redactLiterals(
        'CREATE FUNCTION f() RETURNS int SET app.k = v AS $$ SELECT 1 $$ LANGUAGE sql',
        true,
      ),
    ).toBe('CREATE FUNCTION f() RETURNS int SET app.k = ? ? ? ? ?');
    expect(redactLiterals('SET ROLE someone_secret', true)).toBe('SET ROLE ?');
    expect(redactLiterals('SET SESSION AUTHORIZATION someone', true)).toBe(
      'SET SESSION AUTHORIZATION ?',
    );
    // A name after RENAME TO or OWNER TO is not a setting's value.
    expect(redactLiterals('ALTER ROLE bob RENAME TO alice', true)).toBe(
      'ALTER ROLE bob RENAME TO alice',
    );
    expect(redactLiterals('ALTER DATABASE d OWNER TO alice', true)).toBe(
      'ALTER DATABASE d OWNER TO alice',
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
        copy: { file: 'curl -u admin:secret https://x', program: true },
        transaction: { kind: 'prepare_transaction', name: 'gid-secret' },
        settings_read: ['app.secret', null],
      }),
    ).toEqual({
      set: { name: 'a', value: '?', local: false },
      execute: { name: 'p', params: ['?', '?'] },
      prepare: { name: 'p', statement: { text: 'SELECT ?', command: 'SELECT' } },
      notify: { kind: 'notify', channel: 'c', payload: '?' },
      copy: { file: '?', program: true },
      transaction: { kind: 'prepare_transaction', name: '?' },
      settings_read: ['?', null],
    });
  });
});
