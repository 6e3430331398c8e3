// Settings that decide how the gateway's parser reads SQL, and statements that may change them.
import type { StatementFacts } from '../sql/types.js';
import { ClientError, type ErrorFields } from '../wire/index.js';

const PARSER_SETTINGS = new Set(['standard_conforming_strings', 'client_encoding']);

/**
 * Whether a statement names a change to a setting the parser depends on: SET/RESET of one of
 * them (or RESET ALL), set_config(), a write to pg_settings, opaque code (DO), and functions
 * the gateway does not know (they may call set_config). Its answer is awaited before anything after it is read;
 * code it runs without naming it is met by the settings guard (see mayRunCode).
 */
export function mayChangeSettings(f: StatementFacts): boolean {
  const set = f.set as { name?: string | null } | undefined;
  if (set) return set.name == null || PARSER_SETTINGS.has(set.name);
  return (
    f.class === 'unknown' ||
    f.opaque ||
    f.functions.some((fn) => fn.name === 'set_config' || fn.effect === 'unknown') ||
    // pg_settings' update rule calls set_config.
    f.relations.some(
      (r) => r.access === 'write' && r.schema === 'pg_catalog' && r.name === 'pg_settings',
    )
  );
}

/** Transaction statements that run no code (COMMIT may run deferred triggers). */
const QUIET_TRANSACTION = new Set([
  'begin',
  'start',
  'rollback',
  'savepoint',
  'release',
  'rollback_to',
  'set_transaction',
]);

/** Statements that run no code: nothing in them is executed, planned or analysed. */
const QUIET_COMMANDS = new Set([
  'SHOW',
  'LISTEN',
  'UNLISTEN',
  'NOTIFY',
  'DEALLOCATE',
  'DEALLOCATE ALL',
  'CLOSE CURSOR',
  'CLOSE CURSOR ALL',
]);

/**
 * Whether running a statement may change a setting the parser depends on, counting code
 * PostgreSQL runs that the statement does not name: a trigger, a column default, a view's
 * query, a domain's CHECK, a row-level security policy, a function folded while planning.
 * That is any statement but a SET of another setting and a few that run no code.
 */
export function mayRunCode(f: StatementFacts): boolean {
  if (f.set) return mayChangeSettings(f);
  const tx = f.transaction as { kind?: string } | undefined;
  if (tx?.kind) return !QUIET_TRANSACTION.has(tx.kind);
  return f.opaque || !QUIET_COMMANDS.has(f.command);
}

/** Whether a reported setting value leaves the parser's assumptions intact. */
export function safeParameterStatus(name: string, value: string): boolean {
  if (name === 'standard_conforming_strings') return value === 'on';
  // PostgreSQL reports UTF8 set as 'UNICODE' under that name (for old JDBC drivers).
  if (name === 'client_encoding') return ['UTF8', 'UNICODE'].includes(value.toUpperCase());
  return true;
}

/** A settings guard found them changed within a pipelined group (see guard.ts). */
export function settingsChangedError(): ErrorFields {
  return ClientError.denied(
    'statement refused: a statement earlier in this pipeline changed standard_conforming_strings or client_encoding, which decide how the statements after it are read',
    undefined,
    'the gateway reads SQL with standard_conforming_strings on and client_encoding UTF8; leave them so',
  );
}

export function settingsInDoubtError(): ErrorFields {
  return ClientError.denied(
    'statement refused: an earlier statement in this pipeline may have changed a setting that decides how SQL is parsed',
    undefined,
    'send Sync and wait for its result before sending more statements',
  );
}
