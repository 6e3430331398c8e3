import { describe, expect, it } from 'vitest';
import { checkStartupParams, configuredSession, searchPathNames } from './params.js';

describe('searchPathNames', () => {
  it('reads a search_path as PostgreSQL does', () => {
    expect(searchPathNames('public')).toEqual(['public']);
    expect(searchPathNames(' Public , "My ""S""" ,x')).toEqual(['public', 'My "S"', 'x']);
    expect(searchPathNames('"$user", public')).toEqual(['$user', 'public']);
    expect(searchPathNames('')).toBeUndefined();
    expect(searchPathNames('a b')).toBeUndefined();
    expect(searchPathNames('"open')).toBeUndefined();
  });
});

describe('checkStartupParams', () => {
  const searchPath = ['public', 'Sales'];
  const verdict = (params: Record<string, string>) =>
    checkStartupParams(
      new Map(Object.entries({ user: 'u', database: 'd', ...params })),
      searchPath,
    );

  it('accepts, and does not forward, a pinned setting asked for as pinned', () => {
    for (const p of [
      { search_path: 'public,"Sales"' } as Record<string, string>,
      { options: '-c search_path=PUBLIC,\\"Sales\\"' },
      { standard_conforming_strings: 'true' },
    ]) {
      const v = verdict(p);
      expect(v.ok && v.passthrough, JSON.stringify(p)).toEqual({});
    }
  });

  it('refuses one asked for otherwise', () => {
    for (const p of [
      { search_path: 'public' } as Record<string, string>,
      { search_path: 'public,sales' },
      { options: '-c search_path=evil,public,"Sales"' },
      { standard_conforming_strings: 'off' },
      { default_transaction_read_only: 'off' },
    ])
      expect(verdict(p), JSON.stringify(p)).toMatchObject({ ok: false });
  });

  it('passes read-only and isolation defaults a client chooses for itself', () => {
    const v = verdict({
      options: '-c default_transaction_read_only=yes -c default_transaction_isolation=serializable',
    });
    expect(v.ok && v.passthrough).toEqual({
      default_transaction_read_only: 'on',
      default_transaction_isolation: 'serializable',
    });
  });
});

describe('configuredSession', () => {
  it('pins one schema, and refuses a path whose names only the catalog could resolve', () => {
    expect(configuredSession({}).pinned.search_path).toBe('public');
    expect(configuredSession({ searchPath: ['My App'] }).pinned.search_path).toBe('"My App"');
    for (const sp of [['public', 'app'], ['$user', 'public'], ['pg_temp'], []])
      expect(() => configuredSession({ searchPath: sp })).toThrow(/^session\.searchPath: /);
  });
});
