// Builtin function registry: name -> arity and implementation; helpers for operand checks.
import { typeErr } from '../errors.js';
import type { Ctx } from '../runtime.js';
import { RSet, isObj, typeName, type Obj, type Value } from '../value.js';

export type BuiltinFn = (a: Value[], c: Ctx) => Value | undefined;

export interface Builtin {
  arity: number;
  fn: BuiltinFn;
}

export const BUILTINS = new Map<string, Builtin>();

/** Deprecated builtins only available to Rego v0 modules (re_match, cast_*, ...). */
export const BUILTINS_V0 = new Map<string, Builtin>();

export function def(name: string, arity: number, fn: BuiltinFn): void {
  BUILTINS.set(name, { arity, fn });
}

export function str(fn: string, a: Value[], i: number): string {
  const v = a[i];
  if (typeof v !== 'string') throw typeErr(fn, i + 1, 'string', typeName(v));
  return v;
}
export function num(fn: string, a: Value[], i: number): number | bigint {
  const v = a[i];
  if (typeof v !== 'number' && typeof v !== 'bigint')
    throw typeErr(fn, i + 1, 'number', typeName(v));
  return v;
}
export function int(fn: string, a: Value[], i: number): number {
  const v = num(fn, a, i);
  const n = Number(v);
  if (!Number.isInteger(n)) throw typeErr(fn, i + 1, 'integer', 'number');
  return n;
}
export function arr(fn: string, a: Value[], i: number): Value[] {
  const v = a[i];
  if (!Array.isArray(v)) throw typeErr(fn, i + 1, 'array', typeName(v));
  return v;
}
export function set(fn: string, a: Value[], i: number): RSet {
  const v = a[i];
  if (!(v instanceof RSet)) throw typeErr(fn, i + 1, 'set', typeName(v));
  return v;
}
export function obj(fn: string, a: Value[], i: number): Obj {
  const v = a[i];
  if (!isObj(v)) throw typeErr(fn, i + 1, 'object', typeName(v));
  return v;
}
/** Array or set elements (in Rego order for sets). */
export function coll(
  fn: string,
  a: Value[],
  i: number,
  what = 'any<array[any], set[any]>',
): Value[] {
  const v = a[i];
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return v.sorted();
  throw typeErr(fn, i + 1, what, typeName(v));
}
