// The settings guard. Within one pipelined group a call the gateway cannot see into (a user
// function, DO, set_config) may change standard_conforming_strings or client_encoding, which
// decide how PostgreSQL reads the statement text sent after it; PostgreSQL reports such a
// change only at the group's ReadyForQuery, after that text has run. So the gateway puts a
// guard before that text: a statement of its own that fails unless both settings still have
// the values the gateway parsed with. When it fails, PostgreSQL skips the rest of the group
// up to its Sync (and undoes the implicit transaction), and the client gets 42501.
import { randomUUID } from 'node:crypto';
import { bindMessage, closeMessage, executeMessage, parseMessage } from '../wire/index.js';

/**
 * Written without backslashes, so it reads the same under either setting, and with every name
 * qualified (a search_path the client set cannot stand in). It returns no row when the
 * settings are safe, and fails casting their text to an integer when not. current_setting is
 * stable: the planner does not fold it.
 */
export const GUARD_SQL =
  'SELECT CAST(s AS pg_catalog.int4) FROM (SELECT pg_catalog.concat(' +
  "pg_catalog.current_setting('client_encoding'), ' ', " +
  "pg_catalog.current_setting('standard_conforming_strings')) AS s) AS portcullis_guard " +
  "WHERE s OPERATOR(pg_catalog.<>) 'UTF8 on'";

/** The SQLSTATE of the guard's check failing (invalid_text_representation). */
export const GUARD_FAILED_CODE = '22P02';

/** Extended messages in one guard: Parse, Bind, Execute, Close of the portal and statement. */
export const GUARD_MESSAGES = 5;

/**
 * One guard's messages, under names no client can use (the gateway refuses names it never
 * saw): a guard closes what it opens, so a session reuses its names.
 */
export function guardMessages(): Buffer {
  const name = `portcullis guard ${randomUUID()}`;
  return Buffer.concat([
    parseMessage(name, GUARD_SQL),
    bindMessage(name, name),
    executeMessage(name),
    closeMessage('P', name),
    closeMessage('S', name),
  ]);
}

/**
 * How many guards go before message `at` of a group. `guards`: where each starts among the
 * messages sent, every guard before it counted in.
 */
export function guardsBefore(guards: readonly number[] | undefined, at: number): number {
  let n = 0;
  if (guards) for (const g of guards) if (g - n * GUARD_MESSAGES <= at) n++;
  return n;
}
