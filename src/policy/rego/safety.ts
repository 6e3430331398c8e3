// Safety analysis: orders body literals so every var is bound before it is read (OPA's reordering).
import type { Expr, Term } from './ast.js';
import { RegoError, type Loc } from './errors.js';

interface IO {
  ins: Set<string>;
  outs: Set<string>;
}

/** Context the analysis needs from the compiler. */
export interface SafetyEnv {
  /** Names declared in the body's own scope (the only vars this body must bind). */
  locals: Set<string>;
  /** := names not yet declared at the literal being analysed (invisible to closures). */
  hidden?: Set<string>;
  /** Input arity of a called function, when known (a further argument is an output). */
  arity(name: string): number | undefined;
  loc(e: { line: number; col: number }): Loc;
  /** Whether a term names a function or builtin (a `with` replacement). */
  isFn?(t: Term): boolean;
}

function io(): IO {
  return { ins: new Set(), outs: new Set() };
}

function termIO(t: Term, pattern: boolean, env: SafetyEnv, r: IO): void {
  switch (t.t) {
    case 'scalar':
      return;
    case 'var':
      if (t.name !== '_' && env.locals.has(t.name)) (pattern ? r.outs : r.ins).add(t.name);
      return;
    case 'ref':
      termIO(t.head, false, env, r);
      for (const p of t.path)
        termIO(p, p.t === 'var' || p.t === 'array' || p.t === 'object', env, r);
      return;
    case 'array':
      for (const x of t.items) termIO(x, pattern, env, r);
      return;
    case 'object':
      for (const [k, v] of t.items) {
        termIO(k, false, env, r);
        termIO(v, pattern, env, r);
      }
      return;
    case 'set':
      for (const x of t.items) termIO(x, false, env, r);
      return;
    case 'call': {
      const n = env.arity(t.name);
      t.args.forEach((a, i) => termIO(a, n !== undefined && i === n, env, r));
      return;
    }
    default: {
      // comprehension: its free vars from this scope are inputs
      const used = new Set<string>();
      const declared = new Set<string>();
      deepVars(t, used, declared);
      for (const v of used)
        if (!declared.has(v) && env.locals.has(v) && !env.hidden?.has(v)) r.ins.add(v);
    }
  }
}

function pvars(t: Term, out: Set<string>): void {
  if (t.t === 'var') out.add(t.name);
  else if (t.t === 'array') for (const x of t.items) pvars(x, out);
  else if (t.t === 'object') for (const [, v] of t.items) pvars(v, out);
}

/** All var names in a term including nested bodies; `declared` gets names bodies declare. */
function deepVars(t: Term, used: Set<string>, declared: Set<string>): void {
  const body = (b: Expr[]) => {
    for (const e of b) {
      if (e.k === 'some') e.vars.forEach((v) => declared.add(v));
      else if (e.k === 'somein') {
        if (e.key) pvars(e.key, declared);
        pvars(e.val, declared);
        deepVars(e.coll, used, declared);
      } else if (e.k === 'every') {
        if (e.key) pvars(e.key, declared);
        pvars(e.val, declared);
        deepVars(e.dom, used, declared);
        body(e.body);
      } else {
        if (e.term.t === 'call' && e.term.name === 'assign') pvars(e.term.args[0], declared);
        deepVars(e.term, used, declared);
        for (const w of e.with) deepVars(w.value, used, declared);
      }
    }
  };
  switch (t.t) {
    case 'var':
      used.add(t.name);
      return;
    case 'ref':
      deepVars(t.head, used, declared);
      t.path.forEach((p) => deepVars(p, used, declared));
      return;
    case 'array':
    case 'set':
      t.items.forEach((x) => deepVars(x, used, declared));
      return;
    case 'object':
      t.items.forEach(([k, v]) => (deepVars(k, used, declared), deepVars(v, used, declared)));
      return;
    case 'call':
      t.args.forEach((a) => deepVars(a, used, declared));
      return;
    case 'arraycomp':
    case 'setcomp':
      deepVars(t.term, used, declared);
      body(t.body);
      return;
    case 'objcomp':
      deepVars(t.key, used, declared);
      deepVars(t.value, used, declared);
      body(t.body);
      return;
    default:
      return;
  }
}

function literalIO(e: Expr, env: SafetyEnv): IO {
  const r = io();
  switch (e.k) {
    case 'some':
      return r;
    case 'somein':
      if (e.key) termIO(e.key, true, env, r);
      termIO(e.val, true, env, r);
      termIO(e.coll, false, env, r);
      break;
    case 'every': {
      termIO(e.dom, false, env, r);
      const used = new Set<string>();
      const declared = new Set<string>();
      if (e.key) pvars(e.key, declared);
      pvars(e.val, declared);
      deepVars(
        {
          t: 'arraycomp',
          term: { t: 'scalar', v: null, line: 0, col: 0 },
          body: e.body,
          line: 0,
          col: 0,
        },
        used,
        declared,
      );
      for (const v of used) if (!declared.has(v) && env.locals.has(v)) r.ins.add(v);
      break;
    }
    case 'expr': {
      const t = e.term;
      if (t.t === 'call' && (t.name === 'eq' || t.name === 'assign')) {
        termIO(t.args[0], true, env, r);
        termIO(t.args[1], t.name === 'eq', env, r);
      } else termIO(t, false, env, r);
      if (e.neg) {
        for (const v of r.outs) r.ins.add(v);
        r.outs.clear();
      }
      break;
    }
  }
  for (const w of e.with) if (!env.isFn?.(w.value)) termIO(w.value, false, env, r);
  return r;
}

function unifyReady(a: Term, b: Term, bound: Set<string>, env: SafetyEnv): boolean {
  const free = (t: Term) => {
    const s = new Set<string>();
    pvars(t, s);
    for (const v of s) if (v === '_' || env.locals.has(v) ? !bound.has(v) : false) return true;
    return false;
  };
  if (!free(a) || !free(b)) return true;
  if (a.t === 'array' && b.t === 'array' && a.items.length === b.items.length) {
    // element-wise: each pair in turn, with bindings from earlier pairs
    const bb = new Set(bound);
    for (let i = 0; i < a.items.length; i++) {
      if (!unifyReady(a.items[i], b.items[i], bb, env)) return false;
      pvars(a.items[i], bb);
      pvars(b.items[i], bb);
    }
    return true;
  }
  if (a.t === 'object' && b.t === 'object') return true;
  return false;
}

function wildFree(t: Term): boolean {
  // `_` in a pattern is always fresh; treat it as bindable
  return t.t === 'var' && t.name === '_';
}

/** Returns the literals in an order where each reads only bound vars; throws rego_unsafe_var_error. */
export function orderBody(exprs: Expr[], env: SafetyEnv, heads: Term[] = []): Expr[] {
  const bound = new Set<string>();
  const assignedAt = new Map<string, number>();
  exprs.forEach((e, i) => {
    if (e.k === 'expr' && e.term.t === 'call' && e.term.name === 'assign') {
      const s = new Set<string>();
      pvars(e.term.args[0], s);
      for (const v of s) if (!assignedAt.has(v)) assignedAt.set(v, i);
    }
  });
  const ios = exprs.map((e, i) => {
    env.hidden = new Set([...assignedAt].filter(([, j]) => j >= i).map(([v]) => v));
    const r = literalIO(e, env);
    env.hidden = undefined;
    return r;
  });
  const left = exprs.map((_, i) => i);
  const out: Expr[] = [];
  while (left.length > 0) {
    let pick = -1;
    for (let j = 0; j < left.length; j++) {
      const i = left[j];
      const e = exprs[i];
      const r = ios[i];
      let ok = true;
      for (const v of r.ins) if (!bound.has(v)) ok = false;
      if (ok && e.k === 'expr' && !e.neg && e.term.t === 'call' && e.term.name === 'eq') {
        const [a, b] = e.term.args;
        ok = wildFree(a) || wildFree(b) || unifyReady(a, b, bound, env);
      }
      if (ok) {
        pick = j;
        break;
      }
    }
    if (pick < 0) {
      const i = left[0];
      const r = ios[i];
      const missing = [...r.ins, ...r.outs].filter((v) => !bound.has(v)).sort();
      const l = env.loc(exprs[i]);
      throw new RegoError(
        'rego_unsafe_var_error',
        `var ${missing[0] ?? '?'} is unsafe`,
        l.file,
        l.line,
        l.col,
      );
    }
    const i = left.splice(pick, 1)[0];
    out.push(exprs[i]);
    for (const v of ios[i].outs) bound.add(v);
  }
  for (const h of heads) {
    const r = io();
    termIO(h, false, env, r);
    for (const v of [...r.ins, ...r.outs])
      if (!bound.has(v)) {
        const l = env.loc(h);
        throw new RegoError('rego_unsafe_var_error', `var ${v} is unsafe`, l.file, l.line, l.col);
      }
  }
  return out;
}
