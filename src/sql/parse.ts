// The real PostgreSQL parser (libpg-query, WASM): load once, parse, split into statements.
import { loadModule, parseSync } from 'libpg-query';

let loaded: Promise<void> | undefined;
let ready = false;

/**
 * Load the parser's WASM module. Call once at startup, before the first `analyze()`.
 * @example await initSql();
 */
export function initSql(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

export function sqlReady(): boolean {
  return ready;
}

/** One parsed statement: its raw node and its bounds in the text (UTF-16 units). */
export interface RawStatement {
  node: Record<string, any>;
  start: number;
  end: number;
}

export type ParseOutcome =
  | { kind: 'ok'; stmts: RawStatement[] }
  | { kind: 'empty' }
  | { kind: 'error'; message: string; position?: number };

/** Parse `text`; never throws (the parser's own failures, deep recursion included, are errors). */
export function parseText(text: string): ParseOutcome {
  if (!ready) return { kind: 'error', message: 'SQL parser not initialised (call initSql())' };
  let res: {
    stmts?: Array<{ stmt?: Record<string, any>; stmt_location?: number; stmt_len?: number }>;
  };
  try {
    res = parseSync(text) as typeof res;
  } catch (err) {
    const e = err as { message?: string; sqlDetails?: { cursorPosition?: number } };
    const message = String(e?.message ?? err);
    if (/cannot be empty/i.test(message)) return { kind: 'empty' };
    const pos = e?.sqlDetails?.cursorPosition;
    const position = typeof pos === 'number' && pos >= 0 ? byteToChar(text, pos) + 1 : undefined;
    if (/call stack|too much recursion|stack depth|memory exhausted/i.test(message)) {
      return { kind: 'error', message: 'statement too deeply nested', position };
    }
    return { kind: 'error', message, position };
  }
  const raw = res?.stmts ?? [];
  if (raw.length === 0) return { kind: 'empty' };
  const ascii = isAscii(text);
  const toChar = ascii ? (b: number) => b : charOffsets(text);
  const total = ascii ? text.length : Buffer.byteLength(text, 'utf8');
  const stmts: RawStatement[] = [];
  for (const s of raw) {
    if (!s.stmt) continue;
    const b0 = s.stmt_location ?? 0;
    const b1 = s.stmt_len ? b0 + s.stmt_len : total;
    stmts.push({ node: s.stmt, start: toChar(b0), end: toChar(b1) });
  }
  if (stmts.length === 0) return { kind: 'empty' };
  return { kind: 'ok', stmts };
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return false;
  return true;
}

/**
 * UTF-8 byte offsets into `text` as UTF-16 offsets, for offsets asked in increasing order
 * (statement bounds): one pass over the text in all. Decoding the text up to each offset
 * cost the square of its length (a 1 MB string of 1,000 non-ASCII statements: 5 s).
 */
function charOffsets(text: string): (byteOffset: number) => number {
  let i = 0;
  let bytes = 0;
  return (target) => {
    if (target < bytes) {
      i = 0;
      bytes = 0;
    }
    while (bytes < target && i < text.length) {
      const c = text.charCodeAt(i);
      if (c < 0x80) bytes += 1;
      else if (c < 0x800) bytes += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          bytes += 4;
          i += 2;
          continue;
        }
        bytes += 3;
      } else bytes += 3;
      i++;
    }
    return i;
  };
}

function byteToChar(text: string, byteOffset: number): number {
  if (isAscii(text)) return byteOffset;
  return Buffer.from(text, 'utf8').subarray(0, byteOffset).toString('utf8').length;
}
