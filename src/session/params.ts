// Startup parameters: which client settings may reach upstream, which are refused, and the
// values the gateway pins on every upstream session.
import { searchPathProblem } from '../sql/names.js';

/** Settings a client may choose freely; passed upstream as sent. Names are case-insensitive. */
const PASSTHROUGH = new Set([
  'application_name',
  'datestyle',
  'timezone',
  'intervalstyle',
  'extra_float_digits',
  'client_min_messages',
  'lc_messages',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'bytea_output',
  'geqo',
  'default_transaction_isolation',
  'default_transaction_deferrable',
]);

/**
 * Timeouts a client may choose at startup as it may with SET (node-postgres sends them as
 * startup parameters): a whole number of milliseconds (or s, min, h, d) from 1 ms to a
 * day, as the default policy accepts them. Anything PostgreSQL would read as 0 (switched
 * off) is refused. A timeout the gateway pins can only be lowered.
 */
const TIMEOUTS = new Set([
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
]);
const TIMEOUT_UNITS: Record<string, number> = {
  '': 1,
  ms: 1,
  s: 1000,
  min: 60000,
  h: 3600000,
  d: 86400000,
};
const DAY_MS = 86400000;

/** A timeout value in milliseconds if it is a whole number from 1 ms to a day. */
export function timeoutMs(value: string): number | undefined {
  const m = /^\s*([1-9][0-9]{0,9})\s*(ms|s|min|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  const ms = Number(m[1]) * TIMEOUT_UNITS[m[2] ?? ''];
  return ms <= DAY_MS ? ms : undefined;
}

/**
 * What goes upstream at login: the client's settings, then the gateway's pinned ones. A
 * timeout the client lowered below the pinned value keeps the client's value.
 */
export function upstreamSettings(
  passthrough: Record<string, string>,
  pinned: Record<string, string>,
): Record<string, string> {
  const out = { ...passthrough, ...pinned };
  for (const k of TIMEOUTS)
    if (k in passthrough && k in pinned && Number(passthrough[k]) < Number(pinned[k]))
      out[k] = passthrough[k];
  return out;
}

/** Accepted but never forwarded: the gateway pins its own value (UTF8). */
const PINNED_BY_GATEWAY = new Set(['client_encoding']);

const ON = /^\s*(on|true|yes|1)\s*$/i;

/**
 * A pinned setting asked for with the value the gateway pins anyway (a search_path naming
 * the pinned schemas, standard_conforming_strings on): accepted, and not forwarded.
 */
function keepsPinned(key: string, value: string, searchPath: readonly string[]): boolean {
  if (key === 'standard_conforming_strings') return ON.test(value);
  if (key !== 'search_path') return false;
  const asked = searchPathNames(value);
  return (
    asked !== undefined &&
    asked.length === searchPath.length &&
    asked.every((n, i) => n === searchPath[i])
  );
}

/**
 * The schema names of a search_path value as PostgreSQL reads them: comma-separated, an
 * unquoted name folded to lower case, a double-quoted one as written; undefined when it
 * does not read as a list of names.
 */
export function searchPathNames(value: string): string[] | undefined {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^\s",]+))\s*(,|$)/y;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (!m || m[0] === '') return undefined;
    out.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2].toLowerCase());
    at = re.lastIndex;
    if (m[3] === '') break;
  }
  return out.length > 0 && at >= value.length ? out : undefined;
}

export interface StartupDecision {
  ok: true;
  user: string;
  database: string;
  applicationName: string;
  /** Parameters to send upstream (client choices that are safe). */
  passthrough: Record<string, string>;
  /** `_pq_.*` protocol options we do not support (reported in NegotiateProtocolVersion). */
  unsupportedOptions: string[];
}

export type StartupVerdict =
  StartupDecision | { ok: false; refused: string; kind: 'param' | 'database' };

/** Split a libpq `options` string into -c settings (`-c a=b`, `-ca=b`, `--a=b`). */
export function parseOptions(options: string): { settings: [string, string][]; bad?: string } {
  const words: string[] = [];
  let cur = '';
  let escaped = false;
  let any = false;
  for (const ch of options) {
    if (escaped) {
      cur += ch;
      escaped = false;
      any = true;
    } else if (ch === '\\') escaped = true;
    else if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (any) words.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) words.push(cur);
  const settings: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    let w = words[i];
    if (w === '-c') {
      if (i + 1 >= words.length) return { settings, bad: '-c' };
      w = words[++i];
    } else if (w.startsWith('-c')) w = w.slice(2);
    else if (w.startsWith('--')) w = w.slice(2);
    else return { settings, bad: w };
    const eq = w.indexOf('=');
    if (eq <= 0) return { settings, bad: w };
    settings.push([w.slice(0, eq).replace(/-/g, '_'), w.slice(eq + 1)]);
  }
  return { settings };
}

/**
 * Decide what happens to a client's startup parameters. Anything security-relevant
 * (role, session_authorization, search_path and standard_conforming_strings other than as
 * pinned, default_transaction_read_only off, replication, options setting anything but a
 * passthrough setting, unknown parameters) is refused.
 */
export function checkStartupParams(
  params: Map<string, string>,
  /** The schemas the gateway pins as search_path (none: a search_path is refused). */
  searchPath: readonly string[] = [],
): StartupVerdict {
  const user = params.get('user') ?? '';
  if (!user) return { ok: false, refused: 'user', kind: 'param' };
  const database = params.get('database');
  if (database === undefined || database === '')
    return { ok: false, refused: 'database', kind: 'database' };
  const passthrough: Record<string, string> = {};
  const unsupportedOptions: string[] = [];
  for (const [rawKey, value] of params) {
    const key = rawKey.toLowerCase();
    if (key === 'user' || key === 'database') continue;
    if (rawKey.startsWith('_pq_.')) {
      unsupportedOptions.push(rawKey);
      continue;
    }
    if (key === 'options') {
      const { settings, bad } = parseOptions(value);
      if (bad !== undefined) return { ok: false, refused: 'options', kind: 'param' };
      for (const [k, v] of settings) {
        const lk = k.toLowerCase();
        if (PINNED_BY_GATEWAY.has(lk) || keepsPinned(lk, v, searchPath)) continue;
        const ok = passValue(lk, v);
        if (ok === undefined) return { ok: false, refused: k, kind: 'param' };
        passthrough[lk] = ok;
      }
      continue;
    }
    if (PINNED_BY_GATEWAY.has(key) || keepsPinned(key, value, searchPath)) continue;
    if (key === 'replication') {
      // Only "false"/"off"/"0" (libpq sends nothing when not asked) keep a normal session.
      if (/^(false|off|0|no)$/i.test(value)) continue;
      return { ok: false, refused: rawKey, kind: 'param' };
    }
    const ok = passValue(key, value);
    if (ok === undefined) return { ok: false, refused: rawKey, kind: 'param' };
    passthrough[key] = ok;
  }
  // PostgreSQL truncates names to NAMEDATALEN-1 bytes; keep application_name printable.
  const applicationName = (passthrough['application_name'] ?? '')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 63);
  if ('application_name' in passthrough) passthrough['application_name'] = applicationName;
  return { ok: true, user, database, applicationName, passthrough, unsupportedOptions };
}

/** The value a setting goes upstream with, or undefined when it may not. */
function passValue(key: string, value: string): string | undefined {
  if (PASSTHROUGH.has(key)) return value;
  // A client may make its own transactions read-only by default, not the other way.
  if (key === 'default_transaction_read_only') return ON.test(value) ? 'on' : undefined;
  if (TIMEOUTS.has(key)) {
    const ms = timeoutMs(value);
    return ms === undefined ? undefined : String(ms);
  }
  return undefined;
}

/** Quote an identifier (a schema for search_path, a cursor name) as PostgreSQL reads it. */
export function quoteIdent(s: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(s) ? s : '"' + s.replace(/"/g, '""') + '"';
}

/**
 * The search_path names are read against, and the settings pinned on every upstream session,
 * under a config's `session` options with their defaults (search_path public, the
 * idle-in-transaction timeout 5 minutes).
 */
export function configuredSession(s: {
  searchPath?: string[];
  statementTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
}): { searchPath: string[]; pinned: Record<string, string> } {
  const searchPath = s.searchPath ?? ['public'];
  const problem = searchPathProblem(searchPath);
  if (problem !== undefined) throw new Error(`session.searchPath: ${problem}`);
  const pinned = pinnedSettings({
    searchPath,
    statementTimeoutMs: s.statementTimeoutMs ?? 0,
    idleInTransactionTimeoutMs: s.idleInTransactionTimeoutMs ?? 300_000,
  });
  return { searchPath, pinned };
}

/** Settings pinned on every upstream session, whatever the client asked. */
export function pinnedSettings(opts: {
  searchPath: string[];
  statementTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}): Record<string, string> {
  const s: Record<string, string> = {
    client_encoding: 'UTF8',
    standard_conforming_strings: 'on',
    search_path: opts.searchPath.map(quoteIdent).join(', '),
  };
  if (opts.statementTimeoutMs > 0) s.statement_timeout = String(opts.statementTimeoutMs);
  // A session left idle inside a transaction holds its locks and snapshot for everyone.
  if (opts.idleInTransactionTimeoutMs > 0)
    s.idle_in_transaction_session_timeout = String(opts.idleInTransactionTimeoutMs);
  return s;
}
