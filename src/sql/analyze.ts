// analyze(): client SQL string → StatementFacts per statement, with a literal-free cache.
import { createHash } from 'node:crypto';
import { Lru } from '../util/lru.js';
import type { AnalyzeOptions, AnalyzedText, StatementFacts } from './types.js';
import { scanKey } from './cache-key.js';
import { type FactsTemplate, buildTemplate, factsWeight } from './facts.js';
import { parseText } from './parse.js';
import { TooComplex } from './walk.js';

export const DEFAULT_MAX_BYTES = 1024 * 1024;
const CACHE_ENTRIES = 10_000;
/**
 * The most memory (by factsWeight) one cache's entries may hold, and the most caches (one
 * per database and search_path): distinct texts with many statements or columns hold far
 * more facts than text, and one client could otherwise fill the heap with them.
 */
const CACHE_WEIGHT = 16 * 1024 * 1024;
const MAX_CACHES = 8;
/** Longest text cached at all (longer ones are rare and parse slowly anyway). */
const MAX_CACHED_CHARS = 64 * 1024;
/** Most statements in a cached text (long scripts are not the per-statement hot path). */
const MAX_CACHED_STATEMENTS = 64;
/** Keys longer than this are stored as their SHA-256, to bound the cache's memory. */
const MAX_PLAIN_KEY = 512;

interface Entry {
  templates: readonly FactsTemplate[];
  /** Statement bounds for raw-text entries (normalized entries use the scan's bounds). */
  bounds?: readonly number[];
  /** Normalized entries only: facts depend on literals; look up the raw text instead. */
  sensitive?: boolean;
}

const caches = new Map<string, Lru<string, Entry>>();
const stats = { hits: 0, misses: 0 };

let last:
  | { path: string[]; db: string | undefined; catalog: number; cache: Lru<string, Entry> }
  | undefined;

function samePath(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function cacheFor(opts: AnalyzeOptions): Lru<string, Entry> {
  // Hot path: same options as last time (compared by value: arrays may be mutated).
  const catalog = opts.catalog?.id ?? 0;
  if (
    last &&
    last.db === opts.database &&
    last.catalog === catalog &&
    samePath(last.path, opts.searchPath)
  )
    return last.cache;
  const k = `${opts.database ?? ''}\u0001${catalog}\u0001${opts.searchPath.join('\u0000')}`;
  let c = caches.get(k);
  if (!c) {
    if (caches.size >= MAX_CACHES) caches.clear();
    c = new Lru<string, Entry>(CACHE_ENTRIES, CACHE_WEIGHT, entryWeight);
    caches.set(k, c);
  }
  last = { path: [...opts.searchPath], db: opts.database, catalog, cache: c };
  return c;
}

/** Drop every cached template (tests, config reload). */
export function clearSqlCache(): void {
  caches.clear();
  last = undefined;
  stats.hits = 0;
  stats.misses = 0;
}

export function sqlCacheStats(): { hits: number; misses: number; entries: number; weight: number } {
  let entries = 0;
  let weight = 0;
  for (const c of caches.values()) {
    entries += c.size;
    weight += c.totalWeight;
  }
  return { ...stats, entries, weight };
}

/**
 * Analyse a client SQL string: one StatementFacts per statement. Synchronous and never
 * throws; refusals come back as `error` (54000 too large, 42601 syntax, ...).
 * @example
 *   await initSql();
 *   const r = analyze('SELECT card FROM customers', { searchPath: ['public'] });
 *   r.statements[0].relations; // [{ schema: 'public', name: 'customers', kind: 'table', access: 'read', unqualified: true }]
 */
export function analyze(text: string, opts: AnalyzeOptions): AnalyzedText {
  try {
    return analyzeUnsafe(text, opts);
  } catch (err) {
    if (err instanceof TooComplex)
      return {
        statements: [],
        empty: false,
        error: {
          code: '54001',
          message:
            'statement too complex to analyse (its column names against its tables): qualify column names, or split it',
        },
      };
    return {
      statements: [],
      empty: false,
      error: { code: 'XX000', message: 'statement could not be analysed' },
    };
  }
}

function analyzeUnsafe(text: string, opts: AnalyzeOptions): AnalyzedText {
  const max = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (text.length > max || (text.length * 3 > max && Buffer.byteLength(text, 'utf8') > max)) {
    return {
      statements: [],
      empty: false,
      error: { code: '54000', message: `statement too large (limit ${max} bytes)` },
    };
  }
  if (text.indexOf('\u0000') >= 0) {
    return {
      statements: [],
      empty: false,
      error: { code: '08P01', message: 'query string contains a zero byte' },
    };
  }
  const scan = scanKey(text);
  // Counted by the scan first: a megabyte of "SELECT 1;" is refused without parsing it (half
  // a second of everyone's time). The parse's own count decides when the scan's is within,
  // and where the scan over-counts: the semicolons inside a BEGIN ATOMIC body or a CREATE
  // RULE's action list end no statement.
  const most = opts.maxStatements;
  if (most !== undefined && scan.bounds.length / 2 > most && !/\b(atomic|rule)\b/i.test(text))
    return tooMany(scan.bounds.length / 2, most);
  const cacheable = text.length <= MAX_CACHED_CHARS;
  const cache = cacheable ? cacheFor(opts) : undefined;
  const normKey = scan.exact && scan.dmlOnly ? storeKey('N', scan.key) : null;
  const rawKey = (): string => storeKey('R', text);
  if (cache) {
    let e = normKey ? cache.get(normKey) : undefined;
    if (e?.sensitive || !normKey) e = cache.get(rawKey());
    if (e && !e.sensitive) {
      const b = e.bounds ?? scan.bounds;
      if (b.length === e.templates.length * 2) {
        stats.hits++;
        return { statements: withTexts(text, e.templates, b), empty: false };
      }
    }
  }
  stats.misses++;
  const parsed = parseText(text);
  if (parsed.kind === 'empty') return { statements: [], empty: true };
  if (parsed.kind === 'error') {
    const error: { code: string; message: string; position?: number } = {
      code: /too deeply nested/.test(parsed.message) ? '54001' : '42601',
      message: parsed.message,
    };
    if (parsed.position !== undefined) error.position = parsed.position;
    return { statements: [], empty: false, error };
  }
  if (most !== undefined && parsed.stmts.length > most) return tooMany(parsed.stmts.length, most);
  const templates: FactsTemplate[] = [];
  const bounds: number[] = [];
  let sensitive = false;
  for (const s of parsed.stmts) {
    const r = buildTemplate(
      s.node,
      text.slice(s.start, s.end),
      opts.searchPath,
      opts.database,
      opts.catalog,
    );
    templates.push(r.template);
    bounds.push(s.start, s.end);
    if (r.literalSensitive) sensitive = true;
  }
  if (cache && templates.length <= MAX_CACHED_STATEMENTS) {
    const sameBounds =
      bounds.length === scan.bounds.length && bounds.every((v, i) => v === scan.bounds[i]);
    // A text marked literal-sensitive keeps its mark: another text of the same shape that
    // read no literal must not make the shape's facts shared again.
    if (normKey && !sensitive && sameBounds && !cache.get(normKey)?.sensitive)
      cache.set(normKey, { templates });
    else {
      if (normKey && sensitive) cache.set(normKey, { templates: [], sensitive: true });
      cache.set(rawKey(), { templates, bounds });
    }
  }
  return { statements: withTexts(text, templates, bounds), empty: false };
}

export { CALLS_BY_PATH, FACTS_KEY } from './facts.js';

function tooMany(n: number, most: number): AnalyzedText {
  return {
    statements: [],
    empty: false,
    error: {
      code: '54000',
      message: `too many statements in one query string (${n}; the limit is ${most}): send them in several`,
    },
  };
}

function entryWeight(key: string, e: Entry): number {
  let w = key.length * 2 + (e.bounds?.length ?? 0) * 8;
  for (const t of e.templates) w += factsWeight(t);
  return w;
}

/** Cache key: kind prefix plus the key text, or its SHA-256 when long. */
function storeKey(kind: 'N' | 'R', k: string): string {
  // Distinct separators: a plain key can never look like a hashed one.
  if (k.length <= MAX_PLAIN_KEY) return kind + ':' + k;
  return kind + '#' + createHash('sha256').update(k).digest('base64');
}

function withTexts(
  text: string,
  templates: readonly FactsTemplate[],
  b: readonly number[],
): StatementFacts[] {
  if (templates.length === 1 && b[0] === 0 && b[1] === text.length)
    return [{ text, ...templates[0] } as StatementFacts];
  const out: StatementFacts[] = [];
  for (let i = 0; i < templates.length; i++)
    out.push({ text: text.slice(b[2 * i], b[2 * i + 1]), ...templates[i] } as StatementFacts);
  return out;
}
