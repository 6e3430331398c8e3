// Rego values: plain JS scalars/arrays/objects plus RSet and RObj (non-string keys); ordering, equality, keys.
//
// Representation (chosen for a zero-copy hot path on JSON input):
//   null, boolean, string          -> themselves
//   number                         -> JS number, or bigint for integers beyond 2^53 (always normalised:
//                                     a bigint is never in the safe-integer range)
//   array                          -> JS Array
//   object with only string keys   -> plain JS object (JSON input is used as-is, never copied)
//   object with any non-string key -> RObj (Map from canonical key to [key, value])
//   set                            -> RSet (Map from canonical key to element, sorted view cached)

export type Value =
  null | boolean | number | bigint | string | Value[] | RSet | RObj | { [k: string]: Value };

export type Obj = RObj | { [k: string]: Value };

/** Canonical key of a value: the string itself for strings, an encoded form otherwise. */
export function keyOf(v: Value): string {
  if (typeof v === 'string') return v.charCodeAt(0) === 1 ? '\u0001"' + v : v;
  return '\u0001' + enc(v);
}

function enc(v: Value): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return 'n' + numKey(v);
    case 'bigint':
      return 'n' + v.toString();
    case 'boolean':
      return v ? 't' : 'f';
  }
  if (v === null) return 'z';
  if (Array.isArray(v)) return '[' + v.map(enc).join(',') + ']';
  if (v instanceof RSet) return '<' + v.sorted().map(enc).join(',') + '>';
  const ks = objKeys(v);
  let s = '{';
  for (const k of ks) s += enc(k) + ':' + enc(objGet(v, k) as Value) + ',';
  return s + '}';
}

function numKey(n: number): string {
  return Object.is(n, -0) ? '0' : String(n);
}

export class RSet {
  readonly m = new Map<string, Value>();
  private cache: Value[] | undefined;
  constructor(items?: Iterable<Value>) {
    if (items) for (const v of items) this.add(v);
  }
  add(v: Value): void {
    const k = keyOf(v);
    if (!this.m.has(k)) {
      this.m.set(k, v);
      this.cache = undefined;
    }
  }
  has(v: Value): boolean {
    return this.m.has(keyOf(v));
  }
  get size(): number {
    return this.m.size;
  }
  /** Elements in Rego order (cached until the next add). */
  sorted(): Value[] {
    if (!this.cache) this.cache = [...this.m.values()].sort(compare);
    return this.cache;
  }
}

export class RObj {
  readonly m = new Map<string, [Value, Value]>();
  private cache: Value[] | undefined;
  set(k: Value, v: Value): void {
    const ck = keyOf(k);
    if (!this.m.has(ck)) this.cache = undefined;
    this.m.set(ck, [k, v]);
  }
  get(k: Value): Value | undefined {
    const e = this.m.get(keyOf(k));
    return e ? e[1] : undefined;
  }
  get size(): number {
    return this.m.size;
  }
  keys(): Value[] {
    if (!this.cache) this.cache = [...this.m.values()].map((e) => e[0]).sort(compare);
    return this.cache;
  }
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RSet);
}
export function isPlainObj(v: unknown): v is { [k: string]: Value } {
  return isObj(v) && !(v instanceof RObj);
}
export function isNum(v: unknown): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

export function objGet(o: Obj, k: Value): Value | undefined {
  if (o instanceof RObj) return o.get(k);
  if (typeof k !== 'string') return undefined;
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

export function objSize(o: Obj): number {
  if (o instanceof RObj) return o.size;
  let n = 0;
  for (const k in o) if (o[k] !== undefined) n++;
  return n;
}

/** Keys in Rego order. */
export function objKeys(o: Obj): Value[] {
  if (o instanceof RObj) return o.keys();
  const ks: string[] = [];
  for (const k in o) if (o[k] !== undefined) ks.push(k);
  return ks.sort(cmpStr);
}

/** Adds a key to an object under construction; returns the (possibly upgraded) object. */
export function objPut(o: Obj, k: Value, v: Value): Obj {
  if (o instanceof RObj) {
    o.set(k, v);
    return o;
  }
  if (typeof k === 'string') {
    if (k === '__proto__')
      Object.defineProperty(o, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else o[k] = v;
    return o;
  }
  const r = new RObj();
  for (const kk of Object.keys(o)) if (o[kk] !== undefined) r.set(kk, o[kk]);
  r.set(k, v);
  return r;
}

/**
 * Strings in code-point order, as OPA (Go) orders them. JS's < compares UTF-16 units,
 * which differs where a surrogate (a code point past U+FFFF) meets a unit from U+E000 up.
 */
export function cmpStr(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length < b.length ? -1 : 1;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  const sx = x >= 0xd800 && x <= 0xdfff;
  const sy = y >= 0xd800 && y <= 0xdfff;
  if (sx !== sy) return sx ? 1 : -1;
  return x < y ? -1 : 1;
}

function rank(v: Value): number {
  switch (typeof v) {
    case 'boolean':
      return 1;
    case 'number':
    case 'bigint':
      return 2;
    case 'string':
      return 3;
  }
  if (v === null) return 0;
  if (Array.isArray(v)) return 4;
  if (v instanceof RSet) return 6;
  return 5;
}

export function cmpNum(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  // mixed bigint/number: JS relational operators compare mathematically
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Total order used by OPA: null < boolean < number < string < array < object < set. */
export function compare(a: Value, b: Value): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a ? 1 : -1;
    case 2:
      return cmpNum(a as number, b as number);
    case 3:
      return cmpStr(a as string, b as string);
    case 4: {
      const x = a as Value[];
      const y = b as Value[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 5: {
      const x = a as Obj;
      const y = b as Obj;
      const xk = objKeys(x);
      const yk = objKeys(y);
      const n = Math.min(xk.length, yk.length);
      for (let i = 0; i < n; i++) {
        let c = compare(xk[i], yk[i]);
        if (c !== 0) return c;
        c = compare(objGet(x, xk[i]) as Value, objGet(y, yk[i]) as Value);
        if (c !== 0) return c;
      }
      return xk.length - yk.length;
    }
    default: {
      const x = (a as RSet).sorted();
      const y = (b as RSet).sorted();
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
  }
}

/** Rego equality (1 == 1.0; structural for composites). */
export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeof a;
  if (ta !== 'object' || typeof b !== 'object' || a === null || b === null) {
    if ((ta === 'number' || ta === 'bigint') && isNum(b)) return a == b;
    return false;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof RSet) {
    if (!(b instanceof RSet) || a.size !== b.size) return false;
    for (const k of a.m.keys()) if (!b.m.has(k)) return false;
    return true;
  }
  if (Array.isArray(b) || b instanceof RSet) return false;
  const x = a as Obj;
  const y = b as Obj;
  if (objSize(x) !== objSize(y)) return false;
  if (x instanceof RObj) {
    for (const [k, v] of x.m.values()) {
      const w = objGet(y, k);
      if (w === undefined || !equal(v, w)) return false;
    }
    return true;
  }
  for (const k in x) {
    const v = x[k];
    if (v === undefined) continue;
    const w = objGet(y, k);
    if (w === undefined || !equal(v, w)) return false;
  }
  return true;
}

export function typeName(v: Value): string {
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'number':
    case 'bigint':
      return 'number';
    case 'string':
      return 'string';
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof RSet) return 'set';
  return 'object';
}

/** Normalises a bigint: safe integers become numbers. */
export function normBig(b: bigint): number | bigint {
  return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
}

/** Converts a JSON-ish JS value (may contain bigint) into a Value (copy only where needed). */
export function fromJS(v: unknown): Value {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return normBig(v);
  if (v === null || typeof v !== 'object') return v as Value;
  if (Array.isArray(v)) return v.map(fromJS);
  if (v instanceof RSet || v instanceof RObj) return v;
  if (v instanceof Map) {
    let o: Obj = {};
    for (const [k, x] of v) o = objPut(o, fromJS(k), fromJS(x));
    return o;
  }
  const o: { [k: string]: Value } = {};
  for (const k of Object.keys(v)) o[k] = fromJS((v as Record<string, unknown>)[k]);
  return o;
}

/** Formats a number the way Go's JSON encoder does for OPA (integers without exponent). */
export function numStr(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString();
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return Object.is(n, -0) ? '0' : String(n);
  return String(n);
}

/** OPA JSON form: sets -> sorted arrays, non-string object keys -> their JSON text. */
export function toJSONish(v: Value, keepBig = false): unknown {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'bigint' && !keepBig) return Number(v);
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => toJSONish(x, keepBig));
  if (v instanceof RSet) return v.sorted().map((x) => toJSONish(x, keepBig));
  const out: Record<string, unknown> = {};
  if (!(v instanceof RObj)) {
    // string keys: JSON key order is irrelevant, skip sorting
    for (const k in v) if (v[k] !== undefined) out[k] = toJSONish(v[k], keepBig);
    return out;
  }
  for (const k of objKeys(v)) {
    const ks = typeof k === 'string' ? k : marshal(k);
    out[ks] = toJSONish(objGet(v, k) as Value, keepBig);
  }
  return out;
}

/** JSON text of a value (json.marshal semantics: compact, sorted keys). */
export function marshal(v: Value): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
    case 'bigint':
      return numStr(v);
    case 'boolean':
      return v ? 'true' : 'false';
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[' + v.map(marshal).join(',') + ']';
  if (v instanceof RSet) return '[' + v.sorted().map(marshal).join(',') + ']';
  const parts: string[] = [];
  for (const k of objKeys(v)) {
    const ks = typeof k === 'string' ? k : marshal(k);
    parts.push(JSON.stringify(ks) + ':' + marshal(objGet(v, k) as Value));
  }
  return '{' + parts.join(',') + '}';
}

/** Rego source-like text of a value (used by sprintf %v and error messages). */
export function show(v: Value): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
    case 'bigint':
      return numStr(v);
    case 'boolean':
      return v ? 'true' : 'false';
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[' + v.map(show).join(', ') + ']';
  if (v instanceof RSet)
    return v.size === 0 ? 'set()' : '{' + v.sorted().map(show).join(', ') + '}';
  return (
    '{' +
    objKeys(v)
      .map((k) => show(k) + ': ' + show(objGet(v, k) as Value))
      .join(', ') +
    '}'
  );
}
