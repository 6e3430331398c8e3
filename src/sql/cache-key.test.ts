// The cache-key scanner: literals replaced, lexer corner cases, and no conflation of parses.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanKey } from './cache-key.js';
import { buildTemplate } from './facts.js';
import { initSql, parseText } from './parse.js';
import { rng } from '../../test/helpers/rng.js';

beforeAll(async () => {
  await initSql();
});

const key = (t: string): string => scanKey(t).key;

describe('scanKey', () => {
  it('replaces literals with canonical ones of the same kind', () => {
    expect(key('SELECT abalance FROM pgbench_accounts WHERE aid = 123')).toBe(
      key('SELECT abalance FROM pgbench_accounts WHERE aid = 456'),
    );
    expect(key("SELECT 'abc', E'x', N'y', B'101', X'ff', $$z$$, $t$ ; $t$")).toBe(
      "SELECT '', E'', N'', B'', X'', $$$$, $$$$",
    );
    expect(key('SELECT 1, 12.5, .5, 1., 1e10, 2.5E-3')).toBe('SELECT 0, 0.0, .0, 0., 0e0, 0.0e-0');
    expect(key("SELECT 'it''s'")).toBe("SELECT ''");
  });

  it('keeps identifiers, parameters and operators verbatim', () => {
    const t = 'SELECT "Weird ""Name""", a$b, $1, x::int FROM t1 WHERE y <> $2';
    expect(key(t)).toBe(t);
    const r = scanKey(t);
    expect(r.exact && r.dmlOnly).toBe(true);
  });

  it('keeps comment markers but not their bodies', () => {
    expect(key('SELECT 1 /* a /* nested */ b */ -- tail\n')).toBe('SELECT 0 /**/ --\n');
    expect(key('SELECT 1 /* x */')).toBe(key('SELECT 2 /* y */'));
  });

  it('ends -- comments at \\r as well as \\n (SEC-MS-007)', () => {
    const r = scanKey('SELECT 1 -- x\r; DELETE FROM orders');
    expect(r.bounds).toEqual([0, 14, 16, 34]);
    expect(r.key).toBe('SELECT 0 --\r; DELETE FROM orders');
  });

  it('treats E-string escapes as part of the literal (SEC-BL-031)', () => {
    const r = scanKey("SELECT E'\\';DELETE FROM orders;--'");
    expect(r.bounds).toEqual([
      0,
      r.key.length === 0 ? 0 : "SELECT E'\\';DELETE FROM orders;--'".length,
    ]);
    expect(r.exact).toBe(false); // backslashes are left to the parser (raw key)
  });

  it('follows nested dollar tags (SEC-MS-013)', () => {
    const r = scanKey('SELECT $a$ $b$ ; $b$ $a$; DELETE FROM orders');
    expect(r.key).toBe('SELECT $$$$; DELETE FROM orders');
    expect(r.bounds.length).toBe(4);
  });

  it('is unsure about backslashes, U&, odd numbers and unterminated tokens', () => {
    for (const t of [
      "SELECT 'a\\' , ' ; DELETE FROM orders WHERE id=2; -- '",
      "SELECT E'\\x41'",
      'SELECT * FROM U&"!0063ustomers" UESCAPE \'!\'',
      "SELECT U&'\\0041'",
      'SELECT 123abc',
      'SELECT 0x1F',
      'SELECT 1_000',
      'SELECT 1..2',
      "SELECT 'open",
      'SELECT $$open',
      'SELECT /* open',
      'SELECT "open',
      'SELECT 1 \\; DELETE FROM orders',
    ]) {
      expect(scanKey(t).exact, t).toBe(false);
    }
  });

  it('only marks plain DML as shareable by key', () => {
    for (const t of [
      'SELECT 1',
      ' (SELECT 1)',
      'with x as (select 1) select 2',
      'TABLE t',
      'VALUES (1)',
      'insert into t values (1)',
    ])
      expect(scanKey(t).dmlOnly, t).toBe(true);
    for (const t of [
      "SET search_path = 'x'",
      'SELECT 1; SET x = 1',
      "COPY t FROM '/etc/passwd'",
      'EXPLAIN SELECT 1',
      'PREPARE p AS SELECT 1',
      'DO $$ BEGIN END $$',
      "'x'",
    ])
      expect(scanKey(t).dmlOnly, t).toBe(false);
  });
});

// ---- property: texts sharing a key parse to the same facts ---------------------------------

const LITERALS = [
  '0',
  '42',
  '3.14',
  '.5',
  '1e5',
  '1E-3',
  "''",
  "'x'",
  "'a''b'",
  "'--'",
  "'/*'",
  "';'",
  "E'plain'",
  "N'n'",
  "B'1010'",
  "X'1f'",
  '$$ ; $$',
  '$q$ $$ ; $q$',
  "'customers'",
  "'orders_id_seq'",
  "'public.t'",
  "'search_path'",
];

const TOKENS = [
  'SELECT',
  'FROM',
  'WHERE',
  'orders',
  'customers',
  'c',
  'card',
  '*',
  ',',
  '(',
  ')',
  '=',
  '+',
  '-',
  ';',
  '\n',
  ' ',
  '--x\n',
  '--x\r',
  '/* c */',
  '/* /* n */ */',
  '$1',
  '::',
  'text',
  'AS',
  'E',
  'N',
  'U&',
  '"q"',
  '\\',
  '$',
  'a$b',
  '1abc',
  'DELETE',
  'INSERT INTO',
  'VALUES',
  'nextval(',
  'set_config(',
  'GROUP BY',
  'ORDER BY',
  'UNION',
];

function randomStatement(r: () => number): string {
  let s = '';
  const n = 2 + Math.floor(r() * 14);
  for (let i = 0; i < n; i++) {
    s +=
      r() < 0.35
        ? LITERALS[Math.floor(r() * LITERALS.length)]
        : TOKENS[Math.floor(r() * TOKENS.length)];
    if (r() < 0.6) s += ' ';
  }
  return s;
}

const TEMPLATES = [
  'SELECT abalance FROM pgbench_accounts WHERE aid = ?',
  'SELECT id, ? AS k FROM orders WHERE status = ? ORDER BY ?',
  'SELECT left(card, ?), count(*) FROM customers GROUP BY ?',
  'SELECT nextval(?)',
  'SELECT setval(?, ?, false)',
  'SELECT currval(?) FROM orders',
  'SELECT set_config(?, ?, false)',
  'UPDATE orders SET status = ? WHERE id = ?',
  'INSERT INTO orders (id, status) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET status = ?',
  'DELETE FROM orders WHERE id IN (SELECT id FROM customers WHERE card LIKE ?)',
  'SELECT ?; DELETE FROM orders WHERE id = ?',
  'SELECT ? -- c\n; SELECT ?',
  'SELECT ?\n?',
  'SELECT ? ?',
  'SELECT ?::regclass, ?::int',
  'WITH x AS (SELECT ? AS a FROM customers) SELECT a FROM x LIMIT ?',
  'SELECT * FROM orders o WHERE o.amount > ? FOR UPDATE',
  'SELECT CASE WHEN ? THEN ? ELSE ? END',
  'SELECT * FROM generate_series(?, ?) g',
  'VALUES (?, ?), (?, ?)',
];

function fill(t: string, r: () => number): string {
  return t.replace(/\?/g, () => LITERALS[Math.floor(r() * LITERALS.length)]);
}

/** Facts of a text as the cache would hold them, or the parse outcome kind. */
function factsOf(text: string): string {
  const p = parseText(text);
  if (p.kind !== 'ok') return p.kind;
  const out = p.stmts.map((s) => {
    const { template, literalSensitive } = buildTemplate(
      s.node,
      text.slice(s.start, s.end),
      ['public'],
      'postgres',
    );
    return literalSensitive ? 'SENSITIVE' : JSON.stringify(template);
  });
  return JSON.stringify(out);
}

describe('cache key never conflates statements that parse differently', () => {
  it('every shareable text has the facts of its own key (templates and random token soup)', () => {
    const r = rng(20260522);
    const texts: string[] = [];
    for (const t of TEMPLATES) for (let i = 0; i < 40; i++) texts.push(fill(t, r));
    for (let i = 0; i < 1500; i++) texts.push('SELECT ' + randomStatement(r));
    for (const line of readFileSync('/work/shared/security-examples.jsonl', 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const c = JSON.parse(line) as { sql?: string | null };
      if (typeof c.sql === 'string' && c.sql.length < 5000) texts.push(c.sql);
    }
    let checked = 0;
    for (const text of texts) {
      const s = scanKey(text);
      if (!(s.exact && s.dmlOnly)) continue;
      // The key is itself SQL that lexes like the text: same parse outcome, same facts,
      // except facts read from literal values (those are cached by raw text only).
      const a = factsOf(text);
      const b = factsOf(s.key);
      if (a.includes('SENSITIVE') || b.includes('SENSITIVE')) {
        expect(a.includes('SENSITIVE') && b.includes('SENSITIVE'), text).toBe(true);
        continue;
      }
      expect(b, text).toBe(a);
      // And the statement bounds match the parser's for the text.
      const p = parseText(text);
      if (p.kind === 'ok') {
        const pb = p.stmts.flatMap((x) => [x.start, x.end]);
        if (pb.length === s.bounds.length) expect(s.bounds, text).toEqual(pb);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('pairs of texts with equal keys have equal facts', () => {
    const r = rng(7);
    const byKey = new Map<string, string>();
    let pairs = 0;
    for (const t of TEMPLATES) {
      for (let i = 0; i < 30; i++) {
        const text = fill(t, r);
        const s = scanKey(text);
        if (!(s.exact && s.dmlOnly)) continue;
        const f = factsOf(text);
        if (f.includes('SENSITIVE')) continue;
        const prev = byKey.get(s.key);
        if (prev === undefined) byKey.set(s.key, f);
        else {
          expect(f, text).toBe(prev);
          pairs++;
        }
      }
    }
    expect(pairs).toBeGreaterThan(100);
  });
});
