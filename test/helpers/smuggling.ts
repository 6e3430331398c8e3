// Statement text whose meaning depends on standard_conforming_strings, and a table a policy
// refuses to read (test/policies/names.rego refuses `forbidden`), for the settings-guard
// tests: text that reads the table only when PostgreSQL reads it with other settings than
// the gateway's must never return its secret.
import type { Message } from './raw.js';

/** Creates the refused table and its secret row. */
export const FORBIDDEN_SQL = `CREATE TABLE forbidden (secret text);
     INSERT INTO forbidden VALUES ('hunter2-secret');`;

/** Two constants with standard_conforming_strings on; reads `forbidden` with it off. */
export const SMUGGLED = "SELECT 'a\\' , ' , secret FROM forbidden --'";

/** Whether a message of the list carries the refused table's secret. */
export function leaked(ms: Message[]): boolean {
  return ms.some((m) => m.body.toString('latin1').includes('hunter2-secret'));
}
