// Public API of the built-in Rego evaluator: compileModules() -> CompiledPolicy (evalRef, query, tests).
//
// Values inside the evaluator are plain JS (see value.ts): JSON input is read in place, never copied.
// Results returned by evalRef/query are converted to OPA's JSON form (sets become sorted arrays).
import './builtins/all.js';
import { Compiler } from './compiler.js';
import { Scope } from './scope.js';
import { firstVal } from './terms.js';
import { RegoError } from './errors.js';
import { parseBody, parseModule, parseTerm } from './parser.js';
import { Ctx, nodeValue, walkData, type CTerm, type Frame } from './runtime.js';
import { fromJS, toJSONish, type Value } from './value.js';

export { RegoError } from './errors.js';
export type { Value } from './value.js';

export interface EvalOptions {
  /** Base document at `data` (merged under rule values). */
  data?: unknown;
  /** Fixed time for time.now_ns(); wall clock when absent. */
  nowNs?: bigint | number;
  /** Builtin errors abort evaluation instead of making the expression undefined. */
  strict?: boolean;
  /** Keep internal value forms (sets, bigints) in results instead of OPA JSON form. */
  raw?: boolean;
}

export interface TestResult {
  name: string;
  pass: boolean;
  error?: string;
  durationMs: number;
}

export interface CompileOptions {
  /** Rego language version of the sources (default 1). Version 0 enables v0 syntax and deprecated builtins. */
  regoVersion?: 0 | 1;
  /** Base document used by evalRef/query when an evaluation passes no `data`. */
  data?: unknown;
}

/**
 * A compiled set of Rego modules.
 * @example
 *   const p = compileModules([{ path: 'policies.rego', source }]);
 *   const decision = p.evalRef('data.portcullis', input);
 */
export class CompiledPolicy {
  private readonly baseData: Value;
  private readonly refCache = new Map<string, CTerm[]>();
  constructor(
    private readonly compiler: Compiler,
    opts: CompileOptions = {},
  ) {
    compiler.recordInputs = false;
    this.baseData = opts.data === undefined ? {} : fromJS(opts.data);
  }

  private ctx(input: unknown, opts: EvalOptions = {}): Ctx {
    const data = opts.data === undefined ? this.baseData : fromJS(opts.data);
    return new Ctx(input as Value | undefined, data, opts.strict ?? false, opts.nowNs);
  }

  /** Value of a document such as `data.portcullis` (OPA JSON form); undefined when undefined. */
  evalRef(path: string, input: unknown, opts: EvalOptions = {}): unknown {
    const segs = path.split('.');
    if (segs[0] !== 'data')
      throw new RegoError('rego_parse_error', `ref must start with data: ${path}`);
    const c = this.ctx(input, opts);
    const n = this.compiler.findNode(segs.slice(1));
    let v: Value | undefined;
    if (n) v = nodeValue(n, c);
    else {
      // a path below a rule or into base data: walk from the root without evaluating siblings
      let terms = this.refCache.get(path);
      if (!terms) this.refCache.set(path, (terms = segs.slice(1).map((s) => constTerm(s))));
      walkData(this.compiler.root, terms, 0, [], c, (x) => ((v = x), true));
    }
    if (v === undefined) return undefined;
    return opts.raw ? v : toJSONish(v);
  }

  /** Evaluates a query body; one binding map per solution (OPA JSON form unless opts.raw). */
  query(
    queryBody: string,
    input?: unknown,
    opts: EvalOptions = {},
  ): Array<Record<string, unknown>> {
    const exprs = parseBody(queryBody);
    const q = this.compiler.query(exprs, this.compiler.rootModCtx());
    const c = this.ctx(input, opts);
    const f: Frame = new Array(q.nslots);
    const rows: Array<Record<string, unknown>> = [];
    q.body(f, c, () => {
      const row: Record<string, unknown> = {};
      for (const [name, slot] of q.vars) {
        const v = f[slot];
        if (v !== undefined) row[name] = opts.raw ? v : toJSONish(v);
      }
      rows.push(row);
      return false;
    });
    return rows;
  }

  /** Evaluates a single Rego term (e.g. an `input_term`), without input. */
  evalTerm(source: string, opts: EvalOptions = {}): Value | undefined {
    const t = parseTerm(source);
    const alloc = { n: 0 };
    const ct = this.compiler.term(t, new Scope(null, alloc), this.compiler.rootModCtx());
    return firstVal(ct, new Array(alloc.n + 1), this.ctx(undefined, opts));
  }

  /** Every `input.a.b` prefix the policy can read; a dynamic key ends the prefix. */
  inputPathsRead(): string[] {
    return [...this.compiler.inputPaths].sort();
  }

  /** Names of `test_` rules (data paths). */
  tests(): string[] {
    return this.compiler.tests.map((t) => t.name);
  }

  /** Runs every test_ rule like `opa test`: pass when defined and not false. */
  runTests(opts: EvalOptions = {}): TestResult[] {
    return this.compiler.tests.map(({ name, node }) => {
      const t0 = performance.now();
      try {
        const v = nodeValue(node, this.ctx(undefined, opts));
        const pass = v !== undefined && v !== false;
        return {
          name,
          pass,
          durationMs: performance.now() - t0,
          ...(pass ? {} : { error: v === undefined ? 'undefined' : 'false' }),
        };
      } catch (e) {
        return {
          name,
          pass: false,
          error: (e as Error).message,
          durationMs: performance.now() - t0,
        };
      }
    });
  }
}

function constTerm(v: Value): CTerm {
  const loc = { file: '', line: 0, col: 0 };
  return { kind: 'scalar', value: v, pvars: [], loc, get: () => v, ev: (_f, _c, k) => k(v) };
}

/** Parses and compiles Rego v1 modules. Throws RegoError with file:line:col on errors. */
export function compileModules(
  modules: { path: string; source: string }[],
  opts: CompileOptions = {},
): CompiledPolicy {
  const v0 = opts.regoVersion === 0;
  const parsed = modules.map((m) => parseModule(m.source, m.path, v0));
  const c = new Compiler(v0);
  c.addModules(parsed);
  return new CompiledPolicy(c, opts);
}
