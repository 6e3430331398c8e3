// A Parse or a Bind runs code too: PostgreSQL plans the statement at Bind, folding an
// IMMUTABLE function with constant arguments, converts parameters (a domain's CHECK), and
// converts typed literals while parsing (an array of a domain). Code run there can turn
// standard_conforming_strings off for the rest of the implicit transaction
// (set_config(..., true): never reported, not even at ReadyForQuery). Before, only an Execute
// put a settings guard before the next Parse of the group, so text the gateway read as two
// constants read a table the policy refuses.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { bind, execute, fields, parse, query, sync } from './helpers/raw.js';
import { FORBIDDEN_SQL, leaked, SMUGGLED } from './helpers/smuggling.js';

const DB = 'dp_settings_guard_bind';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `${FORBIDDEN_SQL}
     CREATE FUNCTION folded_off() RETURNS int LANGUAGE plpgsql IMMUTABLE AS
       $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', true); RETURN 1; END $$;
     CREATE FUNCTION check_off(int) RETURNS boolean LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', true); RETURN true; END $$;
     CREATE DOMAIN dom AS int CHECK (check_off(VALUE));`,
  );
  g = await startTestGateway(DB, { policy: { files: ['test/policies/names.rego'] } });
});
afterAll(async () => {
  await g?.stop();
});

it.each([
  [
    'an IMMUTABLE function folded while planning at Bind',
    [parse('s1', 'SELECT folded_off()'), bind('p1', 's1')],
  ],
  [
    "a domain's CHECK run converting a Bind parameter",
    [parse('s1', 'SELECT $1::dom'), bind('p1', 's1', ['1'])],
  ],
  // Parse analysis converts a typed literal with its type's input function: an array's (or a
  // row type's) runs its element domain's CHECK.
  [
    "a domain's CHECK run by a Parse alone (an array literal)",
    [parse('s1', "SELECT '{1}'::dom[]")],
  ],
  [
    'the same in a PREPARE (counted among the statements that run no code)',
    [parse('', "PREPARE p AS SELECT '{1}'::dom[]"), bind('', ''), execute()],
  ],
])('%s: the text after it does not read the refused table', async (_what, first) => {
  const c = await rawLogin(g, DB);
  // Nothing of the first statement is executed (or, for PREPARE, nothing but the PREPARE).
  await c.write(Buffer.concat([...first, parse('', SMUGGLED), bind('', ''), execute(), sync()]));
  const ms = (await c.until('Z')).filter((m) => m.type !== 'N');
  expect(leaked(ms)).toBe(false);
  expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42501']);
  c.destroy();
});

it('a simple Query behind an unsynced Bind that ran code: the Query does not read the refused table', async () => {
  const c = await rawLogin(g, DB);
  await c.write(
    Buffer.concat([parse('s1', 'SELECT folded_off()'), bind('p1', 's1'), query(SMUGGLED)]),
  );
  // The guard before the Query failed: PostgreSQL skips the Query, up to the client's Sync.
  const failed = (await c.until('E')).filter((m) => m.type !== 'N');
  expect(leaked(failed)).toBe(false);
  expect(fields(failed.at(-1)!).C).toBe('42501');
  await c.write(sync());
  const ms = await c.until('Z');
  expect(leaked(ms)).toBe(false);
  expect(ms.map((m) => m.type).join('')).toBe('Z');
  c.destroy();
});
