// The settings guard. Code PostgreSQL runs for a statement (a function the gateway cannot see
// into, a trigger, a default, a view, a cursor's query) may change standard_conforming_strings
// or client_encoding, which decide how PostgreSQL reads the statement text sent after it;
// PostgreSQL reports such a change only at the ReadyForQuery that ends the work, after text
// pipelined behind it has run. So the gateway puts a guard before that text, in the same
// pipelined group: a Parse of its own that fails unless both settings still have the values
// the gateway parses with. When it fails, PostgreSQL skips the rest of the group up to its
// Sync (and undoes the implicit transaction), and the client gets 42501.
//
// It is a Parse and a Close only: nothing is executed, so the transaction and what may run
// in it (DISCARD ALL, VACUUM, a Query after the group) are as without it, and nothing is left
// behind when it fails (a Parse that fails creates no statement).
import { randomUUID } from 'node:crypto';
import { closeMessage, parseMessage } from '../wire/index.js';

/** 31 two-byte characters: 62 bytes in UTF-8. */
const WIDE = 'ā'.repeat(31);

/**
 * Parses in UTF-8 with standard_conforming_strings on, and in nothing else:
 * - `'\' = '\'` compares two one-backslash strings; with standard_conforming_strings off the
 *   backslashes escape the quotes and the text ends inside a string (42601);
 * - the two aliases are 63 bytes in UTF-8 and differ in their last byte. Read in any other
 *   client encoding their bytes are either invalid there (22021, 22P05) or become longer
 *   text, which PostgreSQL cuts to 63 bytes: the aliases then collide (42712).
 * Every name in it is the gateway's: a search_path the client set cannot stand in.
 */
export const GUARD_SQL = `SELECT 1 FROM (SELECT 1) AS "${WIDE}x", (SELECT 1) AS "${WIDE}y" WHERE '\\' = '\\'`;

/**
 * Whether guards can be sent to a database of this encoding (as reported at login): its
 * wide characters convert to UTF8 and pass SQL_ASCII as they are. Anything else holds
 * statement text behind work that may run code until its answer (or refuses it, in the same
 * group: see batch.ts).
 */
export function guardable(serverEncoding: string | undefined): boolean {
  return (
    serverEncoding === undefined || serverEncoding === 'UTF8' || serverEncoding === 'SQL_ASCII'
  );
}

/** What the guard's Parse fails with when a setting changed. */
export const GUARD_FAILED_CODES: ReadonlySet<string> = new Set([
  '42601', // syntax_error: standard_conforming_strings off
  '42712', // duplicate_alias: text read in another encoding
  '22021', // character_not_in_repertoire: bytes invalid in that encoding
  '22P05', // untranslatable_character
]);

/** Extended messages in one guard: Parse of its statement, Close of it. */
export const GUARD_MESSAGES = 2;

/**
 * One guard's messages, under a name no client can use (the gateway refuses names it never
 * saw): a guard closes what it opens, so a session reuses its name.
 */
export function guardMessages(): Buffer {
  const name = `portcullis guard ${randomUUID()}`;
  return Buffer.concat([parseMessage(name, GUARD_SQL), closeMessage('S', name)]);
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
