// Hand-written lexical scan: literal-free cache key and statement bounds of a SQL string.

/**
 * Result of `scanKey`. `key` is the text with every literal replaced by a canonical
 * literal of the same lexical kind ('' E'' N'' B'' X'' $$$$, digits → 0) and comment
 * bodies dropped (the comment markers stay, so the key lexes like the text). The key is
 * only used to share facts between texts when `cacheable` is true: the scan was sure of
 * every token boundary and every statement is plain DML (whose facts never depend on a
 * literal value unless the analyser says so; see analyze.ts).
 */
export interface ScanResult {
  key: string;
  /** Every token boundary is certain (no backslash, U&, odd number or unterminated token). */
  exact: boolean;
  /** Every statement starts with SELECT, INSERT, UPDATE, DELETE, WITH, VALUES, TABLE, MERGE or "(". */
  dmlOnly: boolean;
  /** Statement bounds in UTF-16 units: start (first token) and end (";" or text end), pairs. */
  bounds: number[];
}

const DML_START = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'values',
  'table',
  'merge',
]);

// Character classes of PostgreSQL's scanner (scan.l), applied to UTF-16 units: every
// non-ASCII unit counts as an identifier character, as every byte >= 0x80 does there.
const SPACE = 1;
const IDENT_START = 2;
const DIGIT = 4;
const IDENT_CONT = 8;
const CLASS = new Uint8Array(128);
for (const c of [32, 9, 10, 11, 12, 13]) CLASS[c] = SPACE;
for (let c = 65; c <= 90; c++) CLASS[c] = CLASS[c + 32] = IDENT_START | IDENT_CONT;
CLASS[95] = IDENT_START | IDENT_CONT;
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT | IDENT_CONT;
CLASS[36] = IDENT_CONT; // $

function isIdentStart(c: number): boolean {
  return c >= 128 || (CLASS[c] & IDENT_START) !== 0;
}
function isIdentCont(c: number): boolean {
  return c >= 128 || (CLASS[c] & IDENT_CONT) !== 0;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isSpace(c: number): boolean {
  return c < 128 && CLASS[c] === SPACE;
}

/** Scan `text` once; see ScanResult. Linear time, no regular expressions. */
export function scanKey(text: string): ScanResult {
  const n = text.length;
  let key = '';
  let copied = 0; // text[copied..i) still to be appended verbatim
  let exact = true;
  let dmlOnly = true;
  const bounds: number[] = [];
  let inStmt = false;
  let i = 0;

  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    // -- comment: runs to \n or \r (both end it in scan.l), the terminator is whitespace.
    if (c === 45 && text.charCodeAt(i + 1) === 45) {
      let j = i + 2;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 10 || d === 13) break;
        j++;
      }
      key += text.slice(copied, i) + '--';
      copied = j;
      i = j;
      continue;
    }
    // /* comment */, nested.
    if (c === 47 && text.charCodeAt(i + 1) === 42) {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        const d = text.charCodeAt(j);
        if (d === 47 && text.charCodeAt(j + 1) === 42) {
          depth++;
          j += 2;
        } else if (d === 42 && text.charCodeAt(j + 1) === 47) {
          depth--;
          j += 2;
        } else j++;
      }
      if (depth > 0) {
        exact = false;
        break;
      }
      key += text.slice(copied, i) + '/**/';
      copied = j;
      i = j;
      continue;
    }
    if (c === 59) {
      // ';' ends the statement (DML has no inner top-level semicolons).
      if (inStmt) bounds.push(i);
      inStmt = false;
      i++;
      continue;
    }
    let atStart = false;
    if (!inStmt) {
      inStmt = true;
      atStart = true;
      bounds.push(i);
    }

    if (c === 39) {
      const j = scanQuoted(text, i + 1, false);
      if (j < 0) {
        exact = false;
        break;
      }
      if (hasBackslash(text, i, j)) exact = false; // scs=off reads it differently
      key += text.slice(copied, i) + "''";
      copied = j;
      i = j;
      if (atStart) dmlOnly = false;
      continue;
    }
    if (c === 34) {
      // "quoted identifier": kept verbatim.
      const j = scanDoubleQuoted(text, i + 1);
      if (j < 0) {
        exact = false;
        break;
      }
      i = j;
      if (atStart) dmlOnly = false;
      continue;
    }
    if (c === 36) {
      const d = text.charCodeAt(i + 1);
      if (isDigit(d)) {
        // $n parameter: kept verbatim.
        let j = i + 1;
        while (j < n && isDigit(text.charCodeAt(j))) j++;
        if (j < n && isIdentCont(text.charCodeAt(j))) exact = false;
        i = j;
        continue;
      }
      const tagEnd = dollarTagEnd(text, i);
      if (tagEnd < 0) {
        exact = false;
        i++;
        continue;
      }
      const tag = text.slice(i, tagEnd);
      const close = text.indexOf(tag, tagEnd);
      if (close < 0) {
        exact = false;
        break;
      }
      key += text.slice(copied, i) + '$$$$';
      copied = close + tag.length;
      i = close + tag.length;
      if (atStart) dmlOnly = false;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(text.charCodeAt(i + 1)))) {
      const r = scanNumber(text, i);
      if (!r.exact) exact = false;
      key += text.slice(copied, i) + r.canon;
      copied = r.end;
      i = r.end;
      if (atStart) dmlOnly = false;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentCont(text.charCodeAt(j))) j++;
      const next = text.charCodeAt(j);
      if (j === i + 1 && next === 39) {
        // One-letter prefix of a string literal: E'', N'', B'', X''.
        const p = c | 32;
        if (p === 101 || p === 110 || p === 98 || p === 120) {
          const esc = p === 101;
          const bits = p === 98 || p === 120;
          // Bit strings have no '' escape: they end at the first quote.
          const k = bits ? text.indexOf("'", j + 1) + 1 : scanQuoted(text, j + 1, esc);
          if (k <= 0) {
            exact = false;
            break;
          }
          if (hasBackslash(text, j, k)) exact = false;
          // A continuation ('...'\n'...') of a bit string lexes by bit-string rules: unsure.
          if (bits && quoteFollows(text, k)) exact = false;
          key += text.slice(copied, i) + String.fromCharCode(c & ~32) + "''";
          copied = k;
          i = k;
          if (atStart) dmlOnly = false;
          continue;
        }
      }
      if (j === i + 1 && (c | 32) === 117 && next === 38) {
        // U&'...' and U&"...": Unicode escapes (and UESCAPE) are left to the parser.
        exact = false;
      }
      if (atStart && !isDmlStart(text, i, j)) dmlOnly = false;
      i = j;
      continue;
    }
    if (c === 40) {
      // "(" may open a parenthesised SELECT.
      i++;
      continue;
    }
    if (c === 92) exact = false; // backslash outside a literal: psql meta-commands, scs=off tricks
    if (atStart) dmlOnly = false;
    i++;
  }
  if (inStmt) bounds.push(n);
  key += text.slice(copied);
  return { key, exact, dmlOnly, bounds };
}

/** Whether text[i..j) is one of DML_START, case-insensitively. */
function isDmlStart(text: string, i: number, j: number): boolean {
  const len = j - i;
  if (len < 4 || len > 6) return false;
  const w = text.slice(i, j);
  return DML_START.has(w) || DML_START.has(w.toLowerCase());
}

/** Whether the next token after `from` (skipping whitespace and -- comments) is a quote. */
function quoteFollows(text: string, from: number): boolean {
  let j = from;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (isSpace(c)) j++;
    else if (c === 45 && text.charCodeAt(j + 1) === 45) {
      while (j < text.length && text.charCodeAt(j) !== 10 && text.charCodeAt(j) !== 13) j++;
    } else return c === 39;
  }
  return false;
}

/** End (exclusive) of a '...' body starting at `from`; -1 when unterminated. */
function scanQuoted(text: string, from: number, escapes: boolean): number {
  const n = text.length;
  let j = from;
  while (j < n) {
    const d = text.charCodeAt(j);
    if (escapes && d === 92) {
      j += 2;
      continue;
    }
    if (d === 39) {
      if (text.charCodeAt(j + 1) === 39) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return -1;
}

function scanDoubleQuoted(text: string, from: number): number {
  const n = text.length;
  let j = from;
  while (j < n) {
    if (text.charCodeAt(j) === 34) {
      if (text.charCodeAt(j + 1) === 34) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return -1;
}

function hasBackslash(text: string, from: number, to: number): boolean {
  const k = text.indexOf('\\', from);
  return k >= 0 && k < to;
}

/** End of a dollar-quote delimiter ($$ or $tag$) starting at `i`, or -1. */
function dollarTagEnd(text: string, i: number): number {
  let j = i + 1;
  const c = text.charCodeAt(j);
  if (c === 36) return j + 1;
  if (!isIdentStart(c)) return -1;
  j++;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === 36) return j + 1;
    if (!isIdentStart(d) && !isDigit(d)) return -1;
    j++;
  }
  return -1;
}

/** A numeric literal: canonical shape (each digit run becomes "0") and whether it is plain. */
function scanNumber(text: string, i: number): NumberScan {
  const n = text.length;
  let j = i;
  let canon = '';
  if (isDigit(text.charCodeAt(j))) {
    while (j < n && isDigit(text.charCodeAt(j))) j++;
    canon = '0';
  }
  if (text.charCodeAt(j) === 46) {
    if (text.charCodeAt(j + 1) === 46) {
      // "1..": PostgreSQL lexes 1 then "..": leave it to the raw key.
      return { end: j, canon, exact: false };
    }
    j++;
    canon += '.';
    if (isDigit(text.charCodeAt(j))) {
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      canon += '0';
    }
  }
  const e = text.charCodeAt(j);
  if (e === 101 || e === 69) {
    const s = text.charCodeAt(j + 1);
    let k = -1;
    if (isDigit(s)) k = j + 1;
    else if ((s === 43 || s === 45) && isDigit(text.charCodeAt(j + 2))) k = j + 2;
    if (k > 0) {
      canon += k === j + 1 ? 'e0' : 'e' + String.fromCharCode(s) + '0';
      j = k;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
    }
  }
  const after = text.charCodeAt(j);
  // Trailing identifier characters, a second dot, or _ (1_000), 0x.. : not plain.
  const exact = !(j < n && (isIdentCont(after) || after === 46));
  return { end: j, canon, exact };
}

interface NumberScan {
  end: number;
  canon: string;
  exact: boolean;
}
