// String builtins: concat, contains, trim*, split, replace, sprintf, indexof, substring, strings.* ...
import { BuiltinError, typeErr } from '../errors.js';
import { RSet, numStr, show, typeName, type Value } from '../value.js';
import { coll, def, int, str } from './registry.js';

def('concat', 2, (a) => {
  const d = str('concat', a, 0);
  const xs = coll('concat', a, 1, 'any<array[string], set[string]>');
  for (const x of xs)
    if (typeof x !== 'string')
      throw typeErr('concat', 2, 'any<array[string], set[string]>', typeName(a[1]));
  return (xs as string[]).join(d);
});
def('contains', 2, (a) => str('contains', a, 0).includes(str('contains', a, 1)));
def('startswith', 2, (a) => str('startswith', a, 0).startsWith(str('startswith', a, 1)));
def('endswith', 2, (a) => str('endswith', a, 0).endsWith(str('endswith', a, 1)));
/**
 * Case mapping one code point at a time, as Go's strings.ToLower/ToUpper (OPA's) do: the
 * simple mappings, no context (a final Σ is σ) and no expansions (ß stays ß; İ is i).
 */
function mapCase(s: string, up: boolean): string {
  let out = '';
  for (const ch of s) {
    const m = up ? ch.toUpperCase() : ch.toLowerCase();
    out += m.length === ch.length || [...m].length === 1 ? m : !up && ch === '\u0130' ? 'i' : ch;
  }
  return out;
}
def('lower', 1, (a) => mapCase(str('lower', a, 0), false));
def('upper', 1, (a) => mapCase(str('upper', a, 0), true));
def('split', 2, (a) => {
  const s = str('split', a, 0);
  const d = str('split', a, 1);
  return d === '' ? [...s] : s.split(d);
});
def('replace', 3, (a) =>
  str('replace', a, 0)
    .split(str('replace', a, 1))
    .join(str('replace', a, 2)),
);
def('strings.replace_n', 2, (a) => {
  const pats = a[0];
  const s = str('strings.replace_n', a, 1);
  if (typeof pats !== 'object' || pats === null || Array.isArray(pats) || pats instanceof RSet)
    throw typeErr('strings.replace_n', 1, 'object[string: string]', typeName(pats));
  const entries = Object.entries(pats as Record<string, Value>).sort(([x], [y]) =>
    x < y ? -1 : x > y ? 1 : 0,
  );
  for (const [, v] of entries)
    if (typeof v !== 'string')
      throw typeErr('strings.replace_n', 1, 'object[string: string]', 'object');
  // Go strings.NewReplacer: at each position, first matching old string in argument order
  let out = '';
  let i = 0;
  outer: while (i < s.length) {
    for (const [k, v] of entries) {
      if (k !== '' && s.startsWith(k, i)) {
        out += v as string;
        i += k.length;
        continue outer;
      }
    }
    out += s[i++];
  }
  return out;
});

function cut(s: string, set: string, left: boolean, right: boolean): string {
  const chars = new Set([...set]);
  const cs = [...s];
  let b = 0;
  let e = cs.length;
  if (left) while (b < e && chars.has(cs[b])) b++;
  if (right) while (e > b && chars.has(cs[e - 1])) e--;
  return cs.slice(b, e).join('');
}
def('trim', 2, (a) => cut(str('trim', a, 0), str('trim', a, 1), true, true));
def('trim_left', 2, (a) => cut(str('trim_left', a, 0), str('trim_left', a, 1), true, false));
def('trim_right', 2, (a) => cut(str('trim_right', a, 0), str('trim_right', a, 1), false, true));
def('trim_prefix', 2, (a) => {
  const s = str('trim_prefix', a, 0);
  const p = str('trim_prefix', a, 1);
  return s.startsWith(p) ? s.slice(p.length) : s;
});
def('trim_suffix', 2, (a) => {
  const s = str('trim_suffix', a, 0);
  const p = str('trim_suffix', a, 1);
  return p !== '' && s.endsWith(p) ? s.slice(0, s.length - p.length) : s;
});
def('trim_space', 1, (a) => str('trim_space', a, 0).replace(/^[\s\u0085]+|[\s\u0085]+$/gu, ''));

def('indexof', 2, (a) => {
  const s = str('indexof', a, 0);
  const sub = str('indexof', a, 1);
  const i = s.indexOf(sub);
  if (i < 0) return -1;
  return [...s.slice(0, i)].length;
});
def('indexof_n', 2, (a) => {
  const s = str('indexof_n', a, 0);
  const sub = str('indexof_n', a, 1);
  const out: Value[] = [];
  const cps = [...s];
  const subc = [...sub];
  for (let i = 0; i + subc.length <= cps.length; i++) {
    let ok = true;
    for (let j = 0; j < subc.length; j++)
      if (cps[i + j] !== subc[j]) {
        ok = false;
        break;
      }
    if (ok) out.push(i);
  }
  return out;
});
def('substring', 3, (a) => {
  const s = str('substring', a, 0);
  const start = int('substring', a, 1);
  const len = int('substring', a, 2);
  if (start < 0) throw new BuiltinError('eval_builtin_error', 'substring: negative offset');
  const cps = [...s];
  if (start >= cps.length) return '';
  if (len < 0) return cps.slice(start).join('');
  return cps.slice(start, start + len).join('');
});
def('strings.reverse', 1, (a) => [...str('strings.reverse', a, 0)].reverse().join(''));
def('strings.count', 2, (a) => {
  const s = str('strings.count', a, 0);
  const sub = str('strings.count', a, 1);
  if (sub === '') return [...s].length + 1;
  return s.split(sub).length - 1;
});
def('strings.any_prefix_match', 2, (a) =>
  anyMatch('strings.any_prefix_match', a, (s, p) => s.startsWith(p)),
);
def('strings.any_suffix_match', 2, (a) =>
  anyMatch('strings.any_suffix_match', a, (s, p) => s.endsWith(p)),
);
function anyMatch(name: string, a: Value[], f: (s: string, p: string) => boolean): boolean {
  const list = (i: number): string[] => {
    const v = a[i];
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) || v instanceof RSet) {
      const xs = Array.isArray(v) ? v : v.sorted();
      for (const x of xs)
        if (typeof x !== 'string') throw typeErr(name, i + 1, 'string', typeName(x));
      return xs as string[];
    }
    throw typeErr(name, i + 1, 'any<string, array[string], set[string]>', typeName(v));
  };
  const ss = list(0);
  const ps = list(1);
  return ss.some((s) => ps.some((p) => f(s, p)));
}
def('strings.split_n', 3, (a) =>
  strSplitN(
    str('strings.split_n', a, 0),
    str('strings.split_n', a, 1),
    int('strings.split_n', a, 2),
  ),
);
function strSplitN(s: string, d: string, n: number): Value[] {
  if (n === 0) return [];
  const parts = s.split(d);
  if (n < 0 || parts.length <= n) return parts;
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(d)];
}

function goV(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return numStr(v);
  return show(v);
}

def('sprintf', 2, (a) => {
  const fmt = str('sprintf', a, 0);
  const args = a[1];
  if (!Array.isArray(args)) throw typeErr('sprintf', 2, 'array[any]', typeName(args));
  return sprintf(fmt, args);
});

export function sprintf(fmt: string, args: Value[]): string {
  let out = '';
  let ai = 0;
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i];
    if (ch !== '%') {
      out += ch;
      continue;
    }
    const m = /^([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/.exec(fmt.slice(i + 1));
    if (!m) {
      out += '%!(NOVERB)';
      break;
    }
    i += m[0].length;
    const [, flags, width, prec, verb] = m;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (ai >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const v = args[ai++];
    let s: string;
    switch (verb) {
      case 'v':
        s = goV(v);
        break;
      case 's':
        s = typeof v === 'string' ? v : goV(v);
        if (prec !== undefined) s = [...s].slice(0, Number(prec)).join('');
        break;
      case 'q':
        s = typeof v === 'string' ? JSON.stringify(v) : `%!q(${goV(v)})`;
        break;
      case 'd':
        if (typeof v === 'bigint') s = v.toString();
        else if (typeof v === 'number' && Number.isInteger(v)) s = String(v);
        else s = `%!d(${typeof v === 'number' ? 'float64=' + goV(v) : goV(v)})`;
        if (flags.includes('+') && !s.startsWith('-') && !s.startsWith('%')) s = '+' + s;
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'g':
        if (typeof v === 'number' || typeof v === 'bigint') {
          const n = Number(v);
          if (verb === 'e')
            s = n
              .toExponential(prec === undefined ? 6 : Number(prec))
              .replace(/e([+-])(\d)$/, 'e$10$2');
          else if (verb === 'g') s = prec === undefined ? String(n) : n.toPrecision(Number(prec));
          else s = n.toFixed(prec === undefined ? 6 : Number(prec));
        } else s = `%!${verb}(${goV(v)})`;
        break;
      case 'x':
      case 'X': {
        if (typeof v === 'string') s = Buffer.from(v, 'utf8').toString('hex');
        else if (typeof v === 'number' || typeof v === 'bigint')
          s = (typeof v === 'bigint' ? v : BigInt(Math.trunc(v))).toString(16);
        else s = goV(v);
        if (verb === 'X') s = s.toUpperCase();
        break;
      }
      case 'o':
        s = typeof v === 'number' || typeof v === 'bigint' ? BigInt(v).toString(8) : goV(v);
        break;
      case 'b':
        s = typeof v === 'number' || typeof v === 'bigint' ? BigInt(v).toString(2) : goV(v);
        break;
      case 't':
        s = typeof v === 'boolean' ? String(v) : `%!t(${goV(v)})`;
        break;
      default:
        s = `%!${verb}(${goV(v)})`;
    }
    if (width !== undefined) {
      const w = Number(width);
      const len = [...s].length;
      if (len < w) {
        if (flags.includes('-')) s = s + ' '.repeat(w - len);
        else if (flags.includes('0') && /[dfxXeg]/.test(verb)) {
          const neg = s.startsWith('-');
          s = (neg ? '-' : '') + '0'.repeat(w - len) + (neg ? s.slice(1) : s);
        } else s = ' '.repeat(w - len) + s;
      }
    }
    out += s;
  }
  if (ai < args.length)
    out +=
      '%!(EXTRA ' +
      args
        .slice(ai)
        .map((v) => `${typeName(v)}=${goV(v)}`)
        .join(', ') +
      ')';
  return out;
}
