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
  const bytes = ascii ? undefined : Buffer.from(text, 'utf8');
  const total = ascii ? text.length : bytes!.length;
  const stmts: RawStatement[] = [];
  for (const s of raw) {
    if (!s.stmt) continue;
    const b0 = s.stmt_location ?? 0;
    const b1 = s.stmt_len ? b0 + s.stmt_len : total;
    const start = ascii ? b0 : bytes!.subarray(0, b0).toString('utf8').length;
    const end = ascii ? b1 : bytes!.subarray(0, b1).toString('utf8').length;
    stmts.push({ node: s.stmt, start, end });
  }
  if (stmts.length === 0) return { kind: 'empty' };
  return { kind: 'ok', stmts };
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return false;
  return true;
}

function byteToChar(text: string, byteOffset: number): number {
  if (isAscii(text)) return byteOffset;
  return Buffer.from(text, 'utf8').subarray(0, byteOffset).toString('utf8').length;
}
