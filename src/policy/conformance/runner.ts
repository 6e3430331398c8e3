// Runs OPA YAML conformance cases (test/cases/testdata format) against the built-in evaluator.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { compileModules } from '../rego/index.js';
import { RegoError } from '../rego/errors.js';
import { compare, equal, fromJS, toJSONish, type Value } from '../rego/value.js';
import { SKIP } from './skip-list.js';

export interface TestCase {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  want_error_code?: string;
  want_error?: string;
  strict_error?: boolean;
  sort_bindings?: boolean;
  want_defined?: boolean;
}

export interface CaseResult {
  file: string;
  note: string;
  status: 'pass' | 'fail' | 'skip';
  reason?: string;
}

export interface RunSummary {
  results: CaseResult[];
  passed: number;
  failed: number;
  skipped: number;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (name.endsWith('.yaml') || name.endsWith('.yml')) out.push(p);
  }
  return out;
}

/** Evaluates one case; returns undefined on pass, else the failure reason. */
export function runCase(tc: TestCase, regoVersion: 0 | 1 = 1): string | undefined {
  let rows: Record<string, unknown>[] | undefined;
  let err: unknown;
  try {
    const pol = compileModules(
      (tc.modules ?? []).map((source, i) => ({ path: `mod${i}.rego`, source })),
      { regoVersion },
    );
    const opts = { data: tc.data ?? {}, strict: !!tc.strict_error, raw: true };
    let input: unknown;
    if (tc.input_term !== undefined) input = pol.evalTerm(tc.input_term, opts);
    else if ('input' in tc) input = fromJS(tc.input);
    rows = pol.query(tc.query, input, opts);
  } catch (e) {
    err = e;
  }
  const wantsError = tc.want_error_code !== undefined || tc.want_error !== undefined;
  if (wantsError) {
    if (err === undefined)
      return `want error ${tc.want_error_code ?? ''} ${tc.want_error ?? ''}, got ${JSON.stringify(safe(rows))}`;
    const code = err instanceof RegoError ? err.code : 'internal_error';
    const msg = err instanceof Error ? err.message : String(err);
    if (tc.want_error_code !== undefined && code !== tc.want_error_code)
      return `want code ${tc.want_error_code}, got ${code}: ${msg}`;
    if (tc.want_error_code === undefined && tc.want_error && !msg.includes(tc.want_error))
      return `want error containing ${JSON.stringify(tc.want_error)}, got ${msg}`;
    return undefined;
  }
  if (err !== undefined)
    return `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
  const got = (rows ?? []).map((r) => normRow(r, !!tc.sort_bindings));
  if (tc.want_defined !== undefined)
    return got.length > 0 === tc.want_defined ? undefined : `want defined=${tc.want_defined}`;
  const want = (tc.want_result ?? []).map((r) => fromJS(r) as Record<string, Value>);
  const same =
    want.every((w) => got.some((g) => equal(g, w))) &&
    got.every((g) => want.some((w) => equal(g, w)));
  return same
    ? undefined
    : `want ${JSON.stringify(safe(tc.want_result))}, got ${JSON.stringify(safe(got))}`;
}

function normRow(r: Record<string, unknown>, sort: boolean): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const [k, v] of Object.entries(r)) {
    let j = fromJS(toJSONish(v as Value, true));
    if (sort && Array.isArray(j)) j = [...j].sort(compare);
    out[k] = j;
  }
  return out;
}

function safe(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(toJSONish(fromJS(v), false) ?? null, (_k, x) =>
      typeof x === 'bigint' ? x.toString() : x,
    ),
  );
}

/** Runs every YAML case file under dir (recursively). Files under a `v0/` directory are Rego v0. */
export function runDir(dir: string): RunSummary {
  const results: CaseResult[] = [];
  for (const file of yamlFiles(dir)) {
    const rel = path.relative(dir, file);
    const doc = YAML.parse(readFileSync(file, 'utf8'), { intAsBigInt: true }) as {
      cases?: TestCase[];
    };
    const isV0 = file.split(path.sep).includes('v0');
    for (const tc of doc.cases ?? []) {
      const skip = SKIP.get(tc.note);
      if (skip) {
        results.push({ file: rel, note: tc.note, status: 'skip', reason: skip });
        continue;
      }
      let reason: string | undefined;
      try {
        reason = runCase(tc, isV0 ? 0 : 1);
      } catch (e) {
        reason = `runner crash: ${(e as Error).message}`;
      }
      results.push({ file: rel, note: tc.note, status: reason ? 'fail' : 'pass', reason });
    }
  }
  const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  return { results, passed: count('pass'), failed: count('fail'), skipped: count('skip') };
}
