// Aggregates, arrays, sets, objects and membership builtins.
import { BuiltinError, typeErr } from '../errors.js';
import { childOf } from '../runtime.js';
import {
  RObj,
  RSet,
  compare,
  equal,
  isObj,
  objGet,
  objKeys,
  objPut,
  objSize,
  typeName,
  type Obj,
  type Value,
} from '../value.js';
import { add, mul } from './numbers.js';
import { arr, coll, def, int, obj, set } from './registry.js';

def('count', 1, (a) => {
  const v = a[0];
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (v instanceof RSet) return v.size;
  if (isObj(v)) return objSize(v);
  throw typeErr('count', 1, 'any<array[any], object[any: any], set[any], string>', typeName(v));
});

function nums(name: string, a: Value[]): (number | bigint)[] {
  const xs = coll(name, a, 0, 'any<array[number], set[number]>');
  for (const x of xs)
    if (typeof x !== 'number' && typeof x !== 'bigint')
      throw typeErr(name, 1, 'any<array[number], set[number]>', typeName(a[0]));
  return xs as (number | bigint)[];
}
def('sum', 1, (a) => nums('sum', a).reduce<number | bigint>((s, x) => add(s, x), 0));
def('product', 1, (a) => nums('product', a).reduce<number | bigint>((s, x) => mul(s, x), 1));
def('max', 1, (a) => {
  const xs = coll('max', a, 0);
  if (xs.length === 0) return undefined;
  return xs.reduce((m, x) => (compare(x, m) > 0 ? x : m));
});
def('min', 1, (a) => {
  const xs = coll('min', a, 0);
  if (xs.length === 0) return undefined;
  return xs.reduce((m, x) => (compare(x, m) < 0 ? x : m));
});
def('sort', 1, (a) => [...coll('sort', a, 0)].sort(compare));

def('array.concat', 2, (a) => [...arr('array.concat', a, 0), ...arr('array.concat', a, 1)]);
def('array.slice', 3, (a) => {
  const xs = arr('array.slice', a, 0);
  let s = int('array.slice', a, 1);
  let e = int('array.slice', a, 2);
  if (s < 0) s = 0;
  if (e > xs.length) e = xs.length;
  if (s >= e) return [];
  return xs.slice(s, e);
});
def('array.reverse', 1, (a) => [...arr('array.reverse', a, 0)].reverse());

def('intersection', 1, (a) => {
  const ss = set('intersection', a, 0);
  const list = ss.sorted();
  for (const s of list)
    if (!(s instanceof RSet)) throw typeErr('intersection', 1, 'set[set[any]]', 'set');
  if (list.length === 0) return new RSet();
  const out = new RSet();
  const first = list[0] as RSet;
  for (const [k, v] of first.m) if (list.every((s) => (s as RSet).m.has(k))) out.add(v);
  return out;
});
def('union', 1, (a) => {
  const ss = set('union', a, 0);
  const out = new RSet();
  for (const s of ss.sorted()) {
    if (!(s instanceof RSet)) throw typeErr('union', 1, 'set[set[any]]', 'set');
    for (const v of s.m.values()) out.add(v);
  }
  return out;
});

def('internal.member_2', 2, (a) => {
  const [x, c] = a;
  if (Array.isArray(c)) return c.some((e) => equal(e, x));
  if (c instanceof RSet) return c.has(x);
  if (isObj(c)) return objKeys(c).some((k) => equal(objGet(c, k) as Value, x));
  return false;
});
def('internal.member_3', 3, (a) => {
  const [k, v, c] = a;
  if (typeof c !== 'object' || c === null) return false;
  if (c instanceof RSet) return false;
  const x = childOf(c, k);
  return x !== undefined && equal(x, v);
});

def('object.get', 3, (a) => {
  const o = obj('object.get', a, 0);
  const key = a[1];
  if (Array.isArray(key)) {
    let cur: Value = o;
    for (const k of key) {
      const x: Value | undefined =
        typeof cur === 'object' && cur !== null ? childOf(cur, k) : undefined;
      if (x === undefined) return a[2];
      cur = x;
    }
    return cur;
  }
  const x = objGet(o, key);
  return x === undefined ? a[2] : x;
});
def('object.keys', 1, (a) => new RSet(objKeys(obj('object.keys', a, 0))));
def('object.remove', 2, (a) => {
  const o = obj('object.remove', a, 0);
  const ks = a[1];
  let rm: RSet;
  if (ks instanceof RSet) rm = ks;
  else if (Array.isArray(ks)) rm = new RSet(ks);
  else if (isObj(ks)) rm = new RSet(objKeys(ks));
  else
    throw typeErr('object.remove', 2, 'any<array[any], object[any: any], set[any]>', typeName(ks));
  let out: Obj = {};
  for (const k of objKeys(o)) if (!rm.has(k)) out = objPut(out, k, objGet(o, k) as Value);
  return out;
});
def('object.filter', 2, (a) => {
  const o = obj('object.filter', a, 0);
  const ks = a[1];
  let keep: RSet;
  if (ks instanceof RSet) keep = ks;
  else if (Array.isArray(ks)) keep = new RSet(ks);
  else if (isObj(ks)) keep = new RSet(objKeys(ks));
  else
    throw typeErr('object.filter', 2, 'any<array[any], object[any: any], set[any]>', typeName(ks));
  let out: Obj = {};
  for (const k of objKeys(o)) if (keep.has(k)) out = objPut(out, k, objGet(o, k) as Value);
  return out;
});

export function unionObj(x: Obj, y: Obj): Obj {
  let out: Obj = {};
  for (const k of objKeys(x)) out = objPut(out, k, objGet(x, k) as Value);
  for (const k of objKeys(y)) {
    const yv = objGet(y, k) as Value;
    const xv = objGet(out, k);
    out = objPut(out, k, xv !== undefined && isObj(xv) && isObj(yv) ? unionObj(xv, yv) : yv);
  }
  return out;
}
def('object.union', 2, (a) => unionObj(obj('object.union', a, 0), obj('object.union', a, 1)));
def('object.union_n', 1, (a) => {
  const xs = arr('object.union_n', a, 0);
  let out: Obj = {};
  for (const x of xs) {
    if (!isObj(x)) throw typeErr('object.union_n', 1, 'array[object[any: any]]', 'array');
    out = unionObj(out, x);
  }
  return out;
});
def('object.subset', 2, (a) => subset(a[0], a[1]));
function subset(sup: Value, sub: Value): boolean {
  if (isObj(sup) && isObj(sub)) {
    for (const k of objKeys(sub)) {
      const x = objGet(sup, k);
      if (x === undefined) return false;
      const y = objGet(sub, k) as Value;
      if (isObj(x) && isObj(y) ? !subset(x, y) : !equal(x, y)) return false;
    }
    return true;
  }
  if (sup instanceof RSet && sub instanceof RSet)
    return [...sub.m.keys()].every((k) => sup.m.has(k));
  if (Array.isArray(sup) && Array.isArray(sub)) {
    if (sub.length === 0) return true;
    for (let i = 0; i + sub.length <= sup.length; i++)
      if (sub.every((v, j) => equal(v, sup[i + j]))) return true;
    return false;
  }
  if (Array.isArray(sup) && sub instanceof RSet)
    return sub.sorted().every((v) => sup.some((x) => equal(x, v)));
  throw new BuiltinError(
    'eval_type_error',
    'object.subset: both arguments must be objects, sets, or arrays',
  );
}

def('walk', 1, () => {
  throw new BuiltinError('eval_builtin_error', 'walk: must be called as walk(x, [path, value])');
});

export { RObj };
