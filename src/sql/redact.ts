// A statement as the recording keeps it when the policy redacts its literals: every
// constant replaced by `?` and every comment emptied, found by PostgreSQL's own scanner.
import { scanSync } from 'libpg-query';

/** Token types of PostgreSQL 18's scanner (gram.h) that carry a value. */
const CONSTANTS = new Set([
  260, // FCONST
  261, // SCONST (quoted, E'', N'', dollar-quoted)
  262, // USCONST (U&'')
  263, // BCONST
  264, // XCONST
  266, // ICONST
]);
const SQL_COMMENT = 275;
const C_COMMENT = 276;
/** `=`, and the words after which a SET's value follows (SET ROLE x, SET … TO x). */
const EQUALS = 61;
const VALUE_AFTER = new Set(['to', 'role', 'authorization']);

interface Token {
  start: number;
  end: number;
  tokenType: number;
  text: string;
}

/**
 * `text` with its constants replaced by `?` and its comments emptied. With `isSet` (a SET,
 * or a statement with a SET clause), every token after the first `=` or TO that follows
 * SET is replaced too, since a setting's value may be written as a bare word. Text the
 * scanner cannot read is replaced whole.
 * @example redactLiterals("ALTER ROLE bob PASSWORD 'hunter2'") // "ALTER ROLE bob PASSWORD ?"
 */
export function redactLiterals(text: string, isSet = false): string {
  let tokens: Token[];
  try {
    tokens = (scanSync(text) as { tokens: Token[] }).tokens;
  } catch {
    return `[text redacted: ${Buffer.byteLength(text)} bytes]`;
  }
  // The scanner counts bytes.
  const bytes = Buffer.from(text, 'utf8');
  let out = '';
  let copied = 0;
  let value = false;
  // The value starts at the first = or TO after SET (not at RENAME TO or OWNER TO).
  let afterSet = false;
  for (const t of tokens) {
    let put: string | undefined;
    if (t.tokenType === SQL_COMMENT) put = '--';
    else if (t.tokenType === C_COMMENT) put = '/**/';
    else if (value && t.tokenType !== 44 /* , */) put = '?';
    else if (CONSTANTS.has(t.tokenType)) put = '?';
    else if (isSet && t.text.toLowerCase() === 'set') afterSet = true;
    else if (afterSet && (t.tokenType === EQUALS || VALUE_AFTER.has(t.text.toLowerCase())))
      value = true;
    if (put === undefined) continue;
    out += bytes.toString('utf8', copied, t.start) + put;
    copied = t.end;
  }
  out += bytes.toString('utf8', copied);
  // Whatever the scanner left after its last token (an unterminated literal) is dropped.
  const last = tokens.at(-1);
  if (last && last.end < bytes.length && bytes.subarray(last.end).toString().trim() !== '')
    return `[text redacted: ${bytes.length} bytes]`;
  return out;
}

/**
 * Extra facts with the values they copy from the text left out: a SET's value, a
 * NOTIFY's payload, an EXECUTE's arguments, COPY's file or command, a prepared
 * transaction's GID, and nested statements' text.
 */
export function redactExtra(extra: Record<string, unknown>): Record<string, unknown> {
  return redactValue(extra, '') as Record<string, unknown>;
}

function redactValue(v: unknown, key: string): unknown {
  if (Array.isArray(v)) return v.map((x) => redactValue(x, ''));
  if (!v || typeof v !== 'object') {
    if (key === 'text' && typeof v === 'string') return redactLiterals(v);
    return v;
  }
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if (key === 'set' && k === 'value') out[k] = x === null ? null : '?';
    else if (key === 'notify' && k === 'payload') out[k] = x === null ? null : '?';
    else if (key === 'execute' && k === 'params' && Array.isArray(x)) out[k] = x.map(() => '?');
    // COPY's file name or PROGRAM command line, a prepared transaction's GID.
    else if (key === 'copy' && k === 'file') out[k] = x === null ? null : '?';
    else if (key === 'transaction' && k === 'name')
      out[k] = x === null || x === undefined ? x : '?';
    // The names current_setting() is given (as literals in the text).
    else if (k === 'settings_read' && Array.isArray(x))
      out[k] = x.map((n: unknown) => (n === null ? n : '?'));
    else out[k] = redactValue(x, k);
  }
  return out;
}
