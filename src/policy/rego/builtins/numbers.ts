// Arithmetic, comparison and number builtins (big integers stay exact via bigint).
import { BuiltinError, typeErr } from '../errors.js';
import { RSet, compare, equal, normBig, typeName, type Value } from '../value.js';
import { def, int, num, set, str } from './registry.js';

type N = number | bigint;

function isInt(n: N): boolean {
  return typeof n === 'bigint' || Number.isInteger(n);
}

function big(n: N): bigint {
  return typeof n === 'bigint' ? n : BigInt(n);
}

function arith(a: N, b: N, op: 'plus' | 'minus' | 'mul'): N {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = op === 'plus' ? a + b : op === 'minus' ? a - b : a * b;
    if (Number.isSafeInteger(r) || !Number.isInteger(a) || !Number.isInteger(b)) return r;
  }
  if (isInt(a) && isInt(b)) {
    const x = big(a);
    const y = big(b);
    return normBig(op === 'plus' ? x + y : op === 'minus' ? x - y : x * y);
  }
  const x = Number(a);
  const y = Number(b);
  return op === 'plus' ? x + y : op === 'minus' ? x - y : x * y;
}

export function add(a: N, b: N): N {
  return arith(a, b, 'plus');
}

export function mul(a: N, b: N): N {
  return arith(a, b, 'mul');
}

def('plus', 2, (a) => arith(num('plus', a, 0), num('plus', a, 1), 'plus'));
def('mul', 2, (a) => arith(num('mul', a, 0), num('mul', a, 1), 'mul'));
def('minus', 2, (a) => {
  if (a[0] instanceof RSet && a[1] instanceof RSet) {
    const out = new RSet();
    for (const [k, v] of a[0].m) if (!a[1].m.has(k)) out.add(v);
    return out;
  }
  if (typeof a[0] === 'number' || typeof a[0] === 'bigint')
    return arith(a[0], num('minus', a, 1), 'minus');
  if (a[0] instanceof RSet) throw typeErr('minus', 2, 'set', typeName(a[1]));
  throw typeErr('minus', 1, 'any<number, set[any]>', typeName(a[0]));
});
def('div', 2, (a) => {
  const x = num('div', a, 0);
  const y = num('div', a, 1);
  if (y == 0) throw new BuiltinError('eval_builtin_error', 'div: divide by zero');
  if (typeof x === 'bigint' || typeof y === 'bigint') {
    const bx = big(x);
    const by = big(y);
    if (isInt(x) && isInt(y) && bx % by === 0n) return normBig(bx / by);
  }
  return Number(x) / Number(y);
});
def('rem', 2, (a) => {
  const x = num('rem', a, 0);
  const y = num('rem', a, 1);
  if (!isInt(x) || !isInt(y))
    throw new BuiltinError('eval_builtin_error', 'rem: modulo on floating-point number');
  if (y == 0) throw new BuiltinError('eval_builtin_error', 'rem: modulo by zero');
  if (typeof x === 'number' && typeof y === 'number') return x % y === 0 ? 0 : x % y;
  return normBig(big(x) % big(y));
});
def('or', 2, (a) => {
  const x = set('or', a, 0);
  const y = set('or', a, 1);
  const out = new RSet();
  for (const v of x.m.values()) out.add(v);
  for (const v of y.m.values()) out.add(v);
  return out;
});
def('and', 2, (a) => {
  const x = set('and', a, 0);
  const y = set('and', a, 1);
  const out = new RSet();
  for (const [k, v] of x.m) if (y.m.has(k)) out.add(v);
  return out;
});

def('equal', 2, (a) => equal(a[0], a[1]));
def('neq', 2, (a) => !equal(a[0], a[1]));
def('lt', 2, (a) => compare(a[0], a[1]) < 0);
def('lte', 2, (a) => compare(a[0], a[1]) <= 0);
def('gt', 2, (a) => compare(a[0], a[1]) > 0);
def('gte', 2, (a) => compare(a[0], a[1]) >= 0);

def('abs', 1, (a) => {
  const x = num('abs', a, 0);
  return typeof x === 'bigint' ? (x < 0n ? -x : x) : Math.abs(x);
});
const rnd = (name: string, f: (x: number) => number) =>
  def(name, 1, (a) => {
    const x = num(name, a, 0);
    return typeof x === 'bigint' ? x : f(x);
  });
rnd('round', (x) => (x < 0 ? -Math.round(-x) : Math.round(x)));
rnd('ceil', Math.ceil);
rnd('floor', Math.floor);

def('numbers.range', 2, (a) => {
  const x = int('numbers.range', a, 0);
  const y = int('numbers.range', a, 1);
  const out: Value[] = [];
  if (x <= y) for (let i = x; i <= y; i++) out.push(i);
  else for (let i = x; i >= y; i--) out.push(i);
  return out;
});
def('numbers.range_step', 3, (a) => {
  const x = int('numbers.range_step', a, 0);
  const y = int('numbers.range_step', a, 1);
  const s = int('numbers.range_step', a, 2);
  if (s <= 0)
    throw new BuiltinError(
      'eval_builtin_error',
      'numbers.range_step: step must be a positive number above zero',
    );
  const out: Value[] = [];
  if (x <= y) for (let i = x; i <= y; i += s) out.push(i);
  else for (let i = x; i >= y; i -= s) out.push(i);
  return out;
});

def('to_number', 1, (a) => {
  const v = a[0];
  if (v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (typeof v === 'string') {
    const s = v.trim();
    if (s !== v || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s))
      throw new BuiltinError(
        'eval_builtin_error',
        `strconv.ParseFloat: parsing ${JSON.stringify(v)}: invalid syntax`,
      );
    if (/^[+-]?\d+$/.test(s)) {
      const n = Number(s);
      if (Number.isSafeInteger(n)) return n;
      return normBig(BigInt(s));
    }
    // Out of a float's range Go's ParseFloat fails (ErrRange) and OPA's result is
    // undefined; Infinity would compare below or above any limit a policy checks.
    const n = Number(s);
    if (!Number.isFinite(n))
      throw new BuiltinError(
        'eval_builtin_error',
        `strconv.ParseFloat: parsing ${JSON.stringify(v)}: value out of range`,
      );
    return n;
  }
  throw typeErr('to_number', 1, 'any<boolean, null, number, string>', typeName(v));
});

def('format_int', 2, (a) => {
  const x = num('format_int', a, 0);
  const base = int('format_int', a, 1);
  if (![2, 8, 10, 16].includes(base))
    throw new BuiltinError(
      'eval_type_error',
      'format_int: operand 2 must be one of {2, 8, 10, 16}',
    );
  const i = typeof x === 'bigint' ? x : BigInt(Math.trunc(x));
  return i.toString(base);
});

def('units.parse_bytes', 1, (a) => parseUnits(str('units.parse_bytes', a, 0), true));
def('units.parse', 1, (a) => parseUnits(str('units.parse', a, 0), false));

function parseUnits(s: string, bytes: boolean): Value {
  const name = bytes ? 'units.parse_bytes' : 'units.parse';
  const t = s.replace(/"/g, '').trim();
  const m = /^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)$/.exec(t);
  if (!m)
    throw new BuiltinError('eval_builtin_error', `${name}: could not parse amount to a number`);
  const unit = bytes ? m[2].toLowerCase() : m[2];
  const mult: Record<string, number> = bytes
    ? {
        '': 1,
        b: 1,
        k: 1e3,
        kb: 1e3,
        ki: 1024,
        kib: 1024,
        m: 1e6,
        mb: 1e6,
        mi: 1024 ** 2,
        mib: 1024 ** 2,
        g: 1e9,
        gb: 1e9,
        gi: 1024 ** 3,
        gib: 1024 ** 3,
        t: 1e12,
        tb: 1e12,
        ti: 1024 ** 4,
        tib: 1024 ** 4,
        p: 1e15,
        pb: 1e15,
        pi: 1024 ** 5,
        pib: 1024 ** 5,
        e: 1e18,
        eb: 1e18,
        ei: 1024 ** 6,
        eib: 1024 ** 6,
      }
    : {
        '': 1,
        m: 1e-3,
        k: 1e3,
        K: 1e3,
        Ki: 1024,
        ki: 1024,
        M: 1e6,
        Mi: 1024 ** 2,
        mi: 1024 ** 2,
        G: 1e9,
        g: 1e9,
        Gi: 1024 ** 3,
        gi: 1024 ** 3,
        T: 1e12,
        t: 1e12,
        Ti: 1024 ** 4,
        ti: 1024 ** 4,
        P: 1e15,
        p: 1e15,
        Pi: 1024 ** 5,
        pi: 1024 ** 5,
        E: 1e18,
        e: 1e18,
        Ei: 1024 ** 6,
        ei: 1024 ** 6,
      };
  const f = mult[unit];
  if (f === undefined)
    throw new BuiltinError('eval_builtin_error', `${name}: could not parse units`);
  const n = Number(m[1]) * f;
  return bytes ? Math.round(n) : n;
}
