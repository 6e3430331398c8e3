// Deprecated builtins kept for Rego v0 modules only: re_match, cast_*, set_diff, any, all.
import { typeErr } from '../errors.js';
import { RSet, isObj, typeName, type Value } from '../value.js';
import { BUILTINS, BUILTINS_V0, type BuiltinFn } from './registry.js';

function v0(name: string, arity: number, fn: BuiltinFn): void {
  BUILTINS_V0.set(name, { arity, fn });
}

const alias = (name: string, to: string) => {
  const b = BUILTINS.get(to);
  if (b) BUILTINS_V0.set(name, b);
};
alias('re_match', 'regex.match');
alias('net.cidr_overlap', 'net.cidr_contains');

v0('cast_array', 1, (a) => {
  const v = a[0];
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return v.sorted();
  throw typeErr('cast_array', 1, 'any<array[any], set[any]>', typeName(v));
});
v0('cast_set', 1, (a) => {
  const v = a[0];
  if (v instanceof RSet) return v;
  if (Array.isArray(v)) return new RSet(v);
  throw typeErr('cast_set', 1, 'any<array[any], set[any]>', typeName(v));
});
const castTo = (name: string, want: string, ok: (v: Value) => boolean) =>
  v0(name, 1, (a) => {
    if (!ok(a[0])) throw typeErr(name, 1, want, typeName(a[0]));
    return a[0];
  });
castTo('cast_string', 'string', (v) => typeof v === 'string');
castTo('cast_boolean', 'boolean', (v) => typeof v === 'boolean');
castTo('cast_null', 'null', (v) => v === null);
castTo('cast_object', 'object[any: any]', (v) => isObj(v));
v0('set_diff', 2, (a) => {
  const [x, y] = a;
  if (!(x instanceof RSet)) throw typeErr('set_diff', 1, 'set[any]', typeName(x));
  if (!(y instanceof RSet)) throw typeErr('set_diff', 2, 'set[any]', typeName(y));
  return new RSet([...x.m].filter(([k]) => !y.m.has(k)).map(([, v]) => v));
});
const elems = (name: string, v: Value): Value[] => {
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return v.sorted();
  throw typeErr(name, 1, 'any<array[any], set[any]>', typeName(v));
};
v0('any', 1, (a) => elems('any', a[0]).some((x) => x === true));
v0('all', 1, (a) => elems('all', a[0]).every((x) => x === true));
