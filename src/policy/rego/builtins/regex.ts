// regex.* and glob.match: RE2 patterns translated to JS RegExp (unsupported syntax is an error).
import { BuiltinError } from '../errors.js';
import { RSet, type Value } from '../value.js';
import { def, int, str } from './registry.js';

const cache = new Map<string, RegExp>();

/** Translates an RE2 pattern to a JS RegExp; throws BuiltinError when it cannot. */
export function re2(pat: string, name = 'regex.match', global = false): RegExp {
  const key = (global ? 'g' : '') + pat;
  const hit = cache.get(key);
  if (hit) return hit;
  let src = pat;
  let flags = global ? 'gu' : 'u';
  const m = /^\(\?([imsU]+)\)/.exec(src);
  if (m) {
    if (m[1].includes('U'))
      throw new BuiltinError('eval_builtin_error', `${name}: unsupported regex flag U`);
    for (const f of m[1]) if (!flags.includes(f)) flags += f;
    src = src.slice(m[0].length);
  }
  if (/\(\?[=!<][^P]/.test(src) && !/\(\?P</.test(src))
    throw new BuiltinError(
      'eval_builtin_error',
      `${name}: error parsing regexp: invalid or unsupported Perl syntax`,
    );
  if (/\\[1-9]/.test(src))
    throw new BuiltinError(
      'eval_builtin_error',
      `${name}: error parsing regexp: invalid escape sequence`,
    );
  // \Q...\E quotes literally in RE2
  src = src.replace(/\\Q([\s\S]*?)(?:\\E|$)/g, (_m, lit: string) =>
    lit.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&'),
  );
  src = src
    .replace(/\\([pP])([A-Za-z])/g, '\\$1{$2}')
    .replace(/\(\?P</g, '(?<')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$(?![\\s\\S])')
    .replace(/\[\[:alpha:\]\]/g, '[A-Za-z]')
    .replace(/\[\[:digit:\]\]/g, '[0-9]')
    .replace(/\[\[:alnum:\]\]/g, '[A-Za-z0-9]')
    .replace(/\[\[:space:\]\]/g, '[\\t\\n\\v\\f\\r ]')
    .replace(/\[:alpha:\]/g, 'A-Za-z')
    .replace(/\[:digit:\]/g, '0-9')
    .replace(/\[:alnum:\]/g, 'A-Za-z0-9')
    .replace(/\[:upper:\]/g, 'A-Z')
    .replace(/\[:lower:\]/g, 'a-z')
    .replace(/\[:space:\]/g, '\\t\\n\\v\\f\\r ')
    .replace(/\[:punct:\]/g, '!-\\/:-@\\[-`{-~')
    .replace(/\[:xdigit:\]/g, '0-9A-Fa-f')
    .replace(/\[:word:\]/g, '\\w');
  let re: RegExp;
  try {
    re = new RegExp(src, flags);
  } catch {
    try {
      re = new RegExp(src, flags.replace('u', ''));
    } catch (e) {
      throw new BuiltinError(
        'eval_builtin_error',
        `${name}: error parsing regexp: ${(e as Error).message}`,
      );
    }
  }
  if (cache.size > 1000) cache.clear();
  cache.set(key, re);
  return re;
}

def('regex.match', 2, (a) => re2(str('regex.match', a, 0)).test(str('regex.match', a, 1)));
def('regex.is_valid', 1, (a) => {
  if (typeof a[0] !== 'string') return false;
  try {
    re2(a[0], 'regex.is_valid');
    return true;
  } catch {
    return false;
  }
});
def('regex.find_n', 3, (a) => {
  const re = re2(str('regex.find_n', a, 0), 'regex.find_n', true);
  const s = str('regex.find_n', a, 1);
  const n = int('regex.find_n', a, 2);
  const out: Value[] = [];
  re.lastIndex = 0;
  for (const m of s.matchAll(re)) {
    if (n >= 0 && out.length >= n) break;
    out.push(m[0]);
  }
  return out;
});
def('regex.find_all_string_submatch_n', 3, (a) => {
  const re = re2(
    str('regex.find_all_string_submatch_n', a, 0),
    'regex.find_all_string_submatch_n',
    true,
  );
  const s = str('regex.find_all_string_submatch_n', a, 1);
  const n = int('regex.find_all_string_submatch_n', a, 2);
  const out: Value[] = [];
  for (const m of s.matchAll(re)) {
    if (n >= 0 && out.length >= n) break;
    out.push([...m].map((x) => x ?? ''));
  }
  return out;
});
def('regex.split', 2, (a) =>
  str('regex.split', a, 1).split(re2(str('regex.split', a, 0), 'regex.split', true)),
);
def('regex.replace', 3, (a) =>
  str('regex.replace', a, 0).replace(
    re2(str('regex.replace', a, 1), 'regex.replace', true),
    str('regex.replace', a, 2).replace(/\$(\d+)/g, '$$$1'),
  ),
);

const globCache = new Map<string, RegExp>();
function globRe(pat: string, delims: string[]): RegExp {
  const key = pat + '\u0000' + delims.join('\u0000');
  const hit = globCache.get(key);
  if (hit) return hit;
  const esc = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  const notDelim = delims.length ? `[^${delims.map(esc).join('')}]` : '[\\s\\S]';
  let out = '';
  let depth = 0;
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i];
    if (c === '\\') {
      i++;
      if (i >= pat.length)
        throw new BuiltinError('eval_builtin_error', 'glob.match: unexpected end of input');
      out += esc(pat[i]);
    } else if (c === '*') {
      if (pat[i + 1] === '*') {
        i++;
        out += '[\\s\\S]*';
      } else out += notDelim + '*';
    } else if (c === '?') out += notDelim;
    else if (c === '[') {
      const end = pat.indexOf(']', i + 1);
      if (end < 0)
        throw new BuiltinError('eval_builtin_error', 'glob.match: unexpected end of input');
      let body = pat.slice(i + 1, end);
      let neg = false;
      if (body.startsWith('!')) {
        neg = true;
        body = body.slice(1);
      }
      out += '[' + (neg ? '^' : '') + body.replace(/[\\\]^]/g, '\\$&') + ']';
      i = end;
    } else if (c === '{') {
      depth++;
      out += '(?:';
    } else if (c === '}' && depth > 0) {
      depth--;
      out += ')';
    } else if (c === ',' && depth > 0) out += '|';
    else out += esc(c);
  }
  if (depth > 0)
    throw new BuiltinError('eval_builtin_error', 'glob.match: unexpected end of input');
  let re: RegExp;
  try {
    re = new RegExp('^(?:' + out + ')$', 's');
  } catch (e) {
    throw new BuiltinError('eval_builtin_error', `glob.match: ${(e as Error).message}`);
  }
  globCache.set(key, re);
  return re;
}

def('glob.match', 3, (a) => {
  const pat = str('glob.match', a, 0);
  const d = a[1];
  let delims: string[];
  if (d === null) delims = [];
  else if (Array.isArray(d) || d instanceof RSet) {
    const xs = Array.isArray(d) ? d : d.sorted();
    delims = xs.map((x) => {
      if (typeof x !== 'string')
        throw new BuiltinError('eval_type_error', 'glob.match: operand 2 must be array[string]');
      return x;
    });
    if (delims.length === 0) delims = ['.'];
  } else throw new BuiltinError('eval_type_error', 'glob.match: operand 2 must be array[string]');
  return globRe(pat, delims).test(str('glob.match', a, 2));
});
def('glob.quote_meta', 1, (a) => str('glob.quote_meta', a, 0).replace(/[*?\\[\]{}]/g, '\\$&'));
