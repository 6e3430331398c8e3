// regex.* and glob.match: RE2 patterns translated to JS RegExp (unsupported syntax is an error).
import { BuiltinError } from '../errors.js';
import { RSet, type Value } from '../value.js';
import { def, int, str } from './registry.js';

const cache = new Map<string, RegExp>();

/** RE2's \s: ASCII whitespace only (JS's \s also matches Unicode spaces). */
const RE2_SPACE = '\\t\\n\\f\\r ';
const POSIX: Record<string, string> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: 'A-Za-z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\t\\n\\v\\f\\r ',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  word: '0-9A-Za-z_',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  print: ' -~',
  graph: '!-~',
  ascii: '\\x00-\\x7f',
};

/**
 * A pattern RE2 accepts whose meaning this translation cannot keep: evaluation fails (the
 * decision is a refusal), never a match that RE2 would not make, nor a miss it would not.
 */
function untranslatable(name: string, what: string): Error {
  return new Error(`${name}: regex ${what} is not supported by this evaluator`);
}

/** `\p{X}` as JS reads it: a general category as is, a script as Script=X. */
function unicodeProperty(neg: boolean, prop: string, name: string): string {
  const p = neg ? 'P' : 'p';
  for (const form of [prop, `Script=${prop}`]) {
    try {
      new RegExp(`\\${p}{${form}}`, 'u');
      return `\\${p}{${form}}`;
    } catch {
      /* next form */
    }
  }
  throw new BuiltinError(
    'eval_builtin_error',
    `${name}: error parsing regexp: invalid character class range: \\${p}{${prop}}`,
  );
}

/**
 * A class body under a case-folding group (the pattern as a whole is not `(?i)`): each
 * ASCII letter and letter range gains its other case. Other letters in ranges cannot be
 * folded here.
 */
function foldClass(body: string, name: string): string {
  let extra = '';
  for (let k = 0; k < body.length; k++) {
    const ch = body[k];
    if (ch === '\\') {
      k++;
      continue;
    }
    if (body[k + 1] === '-' && body[k + 2] !== undefined && body[k + 2] !== '\\') {
      const hi = body[k + 2];
      const both = ch + hi;
      if (/^[a-z]{2}$/.test(both)) extra += ch.toUpperCase() + '-' + hi.toUpperCase();
      else if (/^[A-Z]{2}$/.test(both)) extra += ch.toLowerCase() + '-' + hi.toLowerCase();
      else if (/[^\x00-\x7f]/.test(both) || /[A-Za-z]/.test(both))
        throw untranslatable(name, 'a case-folded class range');
      k += 2;
      continue;
    }
    const lo = ch.toLowerCase();
    const up = ch.toUpperCase();
    if (lo !== up && lo.length === 1 && up.length === 1) extra += ch === lo ? up : lo;
  }
  return body + extra;
}

/**
 * Translates an RE2 pattern to a JS RegExp with RE2's meaning: `.` stops at \n only, \s is
 * ASCII whitespace, (?m) ^ and $ stop at \n only, \A \z \x{…} \pX \p{Script} and POSIX
 * classes; a leading (?flags). Invalid RE2 is a builtin error (undefined, as in OPA); valid
 * RE2 this cannot express ((?U), (?-i) after (?i)) fails the evaluation.
 */
export function re2(pat: string, name = 'regex.match', global = false): RegExp {
  const key = (global ? 'g' : '') + pat;
  const hit = cache.get(key);
  if (hit) return hit;
  let i = 0;
  /** The flags in force: `i` here is case folding done by this translation (see lit). */
  let f = { i: false, m: false, s: false };
  let flags = global ? 'gu' : 'u';
  const lead = /^\(\?([imsU]+)\)/.exec(pat);
  if (lead) {
    if (lead[1].includes('U')) throw untranslatable(name, 'flag U');
    if (lead[1].includes('i')) flags += 'i';
    f = { i: false, m: lead[1].includes('m'), s: lead[1].includes('s') };
    i = lead[0].length;
  }
  const foldAll = flags.includes('i');
  const bad = (what: string) =>
    new BuiltinError('eval_builtin_error', `${name}: error parsing regexp: ${what}`);
  /** Flags of the enclosing groups, restored at their `)`. */
  const saved: (typeof f)[] = [];
  /** `(?flags)` or `(?flags:` at `at` (after `(?`): the flags, and where they end. */
  const inline = (at: number): { next: typeof f; end: number; group: boolean } => {
    const m = /^([imsU]*)(?:-([imsU]*))?([:)])/.exec(pat.slice(at));
    if (!m || (!m[1] && !m[2])) throw bad('invalid or unsupported Perl syntax');
    if ((m[1] + (m[2] ?? '')).includes('U')) throw untranslatable(name, 'flag U');
    if (foldAll && m[2]?.includes('i')) throw untranslatable(name, 'turning (?i) off');
    const next = { ...f };
    for (const x of m[1]) next[x as 'i' | 'm' | 's'] = true;
    for (const x of m[2] ?? '') next[x as 'i' | 'm' | 's'] = false;
    if (foldAll) next.i = false;
    return { next, end: at + m[0].length, group: m[3] === ':' };
  };
  /** A literal character: both cases of it where the pattern folds case here. */
  const lit = (ch: string): string => {
    const e = /[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch;
    if (!f.i || inClass) return e;
    const lo = ch.toLowerCase();
    const up = ch.toUpperCase();
    if (lo === up || [...lo].length !== 1 || [...up].length !== 1) return e;
    return `[${lo}${up}]`;
  };
  let out = '';
  let inClass = false;
  /** Where the open class's body starts in `out` (to fold its letters at its end). */
  let classAt = 0;
  while (i < pat.length) {
    const c = pat[i];
    if (c === '\\') {
      const d = pat[i + 1];
      if (d === undefined) throw bad('trailing backslash at end of expression');
      i += 2;
      if (d === 'Q') {
        const e = pat.indexOf('\\E', i);
        const quoted = pat.slice(i, e < 0 ? pat.length : e);
        i = e < 0 ? pat.length : e + 2;
        for (const ch of quoted) out += inClass && ch === '-' ? '\\-' : lit(ch);
      } else if (d === 'x' && pat[i] === '{') {
        const e = pat.indexOf('}', i);
        const hex = e < 0 ? '' : pat.slice(i + 1, e);
        if (!/^[0-9A-Fa-f]{1,6}$/.test(hex) || parseInt(hex, 16) > 0x10ffff)
          throw bad('invalid escape sequence');
        out += `\\u{${hex}}`;
        i = e + 1;
      } else if (d === 'p' || d === 'P') {
        let prop: string;
        if (pat[i] === '{') {
          const e = pat.indexOf('}', i);
          if (e < 0) throw bad('invalid character class range');
          prop = pat.slice(i + 1, e);
          i = e + 1;
        } else {
          prop = pat[i] ?? '';
          i++;
        }
        let neg = d === 'P';
        if (prop.startsWith('^')) {
          neg = !neg;
          prop = prop.slice(1);
        }
        out += unicodeProperty(neg, prop, name);
      } else if (d === 's') out += inClass ? RE2_SPACE : `[${RE2_SPACE}]`;
      else if (d === 'S') {
        if (inClass) throw untranslatable(name, '\\S inside a class');
        out += `[^${RE2_SPACE}]`;
      } else if (d === 'A') {
        if (inClass) throw bad('invalid escape sequence');
        out += '(?<![\\s\\S])';
      } else if (d === 'z') {
        if (inClass) throw bad('invalid escape sequence');
        out += '(?![\\s\\S])';
      } else if (/[1-9]/.test(d)) throw bad('invalid escape sequence');
      else if (/[dDwWbBfnrtv0x^$\\.*+?()[\]{}|/]/.test(d)) out += '\\' + d;
      else if (/[A-Za-z0-9]/.test(d)) throw bad('invalid escape sequence');
      // Other punctuation escaped in RE2 is itself (JS's u mode refuses most such escapes).
      else out += d === '-' && inClass ? '\\-' : d;
      continue;
    }
    if (inClass) {
      if (c === '[' && pat[i + 1] === ':') {
        const e = pat.indexOf(':]', i + 2);
        let cls = e < 0 ? '' : pat.slice(i + 2, e);
        const neg = cls.startsWith('^');
        if (neg) cls = cls.slice(1);
        const body = POSIX[cls];
        if (body === undefined) throw bad('invalid character class range');
        if (neg) throw untranslatable(name, 'negated POSIX class');
        out += body;
        i = e + 2;
        continue;
      }
      if (c === ']') {
        inClass = false;
        if (f.i) out = out.slice(0, classAt) + foldClass(out.slice(classAt), name);
      }
      out += c === '[' ? '\\[' : c;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += '[';
      i++;
      if (pat[i] === '^') {
        out += '^';
        i++;
      }
      classAt = out.length;
      // A ] first in a class is a literal.
      if (pat[i] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && pat[i + 1] === '?') {
      if (pat[i + 2] === 'P' && pat[i + 3] === '<') {
        saved.push(f);
        out += '(?<';
        i += 4;
      } else if (pat[i + 2] === ':') {
        saved.push(f);
        out += '(?:';
        i += 3;
      } else if (pat[i + 2] === '<') {
        saved.push(f);
        out += '(?<';
        i += 3;
      } else if (/[imsU-]/.test(pat[i + 2] ?? '')) {
        // (?flags) holds to the end of the enclosing group; (?flags:…) within its own.
        const { next, end, group } = inline(i + 2);
        if (group) {
          saved.push(f);
          out += '(?:';
        }
        f = next;
        i = end;
      } else throw bad('invalid or unsupported Perl syntax');
      continue;
    }
    if (c === '(') {
      saved.push(f);
      out += c;
      i++;
      continue;
    }
    if (c === ')') {
      f = saved.pop() ?? f;
      out += c;
      i++;
      continue;
    }
    if (c === '{' || c === '}' || c === ']') {
      // A brace that is no repetition, and a lone ], are literals in RE2.
      const rep = c === '{' ? /^\{\d+(,\d*)?\}/.exec(pat.slice(i)) : null;
      if (rep) {
        out += rep[0];
        i += rep[0].length;
      } else {
        out += '\\' + c;
        i++;
      }
      continue;
    }
    if (c === '.') out += f.s ? '[\\s\\S]' : '[^\\n]';
    else if (c === '^') out += f.m ? '(?<![^\\n])' : '^';
    else if (c === '$') out += f.m ? '(?![^\\n])' : '$';
    else if ('*+?|'.includes(c)) out += c;
    else {
      const cp = pat.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out += lit(ch);
      i += ch.length;
      continue;
    }
    i++;
  }
  if (inClass) throw bad('missing closing ]');
  let re: RegExp;
  try {
    re = new RegExp(out, flags);
  } catch (e) {
    throw bad((e as Error).message);
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
