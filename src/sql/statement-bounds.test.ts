// A query string's statements are cut at PostgreSQL's byte offsets, turned into string
// offsets in one pass over the text. Before, the text was decoded up to each offset, twice
// per statement: a 1 MB string of 1,000 statements with non-ASCII literals took 5 s of the
// gateway's one thread (ASCII: 0.2 s), as often as an agent sent it.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from './index.js';

const opts = { searchPath: ['public'], database: 'postgres' };

beforeAll(async () => {
  await initSql();
});

/** Each statement's text, as the analysis cut it from the string. */
function cut(text: string): string[] {
  const r = analyze(text, { ...opts, maxStatements: 2_000 });
  expect(r.error).toBeUndefined();
  return r.statements.map((s) => s.text);
}

describe('statement bounds in a string with characters of every UTF-8 length', () => {
  const pieces = [
    "SELECT 'é'",
    "SELECT '日本語'",
    "SELECT '😀x😀'",
    'SELECT $$\u{10348}$$',
    'SELECT 1',
    "SELECT 'ü' /* ö */",
  ];

  it('each statement is its own text, whatever comes before it', () => {
    for (let n = 0; n < 200; n++) {
      const chosen = Array.from({ length: 1 + (n % 6) }, (_, i) => pieces[(n * 7 + i * 5) % 6]);
      expect(cut(chosen.join('; '))).toEqual(chosen);
    }
  });

  it('a comment before the first statement is not part of it', () => {
    expect(cut("/* 日本 */ SELECT 'é'; SELECT 2")).toEqual(["SELECT 'é'", 'SELECT 2']);
  });

  it('1,000 statements with non-ASCII literals (1 MB)', () => {
    const one = `SELECT '${'é'.repeat(480)}'`;
    const texts = cut(Array.from({ length: 1000 }, () => one).join(';'));
    expect(texts).toHaveLength(1000);
    expect(new Set(texts)).toEqual(new Set([one]));
  });
});
