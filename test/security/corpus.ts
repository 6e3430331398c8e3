// The shared security corpus: loading cases, evaluating their SQL generators, and the
// policy context each case names.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS = path.resolve(repoRoot, '..', 'shared', 'security-examples.jsonl');
export const FIXTURE = path.resolve(repoRoot, '..', 'shared', 'security-fixture.sql');

export type Outcome = 'allow' | 'deny' | 'error' | 'approval' | 'mask';
export type Context = 'P1' | 'P2' | 'P2-view' | 'P3' | 'P4';

export interface Case {
  id: string;
  category: string;
  sql?: string;
  sql_generator?: string;
  wire?: string;
  policy_context: string;
  expected: Outcome;
  also_acceptable?: Outcome[];
  setup?: string;
  why?: string;
}

export function loadCases(file = CORPUS): Case[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Case);
}

/** The policy context a case names ("P2-view: agent may..." → "P2-view"); W cases are wire-level. */
export function contextOf(c: Case): Context | 'W' | undefined {
  const m = /^(P1|P2-view|P2|P3|P4|W\+P2|W)\b/.exec(c.policy_context);
  if (!m) return undefined;
  return m[1].startsWith('W') ? 'W' : (m[1] as Context);
}

/** The SQL text of a case: `sql`, or its generator evaluated. */
export function sqlOf(c: Case): string | undefined {
  if (c.sql_generator) return evalGenerator(c.sql_generator);
  return typeof c.sql === 'string' ? c.sql : undefined;
}

type Value = string | number;

/**
 * Evaluate the Python-like generator expressions of the corpus: string and integer
 * literals, `+` (concatenation or sum), `*` (repetition or product) and parentheses.
 * @example evalGenerator("'SELECT ' + '(' * 3") // 'SELECT ((('
 */
export function evalGenerator(src: string): string {
  let i = 0;
  const ws = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`sql_generator: ${what} at ${i} in ${src}`);
  };
  const str = (): string => {
    const q = src[i++];
    let out = '';
    while (i < src.length && src[i] !== q) {
      if (src[i] === '\\') {
        const n = src[i + 1];
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n === '0' ? '\0' : n;
        i += 2;
      } else out += src[i++];
    }
    if (src[i] !== q) fail('unterminated string');
    i++;
    return out;
  };
  const factor = (): Value => {
    ws();
    const ch = src[i];
    if (ch === "'" || ch === '"') return str();
    if (ch === '(') {
      i++;
      const v = expr();
      ws();
      if (src[i] !== ')') fail("expected ')'");
      i++;
      return v;
    }
    const m = /^\d+/.exec(src.slice(i));
    if (!m) return fail('unexpected token');
    i += m[0].length;
    return Number(m[0]);
  };
  const term = (): Value => {
    let v = factor();
    for (;;) {
      ws();
      if (src[i] !== '*') return v;
      i++;
      const r = factor();
      if (typeof v === 'number' && typeof r === 'number') v = v * r;
      else if (typeof v === 'string' && typeof r === 'number') v = v.repeat(r);
      else if (typeof v === 'number' && typeof r === 'string') v = r.repeat(v);
      else fail('string * string');
    }
  };
  const expr = (): Value => {
    let v = term();
    for (;;) {
      ws();
      if (src[i] !== '+') return v;
      i++;
      const r = term();
      if (typeof v !== typeof r) fail('mixed +');
      v = typeof v === 'number' ? v + (r as number) : v + (r as string);
    }
  };
  const v = expr();
  ws();
  if (i !== src.length) fail('trailing input');
  if (typeof v !== 'string') fail('not a string');
  return v as string;
}
