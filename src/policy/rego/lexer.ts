// Lexer: Rego source text -> tokens with line/column and a "newline before" flag.
import { RegoError } from './errors.js';

export type TokKind = 'ident' | 'str' | 'num' | 'op' | 'eof';

export interface Token {
  kind: TokKind;
  text: string;
  /** Decoded value for strings. */
  value?: string;
  line: number;
  col: number;
  /** A newline (or start of file) separates this token from the previous one. */
  nl: boolean;
  /** Whitespace separates this token from the previous one. */
  ws: boolean;
}

const OPS3 = [':=', '==', '!=', '<=', '>='];
const OPS1 = '{}[](),;.:=<>+-*/%&|';

export function lex(src: string, file: string): Token[] {
  const toks: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let nl = true;
  let ws = true;
  const n = src.length;
  const fail = (msg: string, at: number): never => {
    throw new RegoError('rego_parse_error', msg, file, line, at - lineStart + 1);
  };
  while (i < n) {
    const c = src[i];
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      nl = true;
      ws = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      ws = true;
      continue;
    }
    if (c === '#') {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    const col = i - lineStart + 1;
    const start = i;
    const push = (kind: TokKind, text: string, value?: string) => {
      toks.push({ kind, text, value, line, col, nl, ws });
      nl = false;
      ws = false;
    };
    if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_]/.test(src[i])) i++;
      push('ident', src.slice(start, i));
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      while (i < n && /[0-9]/.test(src[i])) i++;
      if (src[i] === '.' && /[0-9]/.test(src[i + 1] ?? '')) {
        i++;
        while (i < n && /[0-9]/.test(src[i])) i++;
      }
      if (src[i] === 'e' || src[i] === 'E') {
        let j = i + 1;
        if (src[j] === '+' || src[j] === '-') j++;
        if (/[0-9]/.test(src[j] ?? '')) {
          i = j;
          while (i < n && /[0-9]/.test(src[i])) i++;
        }
      }
      if (i < n && /[A-Za-z_]/.test(src[i])) fail('unexpected character in number', i);
      push('num', src.slice(start, i));
      continue;
    }
    if (c === '"') {
      i++;
      let out = '';
      while (true) {
        if (i >= n || src[i] === '\n') fail('non-terminated string', start);
        const d = src[i];
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\') {
          const e = src[i + 1];
          i += 2;
          switch (e) {
            case '"':
            case '\\':
            case '/':
              out += e;
              break;
            case 'b':
              out += '\b';
              break;
            case 'f':
              out += '\f';
              break;
            case 'n':
              out += '\n';
              break;
            case 'r':
              out += '\r';
              break;
            case 't':
              out += '\t';
              break;
            case 'u': {
              const h = src.slice(i, i + 4);
              if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('illegal escape sequence', i - 2);
              out += String.fromCharCode(parseInt(h, 16));
              i += 4;
              break;
            }
            default:
              fail('illegal escape sequence', i - 2);
          }
          continue;
        }
        out += d;
        i++;
      }
      push('str', src.slice(start, i), out);
      continue;
    }
    if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) fail('non-terminated raw string', start);
      const raw = src.slice(i + 1, end);
      for (const ch of raw) if (ch === '\n') line++;
      const lastNl = raw.lastIndexOf('\n');
      push('str', src.slice(start, end + 1), raw);
      if (lastNl >= 0) lineStart = i + 1 + lastNl + 1;
      i = end + 1;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (OPS3.includes(two)) {
      i += 2;
      push('op', two);
      continue;
    }
    if (OPS1.includes(c)) {
      i++;
      push('op', c);
      continue;
    }
    fail(`illegal token ${JSON.stringify(c)}`, i);
  }
  toks.push({ kind: 'eof', text: '<eof>', line, col: i - lineStart + 1, nl: true, ws: true });
  return toks;
}
