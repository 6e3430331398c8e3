// Evaluation runtime: context, compiled term shape, unification, ref walking and rule (document) evaluation.
import { BuiltinError, RegoError, type Loc } from './errors.js';
import {
  RSet,
  RObj,
  equal,
  isObj,
  objGet,
  objKeys,
  objPut,
  type Obj,
  type Value,
} from './value.js';

export type Frame = (Value | undefined)[];
export type K = () => boolean;
export type VK = (v: Value) => boolean;
/** A compiled body: calls k once per solution; returns true to stop the search. */
export type CBody = (f: Frame, c: Ctx, k: K) => boolean;

export interface CTerm {
  kind: 'scalar' | 'var' | 'array' | 'object' | 'other';
  /** Enumerates the term's values. */
  ev(f: Frame, c: Ctx, k: VK): boolean;
  /** Present when the term has at most one value: returns it (undefined when undefined). */
  get?: (f: Frame, c: Ctx) => Value | undefined;
  slot?: number;
  value?: Value;
  items?: CTerm[];
  entries?: [CTerm, CTerm][];
  /** Slots of vars in pattern position (the var itself, array elements, object values). */
  pvars: number[];
  loc: Loc;
}

export interface CClause {
  body: CBody;
  value: CTerm;
}

export interface CRule {
  loc: Loc;
  nslots: number;
  clauses: CClause[];
  args?: CTerm[];
  /** Set rules: element term; object (ref-head) rules: key terms. */
  elem?: CTerm;
  keys?: CTerm[];
  /** Value of a body-less rule whose value is a constant term, computed once at compile time. */
  constValue?: Value;
}

export interface DNode {
  path: string[];
  children: Map<string, DNode>;
  complete: CRule[];
  sets: CRule[];
  grefs: CRule[];
  funcs: CRule[];
  dflt?: CRule;
  arity?: number;
}

export function newNode(path: string[]): DNode {
  return { path, children: new Map(), complete: [], sets: [], grefs: [], funcs: [] };
}

export function hasRules(n: DNode): boolean {
  return n.complete.length > 0 || n.sets.length > 0 || n.grefs.length > 0 || n.dflt !== undefined;
}

export type Mock = { fn: DNode } | { builtin: string } | { value: Value };

const IN_PROGRESS = Symbol('in-progress');
const UNDEF = Symbol('undefined');

export class Ctx {
  cache = new Map<DNode, Value | typeof IN_PROGRESS | typeof UNDEF>();
  mocks: Map<string, Mock> | null = null;
  overrides: Map<DNode, Value> | null = null;
  constructor(
    public input: Value | undefined,
    public data: Value,
    public strict: boolean,
    public nowNs: number | bigint | undefined,
  ) {}
  child(): Ctx {
    const c = new Ctx(this.input, this.data, this.strict, this.nowNs);
    c.mocks = this.mocks;
    c.overrides = this.overrides;
    c.wallNs = this.wallNs;
    return c;
  }
  /** Time fixed for the whole evaluation (time.now_ns). */
  wallNs: bigint | undefined;
  /** time.now_ns(): the fixed evaluation time, else input.now_ns, else the wall clock (once). */
  now(): bigint {
    if (this.nowNs !== undefined) return BigInt(this.nowNs);
    const i = this.input;
    if (i !== null && typeof i === 'object' && !Array.isArray(i)) {
      const n = (i as Record<string, Value>).now_ns;
      if (typeof n === 'bigint' || (typeof n === 'number' && Number.isInteger(n))) return BigInt(n);
    }
    if (this.wallNs === undefined) this.wallNs = BigInt(Date.now()) * 1000000n;
    return this.wallNs;
  }
}

export function conflict(msg: string, loc?: Loc): RegoError {
  return loc
    ? new RegoError('eval_conflict_error', msg, loc.file, loc.line, loc.col)
    : new RegoError('eval_conflict_error', msg);
}

/** Binds or checks a pattern term against a value. */
export function unifyTV(t: CTerm, v: Value, f: Frame, c: Ctx, k: K): boolean {
  switch (t.kind) {
    case 'var': {
      const s = t.slot as number;
      const cur = f[s];
      if (cur !== undefined) return equal(cur, v) ? k() : false;
      f[s] = v;
      const r = k();
      f[s] = undefined;
      return r;
    }
    case 'scalar':
      return equal(t.value as Value, v) ? k() : false;
    case 'array': {
      const items = t.items as CTerm[];
      if (!Array.isArray(v) || v.length !== items.length) return false;
      return unifyItems(items, v, 0, f, c, k);
    }
    case 'object': {
      const es = t.entries as [CTerm, CTerm][];
      if (!isObj(v) || objSizeOf(v) !== es.length) return false;
      return unifyEntries(es, v, 0, f, c, k);
    }
    default:
      return t.ev(f, c, (x) => (equal(x, v) ? k() : false));
  }
}

function objSizeOf(o: Obj): number {
  return o instanceof RObj ? o.size : objKeys(o).length;
}

function unifyItems(items: CTerm[], v: Value[], i: number, f: Frame, c: Ctx, k: K): boolean {
  if (i === items.length) return k();
  return unifyTV(items[i], v[i], f, c, () => unifyItems(items, v, i + 1, f, c, k));
}

function unifyEntries(es: [CTerm, CTerm][], o: Obj, i: number, f: Frame, c: Ctx, k: K): boolean {
  if (i === es.length) return k();
  const [kt, vt] = es[i];
  return kt.ev(f, c, (key) => {
    const x = objGet(o, key);
    return x !== undefined && unifyTV(vt, x, f, c, () => unifyEntries(es, o, i + 1, f, c, k));
  });
}

export function hasUnbound(t: CTerm, f: Frame): boolean {
  const pv = t.pvars;
  for (let i = 0; i < pv.length; i++) if (f[pv[i]] === undefined) return true;
  return false;
}

/** a = b */
export function unify(a: CTerm, b: CTerm, f: Frame, c: Ctx, k: K, loc: Loc): boolean {
  if (!hasUnbound(b, f)) return b.ev(f, c, (v) => unifyTV(a, v, f, c, k));
  if (!hasUnbound(a, f)) return a.ev(f, c, (v) => unifyTV(b, v, f, c, k));
  if (a.kind === 'array' && b.kind === 'array') {
    const x = a.items as CTerm[];
    const y = b.items as CTerm[];
    if (x.length !== y.length) return false;
    const step = (i: number): boolean =>
      i === x.length ? k() : unify(x[i], y[i], f, c, () => step(i + 1), loc);
    return step(0);
  }
  if (a.kind === 'object' && b.kind === 'object') {
    const x = a.entries as [CTerm, CTerm][];
    const y = b.entries as [CTerm, CTerm][];
    if (x.length !== y.length) return false;
    // match keys by value (keys must be ground)
    const step = (i: number): boolean => {
      if (i === x.length) return k();
      return x[i][0].ev(f, c, (kx) => {
        for (const [ky, vy] of y) {
          if (ky.get && equal(ky.get(f, c) as Value, kx))
            return unify(x[i][1], vy, f, c, () => step(i + 1), loc);
        }
        return false;
      });
    };
    return step(0);
  }
  throw new RegoError('rego_unsafe_var_error', 'var is unsafe', loc.file, loc.line, loc.col);
}

/** Child of a composite by key (array index, object key, set member). */
export function childOf(v: Value, key: Value): Value | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  if (Array.isArray(v)) {
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0) return undefined;
    return v[key];
  }
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return objGet(v, key);
}

/** Calls k(key, child) for each child in Rego order. */
export function eachChild(v: Value, k: (key: Value, child: Value) => boolean): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (k(i, v[i])) return true;
    return false;
  }
  if (v instanceof RSet) {
    for (const e of v.sorted()) if (k(e, e)) return true;
    return false;
  }
  for (const key of objKeys(v)) if (k(key, objGet(v, key) as Value)) return true;
  return false;
}

/** Walks path[i..] from a plain value. */
export function walk(
  v: Value,
  path: CTerm[],
  i: number,
  f: Frame,
  c: Ctx,
  k: VK,
  numKeys = false,
): boolean {
  for (; i < path.length; i++) {
    const p = path[i];
    if (p.get && !hasUnbound(p, f)) {
      const key = p.get(f, c);
      if (key === undefined) return false;
      const x =
        numKeys && typeof key === 'number' && isObj(v)
          ? (objGet(v, key) ?? objGet(v, String(key)))
          : childOf(v, key);
      if (x === undefined) return false;
      v = x;
      continue;
    }
    const next = i + 1;
    if (hasUnbound(p, f)) {
      return eachChild(v, (key, child) =>
        unifyTV(p, key, f, c, () => walk(child, path, next, f, c, k)),
      );
    }
    const base = v;
    return p.ev(f, c, (key) => {
      const x = childOf(base, key);
      return x !== undefined && walk(x, path, next, f, c, k);
    });
  }
  return k(v);
}

/** Base data at a node's path. */
function baseAt(c: Ctx, path: string[]): Value | undefined {
  let v: Value | undefined = c.data;
  for (const p of path) {
    if (v === undefined || !isObj(v)) return undefined;
    v = objGet(v, p);
  }
  return v;
}

/** Walks path[i..] starting at a data-tree node. */
export function walkData(n: DNode, path: CTerm[], i: number, f: Frame, c: Ctx, k: VK): boolean {
  for (; i < path.length; i++) {
    if (c.overrides !== null && c.overrides.has(n))
      return walk(c.overrides.get(n) as Value, path, i, f, c, k);
    if (hasRules(n) || n.arity !== undefined) break;
    const p = path[i];
    if (!p.get || hasUnbound(p, f)) break;
    const key = p.get(f, c);
    if (key === undefined) return false;
    const ch = typeof key === 'string' ? n.children.get(key) : undefined;
    if (ch) {
      n = ch;
      continue;
    }
    const b = baseAt(c, n.path);
    if (b === undefined) return false;
    // numeric keys address base documents by their string form (data[2] reads data["2"])
    const x =
      childOf(b, key) ?? (typeof key === 'number' && isObj(b) ? objGet(b, String(key)) : undefined);
    return x !== undefined && walk(x, path, i + 1, f, c, k, true);
  }
  const v = nodeValue(n, c);
  return v !== undefined && walk(v, path, i, f, c, k);
}

/** Full value (virtual + base) of the document at a data-tree node. */
export function nodeValue(n: DNode, c: Ctx): Value | undefined {
  if (c.overrides !== null && c.overrides.has(n)) return c.overrides.get(n);
  const hit = c.cache.get(n);
  if (hit !== undefined) {
    if (hit === IN_PROGRESS)
      throw new RegoError('rego_recursion_error', `rule data.${n.path.join('.')} is recursive`);
    return hit === UNDEF ? undefined : hit;
  }
  if (n.arity !== undefined) return undefined;
  c.cache.set(n, IN_PROGRESS);
  let v: Value | undefined;
  try {
    v = computeNode(n, c);
  } catch (e) {
    c.cache.delete(n);
    throw e;
  }
  c.cache.set(n, v === undefined ? UNDEF : v);
  return v;
}

function computeNode(n: DNode, c: Ctx): Value | undefined {
  if (n.complete.length > 0 || (n.dflt && n.sets.length === 0 && n.grefs.length === 0)) {
    let val: Value | undefined;
    for (const r of n.complete) {
      const v = evalChain(r, c, 'complete rules must not produce multiple outputs');
      if (v === undefined) continue;
      if (val !== undefined && !equal(val, v))
        throw conflict('complete rules must not produce multiple outputs', r.loc);
      val = v;
    }
    if (val === undefined && n.dflt) val = evalChain(n.dflt, c, '');
    if (n.children.size === 0 || val === undefined) return val;
  }
  if (n.sets.length > 0) {
    const s = new RSet();
    for (const r of n.sets) {
      const fr: Frame = new Array(r.nslots);
      const el = r.elem as CTerm;
      r.clauses[0].body(fr, c, () => el.ev(fr, c, (v) => (s.add(v), false)));
    }
    return s;
  }
  let obj: Obj | undefined;
  const b = baseAt(c, n.path);
  if (b !== undefined) {
    if (!isObj(b) || n.grefs.length > 0) {
      if (n.children.size === 0 && n.grefs.length === 0) return b;
    }
    if (isObj(b)) {
      obj = {};
      for (const key of objKeys(b)) obj = objPut(obj, key, objGet(b, key) as Value);
    }
  }
  if (n.grefs.length > 0) {
    const holder = { o: obj ?? ({} as Obj) };
    for (const r of n.grefs) {
      const fr: Frame = new Array(r.nslots);
      const keys = r.keys as CTerm[];
      const cl = r.clauses[0];
      // multi-value ref heads (`a[x].b contains y`) collect a set at each leaf
      const leaf = r.elem ?? cl.value;
      cl.body(fr, c, () =>
        evalKeys(keys, 0, [], fr, c, (ks) =>
          leaf.ev(fr, c, (v) => {
            holder.o = insertPath(holder.o, ks, 0, v, r.loc, r.elem !== undefined);
            return false;
          }),
        ),
      );
    }
    obj = holder.o;
  }
  if (n.children.size > 0) {
    if (!obj) obj = {};
    for (const [name, ch] of n.children) {
      const v = nodeValue(ch, c);
      if (v === undefined) continue;
      const cur = objGet(obj, name);
      if (cur !== undefined && isObj(cur) && isObj(v))
        obj = objPut(obj, name, mergeObj(cur, v, ch));
      else if (cur !== undefined && !equal(cur, v)) throw conflict('object keys must be unique');
      else obj = objPut(obj, name, v);
    }
  }
  return obj;
}

function mergeObj(a: Obj, b: Obj, _n: DNode): Obj {
  let o: Obj = {};
  for (const k of objKeys(a)) o = objPut(o, k, objGet(a, k) as Value);
  for (const k of objKeys(b)) {
    const x = objGet(o, k);
    const y = objGet(b, k) as Value;
    if (x !== undefined && isObj(x) && isObj(y)) o = objPut(o, k, mergeObj(x, y, _n));
    else if (x !== undefined && !equal(x, y)) throw conflict('object keys must be unique');
    else o = objPut(o, k, y);
  }
  return o;
}

function evalKeys(
  keys: CTerm[],
  i: number,
  acc: Value[],
  f: Frame,
  c: Ctx,
  k: (ks: Value[]) => boolean,
): boolean {
  if (i === keys.length) return k(acc);
  return keys[i].ev(f, c, (v) => {
    acc.push(v);
    const r = evalKeys(keys, i + 1, acc, f, c, k);
    acc.pop();
    return r;
  });
}

function insertPath(o: Obj, ks: Value[], i: number, v: Value, loc: Loc, multi = false): Obj {
  const key = ks[i];
  const cur = objGet(o, key);
  if (i === ks.length - 1 && multi) {
    if (cur !== undefined && !(cur instanceof RSet))
      throw conflict('object keys must be unique', loc);
    const s = new RSet(cur instanceof RSet ? cur.m.values() : []);
    s.add(v);
    return objPut(o, key, s);
  }
  if (i === ks.length - 1) {
    if (cur !== undefined) {
      if (!equal(cur, v)) throw conflict('object keys must be unique', loc);
      return o;
    }
    return objPut(o, key, v);
  }
  if (cur !== undefined && !isObj(cur)) throw conflict('object keys must be unique', loc);
  const inner = insertPath(cur === undefined ? {} : copyObj(cur as Obj), ks, i + 1, v, loc, multi);
  return objPut(o, key, inner);
}

function copyObj(o: Obj): Obj {
  let r: Obj = {};
  for (const k of objKeys(o)) r = objPut(r, k, objGet(o, k) as Value);
  return r;
}

/** Evaluates a rule with its else chain; value of the first clause with a solution. */
export function evalChain(r: CRule, c: Ctx, msg: string): Value | undefined {
  if (r.constValue !== undefined) return r.constValue;
  const f: Frame = new Array(r.nslots);
  for (const cl of r.clauses) {
    let out: Value | undefined;
    cl.body(f, c, () =>
      cl.value.ev(f, c, (v) => {
        if (out !== undefined && !equal(out, v)) throw conflict(msg, r.loc);
        out = v;
        return false;
      }),
    );
    if (out !== undefined) return out;
  }
  return undefined;
}

/** Calls a user function with argument values. */
export function callFunc(n: DNode, args: Value[], c: Ctx): Value | undefined {
  let out: Value | undefined;
  const msg = 'functions must not produce multiple outputs for same inputs';
  for (const r of n.funcs) {
    const f: Frame = new Array(r.nslots);
    const params = r.args as CTerm[];
    const v = bindArgs(params, args, 0, f, c, r, msg);
    if (v === undefined) continue;
    if (out !== undefined && !equal(out, v)) throw conflict(msg, r.loc);
    out = v;
  }
  if (out === undefined && n.dflt) out = evalChain(n.dflt, c, msg);
  return out;
}

function bindArgs(
  params: CTerm[],
  args: Value[],
  _i: number,
  f: Frame,
  c: Ctx,
  r: CRule,
  msg: string,
): Value | undefined {
  for (const cl of r.clauses) {
    let out: Value | undefined;
    const run = (i: number): boolean => {
      if (i === params.length)
        return cl.body(f, c, () =>
          cl.value.ev(f, c, (v) => {
            if (out !== undefined && !equal(out, v)) throw conflict(msg, r.loc);
            out = v;
            return false;
          }),
        );
      return unifyTV(params[i], args[i], f, c, () => run(i + 1));
    };
    run(0);
    if (out !== undefined) return out;
  }
  return undefined;
}

/** Wraps a builtin call: builtin errors are undefined unless strict. */
export function builtinFailed(e: unknown, c: Ctx, name: string, loc: Loc): boolean {
  if (e instanceof BuiltinError) {
    if (c.strict)
      throw new RegoError(
        e.code,
        e.message.startsWith(name) ? e.message : `${name}: ${e.message}`,
        loc.file,
        loc.line,
        loc.col,
      );
    return false;
  }
  throw e;
}
