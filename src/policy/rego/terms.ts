// Compiled term constructors: scalars, vars, refs into input and values, composites, constants.
import type { Term } from './ast.js';
import type { Loc } from './errors.js';
import { walk, type CTerm, type Ctx, type Frame } from './runtime.js';
import { RSet, equal, isObj, objGet, objPut, type Obj, type Value } from './value.js';

export function firstVal(t: CTerm, f: Frame, c: Ctx): Value | undefined {
  let out: Value | undefined;
  t.ev(f, c, (v) => ((out = v), true));
  return out;
}

export function patch(base: Value | undefined, path: string[], v: Value): Value {
  if (path.length === 0) return v;
  let o: Obj = {};
  if (base !== undefined && isObj(base))
    for (const k of Object.keys(base)) o = objPut(o, k, objGet(base, k) as Value);
  if (
    base !== undefined &&
    isObj(base) &&
    !(Object.getPrototypeOf(base) === Object.prototype || Object.getPrototypeOf(base) === null)
  ) {
    // RObj: copy via its entries
    o = {};
    for (const [kk, vv] of (base as unknown as { m: Map<string, [Value, Value]> }).m.values())
      o = objPut(o, kk, vv);
  }
  const cur = objGet(o, path[0]);
  return objPut(o, path[0], patch(cur, path.slice(1), v));
}

/** The value of a term made only of literals (no vars, refs or calls), else undefined. */
export function constValue(t: Term | undefined): Value | undefined {
  if (t === undefined) return true;
  switch (t.t) {
    case 'scalar':
      return t.v;
    case 'array': {
      const out: Value[] = [];
      for (const x of t.items) {
        const v = constValue(x);
        if (v === undefined) return undefined;
        out.push(v);
      }
      return out;
    }
    case 'set': {
      const out = new RSet();
      for (const x of t.items) {
        const v = constValue(x);
        if (v === undefined) return undefined;
        out.add(v);
      }
      return out;
    }
    case 'object': {
      let o: Obj = {};
      for (const [k, x] of t.items) {
        const kv = constValue(k);
        const v = constValue(x);
        if (kv === undefined || v === undefined) return undefined;
        if (objGet(o, kv) !== undefined && !equal(objGet(o, kv) as Value, v)) return undefined;
        o = objPut(o, kv, v);
      }
      return o;
    }
    default:
      return undefined;
  }
}

export function scalarTerm(v: Value, loc: Loc): CTerm {
  return { kind: 'scalar', value: v, pvars: [], loc, get: () => v, ev: (_f, _c, k) => k(v) };
}

export function varTerm(slot: number, loc: Loc): CTerm {
  return {
    kind: 'var',
    slot,
    pvars: [slot],
    loc,
    get: (f) => f[slot],
    ev: (f, _c, k) => {
      const v = f[slot];
      return v !== undefined && k(v);
    },
  };
}

export function inputTerm(path: CTerm[], loc: Loc): CTerm {
  const ct: CTerm = {
    kind: 'other',
    pvars: [],
    loc,
    ev: (f, c, k) => c.input !== undefined && walk(c.input, path, 0, f, c, k),
  };
  if (path.every((p) => p.kind === 'scalar')) {
    const keys = path.map((p) => p.value as Value);
    const n = keys.length;
    ct.get = (_f, c) => {
      let v = c.input;
      for (let i = 0; i < n && v !== undefined; i++) v = childOfFast(v, keys[i]);
      return v;
    };
  }
  return ct;
}

export function childOfFast(v: Value, key: Value): Value | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  if (typeof key === 'string' && !Array.isArray(v) && !(v instanceof RSet))
    return objGet(v as Obj, key);
  if (Array.isArray(v))
    return typeof key === 'number' && Number.isInteger(key) && key >= 0 ? v[key] : undefined;
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return objGet(v as Obj, key);
}

export function walkTerm(head: CTerm, path: CTerm[], loc: Loc): CTerm {
  if (path.length === 0) return head;
  const ct: CTerm = {
    kind: 'other',
    pvars: [],
    loc,
    ev: (f, c, k) => head.ev(f, c, (hv) => walk(hv, path, 0, f, c, k)),
  };
  if (head.get && path.every((p) => p.kind === 'scalar')) {
    const hg = head.get;
    const keys = path.map((p) => p.value as Value);
    ct.get = (f, c) => {
      let v = hg(f, c);
      for (let i = 0; i < keys.length && v !== undefined; i++) v = childOfFast(v, keys[i]);
      return v;
    };
  }
  return ct;
}

export function compositeTerm(
  kind: CTerm['kind'],
  items: CTerm[],
  loc: Loc,
  build: (vs: Value[]) => Value,
): CTerm {
  const ct: CTerm = {
    kind,
    items,
    pvars: items.flatMap((i) => i.pvars),
    loc,
    ev: (f, c, k) => {
      const vs: Value[] = new Array(items.length);
      const step = (i: number): boolean => {
        if (i === items.length) return k(build(vs.slice()));
        return items[i].ev(f, c, (v) => {
          vs[i] = v;
          return step(i + 1);
        });
      };
      return step(0);
    },
  };
  if (items.every((i) => i.get)) {
    const gs = items.map((i) => i.get as (f: Frame, c: Ctx) => Value | undefined);
    const get = (f: Frame, c: Ctx) => {
      const vs: Value[] = new Array(gs.length);
      for (let i = 0; i < gs.length; i++) {
        const v = gs[i](f, c);
        if (v === undefined) return undefined;
        vs[i] = v;
      }
      return build(vs);
    };
    ct.get = get;
    ct.ev = (f, c, k) => {
      const v = get(f, c);
      return v !== undefined && k(v);
    };
  }
  return ct;
}
