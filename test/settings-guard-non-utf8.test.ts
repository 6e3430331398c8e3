// An upstream database whose encoding is neither UTF8 nor SQL_ASCII: the settings guard's
// text cannot be sent there. In an EUC_JP database a function can switch client_encoding to
// SJIS, where the UTF-8 bytes of 'ā' (C4 81) followed by a backslash read as a katakana and a
// two-byte character: the backslash the gateway reads as escaping a quote in E'...' is
// swallowed, and the quote ends the string for PostgreSQL. Before, the gateway checked only
// standard_conforming_strings there, and such text read a table the policy refuses. Now
// statement text behind such work is refused in its group, and waits for the answer of
// earlier groups.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminClient, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { bind, execute, fields, parse, sync } from './helpers/raw.js';
import { FORBIDDEN_SQL, leaked } from './helpers/smuggling.js';

const DB = 'dp_settings_guard_eucjp';
let g: TestGateway;

beforeAll(async () => {
  const a = await adminClient();
  await a.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await a.query(
    `CREATE DATABASE ${DB} ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
  );
  await a.end();
  const d = await adminClient(DB);
  await d.query(
    `${FORBIDDEN_SQL}
     CREATE FUNCTION to_sjis() RETURNS int LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('client_encoding', 'SJIS', true); RETURN 1; END $$;
     CREATE FUNCTION to_sjis_for_good() RETURNS int LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('client_encoding', 'SJIS', false); RETURN 1; END $$;`,
  );
  await d.end();
  g = await startTestGateway(DB, { policy: { files: ['test/policies/names.rego'] } });
});
afterAll(async () => {
  await g?.stop();
});

/** One escape-string constant read in UTF-8; reads `forbidden` when read in SJIS. */
const SMUGGLED = "SELECT E'\u0101\\' , (SELECT secret FROM forbidden) AS s --'";

it('the policy refuses the table read directly', async () => {
  const c = await rawLogin(g, DB);
  const ms = await c.simple('SELECT secret FROM forbidden');
  expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('42501');
  c.destroy();
});

it('text behind a call that switched client_encoding in the group does not read the refused table', async () => {
  const c = await rawLogin(g, DB);
  await c.write(
    Buffer.concat([
      parse('', 'SELECT to_sjis()'),
      bind('', ''),
      execute(),
      parse('', SMUGGLED),
      bind('', ''),
      execute(),
      sync(),
    ]),
  );
  const ms = (await c.until('Z')).filter((m) => m.type !== 'N');
  expect(leaked(ms)).toBe(false);
  expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42501']);
  c.destroy();
});

it('text in a group pipelined behind one whose call switched client_encoding waits for its answer', async () => {
  const c = await rawLogin(g, DB);
  await c.write(
    Buffer.concat([
      parse('', 'SELECT to_sjis_for_good()'),
      bind('', ''),
      execute(),
      sync(),
      parse('', SMUGGLED),
      bind('', ''),
      execute(),
      sync(),
    ]),
  );
  // The first group's answer reports the change: the session is closed before the second
  // group goes upstream.
  const ms = await c.rest(20_000);
  expect(leaked(ms)).toBe(false);
  expect(c.ended).toBe(true);
  expect(fields(ms.filter((m) => m.type === 'E').at(-1)!).C).toBe('42501');
});
