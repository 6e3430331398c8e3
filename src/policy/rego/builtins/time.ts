// time.* builtins: now_ns comes from the evaluation context so it can be fixed per decision.
import { BuiltinError } from '../errors.js';
import { normBig, type Value } from '../value.js';
import { def, num, str } from './registry.js';

def('time.now_ns', 0, (_a, c) => normBig(c.now()));

function parseRFC3339(s: string): bigint {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/.exec(
      s,
    );
  if (!m)
    throw new BuiltinError(
      'eval_builtin_error',
      `time.parse_rfc3339_ns: parsing time ${JSON.stringify(s)} as "2006-01-02T15:04:05Z07:00": cannot parse`,
    );
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  let ns = BigInt(ms) * 1000000n + BigInt((m[7] ?? '').padEnd(9, '0') || '0');
  if (m[8] !== 'Z' && m[8] !== 'z') {
    const sign = m[8][0] === '-' ? -1n : 1n;
    const off = BigInt(+m[8].slice(1, 3) * 60 + +m[8].slice(4, 6)) * 60n * 1000000000n;
    ns -= sign * off;
  }
  return ns;
}
def('time.parse_rfc3339_ns', 1, (a) => normBig(parseRFC3339(str('time.parse_rfc3339_ns', a, 0))));

function nsOf(name: string, a: Value[]): bigint {
  const v = a[0];
  if (Array.isArray(v)) return BigInt(num(name, v, 0));
  return BigInt(num(name, a, 0));
}
function dateOf(ns: bigint): Date {
  return new Date(Number(ns / 1000000n));
}

const zones = new Map<string, Intl.DateTimeFormat>();
/**
 * The calendar fields of `[ns, "zone"]` (or a number, in UTC) as OPA gives them: the
 * zone is an IANA name, "" or "UTC" is UTC, and "Local" the machine's zone; an unknown
 * zone is a builtin error (undefined), as in OPA.
 */
function fieldsOf(
  name: string,
  a: Value[],
): {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
} {
  const v = a[0];
  const d = dateOf(nsOf(name, a));
  const z = Array.isArray(v) ? v[1] : undefined;
  if (Array.isArray(v) && typeof z !== 'string')
    throw new BuiltinError(
      'eval_type_error',
      `${name}: operand 1 must be a number or [number, string]`,
    );
  const zone = typeof z === 'string' ? z : '';
  if (zone === '' || zone === 'UTC')
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      weekday: d.getUTCDay(),
    };
  let fmt = zones.get(zone);
  if (!fmt) {
    try {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: zone === 'Local' ? undefined : zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'short',
      });
    } catch {
      throw new BuiltinError('eval_builtin_error', `${name}: unknown time zone ${zone}`);
    }
    if (zones.size > 100) zones.clear();
    zones.set(zone, fmt);
  }
  const part: Record<string, string> = {};
  for (const p of fmt.formatToParts(d)) part[p.type] = p.value;
  return {
    year: Number(part.year),
    month: Number(part.month),
    day: Number(part.day),
    hour: Number(part.hour),
    minute: Number(part.minute),
    second: Number(part.second),
    weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(part.weekday),
  };
}
def('time.date', 1, (a) => {
  const f = fieldsOf('time.date', a);
  return [f.year, f.month, f.day];
});
def('time.clock', 1, (a) => {
  const f = fieldsOf('time.clock', a);
  return [f.hour, f.minute, f.second];
});
def(
  'time.weekday',
  1,
  (a) =>
    ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][
      fieldsOf('time.weekday', a).weekday
    ],
);
def('time.add_date', 4, (a) => {
  const ns = BigInt(num('time.add_date', a, 0));
  const d = dateOf(ns);
  d.setUTCFullYear(
    d.getUTCFullYear() + Number(a[1]),
    d.getUTCMonth() + Number(a[2]),
    d.getUTCDate() + Number(a[3]),
  );
  return normBig(BigInt(d.getTime()) * 1000000n + (ns % 1000000n));
});
const DUR: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
def('time.parse_duration_ns', 1, (a) => {
  const s = str('time.parse_duration_ns', a, 0);
  const re = /([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)/g;
  const body = s.replace(/^[+-]/, '');
  if (body === '0') return 0;
  let total = 0;
  let consumed = '';
  for (const m of body.matchAll(re)) {
    total += Number(m[1]) * DUR[m[2]];
    consumed += m[0];
  }
  if (consumed !== body || body === '')
    throw new BuiltinError(
      'eval_builtin_error',
      `time.parse_duration_ns: time: invalid duration ${JSON.stringify(s)}`,
    );
  return s.startsWith('-') ? -Math.round(total) : Math.round(total);
});
