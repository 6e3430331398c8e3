// A pipelined group that calls a function the gateway cannot see into (a user function, DO,
// set_config), with statement text after the call in the same group. The call may change
// standard_conforming_strings or client_encoding, which decide how PostgreSQL reads that
// text, and PostgreSQL reports such a change only at the group's end. Before, the gateway
// refused the whole group (42501); drivers that pipeline (psycopg 3's pipeline mode,
// pgjdbc's executeBatch) met that. Now the group runs as it would directly, unless the call
// did change one of them: then the text after it never runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  type RawClient,
  close,
  extendedStep,
  fields,
  flush,
  messageTypes,
  query,
  rows,
  sync,
  untilQuiet,
} from './helpers/raw.js';
import { run } from './helpers/spawn.js';

const DB = 'dp_pipelined_calls';
const PYTHON = '/usr/bin/python3';
let g: TestGateway;
let admin: pg.Client;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE victims (id int);
     INSERT INTO victims SELECT generate_series(1, 10);
     CREATE TABLE log (n int);
     CREATE FUNCTION bump(n int) RETURNS int LANGUAGE plpgsql AS
       $$ BEGIN INSERT INTO log VALUES (n); RETURN n + 1; END $$;
     CREATE FUNCTION quietly_off() RETURNS int LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); RETURN 1; END $$;
     CREATE FUNCTION to_latin1() RETURNS int LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('client_encoding', 'LATIN1', false); RETURN 1; END $$;`,
  );
  g = await startTestGateway(DB);
  admin = await adminClient(DB);
});
afterAll(async () => {
  await admin?.end();
  await g?.stop();
});

const raw = (): Promise<RawClient> => rawLogin(g, DB);

async function logged(): Promise<number[]> {
  return (await admin.query('SELECT n FROM log ORDER BY n')).rows.map((r) => r.n);
}

/** Parsed with standard_conforming_strings on, two constants; with it off, every id. */
const SMUGGLED = "SELECT 'a\\' , ' , id FROM victims --'";

describe('statement text pipelined behind a call the gateway cannot see into', () => {
  it('runs as it does directly when the call leaves the settings alone', async () => {
    await admin.query('TRUNCATE log');
    const c = await raw();
    await c.write(
      Buffer.concat([
        ...extendedStep('SELECT bump(1)'),
        ...extendedStep('SELECT bump(10)', 'named'),
        ...extendedStep("SELECT set_config('application_name', 'batch', false)"),
        ...extendedStep('SELECT count(*) FROM log'),
        close('S', 'named'),
        sync(),
      ]),
    );
    const ms = await untilQuiet(c, 'Z');
    expect(messageTypes(ms.filter((m) => m.type !== 'S'))).toBe('12DC12DC12DC12DC3Z');
    expect(rows(ms)).toEqual([['2'], ['11'], ['batch'], ['2']]);
    expect(await logged()).toEqual([1, 10]);
    // Nothing of the gateway's is left behind in the session.
    expect(rows(await c.simple('SELECT count(*) FROM pg_prepared_statements'))).toEqual([['0']]);
    expect(rows(await c.simple('SELECT count(*) FROM pg_cursors'))).toEqual([['0']]);
    c.destroy();
  });

  it('a call that turns standard_conforming_strings off: what follows never runs, the group is undone', async () => {
    await admin.query('TRUNCATE log');
    const c = await raw();
    await c.write(
      Buffer.concat([
        ...extendedStep('SELECT bump(1)'),
        ...extendedStep('SELECT quietly_off()'),
        ...extendedStep(SMUGGLED),
        ...extendedStep('SELECT bump(2)'),
        sync(),
      ]),
    );
    const ms = await untilQuiet(c, 'Z');
    expect(messageTypes(ms)).toBe('12DC12DCEZ');
    expect(fields(ms[8]).C).toBe('42501');
    expect(fields(ms[8]).M).toMatch(/standard_conforming_strings or client_encoding/);
    // The implicit transaction failed: the first call's insert and the setting are undone.
    expect(await logged()).toEqual([]);
    expect(rows(await c.simple('SHOW standard_conforming_strings'))).toEqual([['on']]);
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });

  it('a call that switches client_encoding: what follows never runs', async () => {
    await admin.query('TRUNCATE log');
    const c = await raw();
    await c.write(
      Buffer.concat([
        ...extendedStep('SELECT to_latin1()'),
        ...extendedStep('SELECT bump(5)'),
        sync(),
      ]),
    );
    const ms = await untilQuiet(c, 'Z');
    expect(messageTypes(ms)).toBe('12DCEZ');
    expect(fields(ms[4]).C).toBe('42501');
    expect(await logged()).toEqual([]);
    expect(rows(await c.simple('SHOW client_encoding'))).toEqual([['UTF8']]);
    c.destroy();
  });

  it('a Flush between the call and the text changes nothing', async () => {
    await admin.query('TRUNCATE log');
    const c = await raw();
    await c.write(Buffer.concat([...extendedStep('SELECT bump(3)'), flush()]));
    expect(messageTypes(await untilQuiet(c, 'C'))).toBe('12DC');
    await c.write(Buffer.concat([...extendedStep('SELECT bump(4)'), sync()]));
    expect(messageTypes(await untilQuiet(c, 'Z'))).toBe('12DCZ');
    expect(await logged()).toEqual([3, 4]);

    await c.write(Buffer.concat([...extendedStep('SELECT quietly_off()'), flush()]));
    expect(messageTypes(await untilQuiet(c, 'C'))).toBe('12DC');
    await c.write(Buffer.concat([...extendedStep(SMUGGLED), sync()]));
    const ms = await untilQuiet(c, 'Z');
    expect(messageTypes(ms)).toBe('EZ');
    expect(fields(ms[0]).C).toBe('42501');
    expect(rows(await c.simple('SHOW standard_conforming_strings'))).toEqual([['on']]);
    c.destroy();
  });

  it('a simple Query behind the call, before any Sync, runs after it (or not at all)', async () => {
    await admin.query('TRUNCATE log');
    const c = await raw();
    await c.write(Buffer.concat([...extendedStep('SELECT bump(7)'), query('SELECT bump(8)')]));
    const ms = await untilQuiet(c, 'Z');
    // As directly: the Query runs in the transaction the extended messages opened.
    expect(messageTypes(ms.filter((m) => m.type !== 'S'))).toBe('12DCTDCZ');
    expect(rows(await c.simple('SELECT n FROM log ORDER BY n'))).toEqual([['7'], ['8']]);
    await c.simple('ROLLBACK');

    await c.write(Buffer.concat([...extendedStep('SELECT quietly_off()'), query(SMUGGLED)]));
    // PostgreSQL skips the Query after the error, up to the Sync the client sends.
    const failed = await untilQuiet(c, 'E');
    expect(messageTypes(failed)).toBe('12DCE');
    expect(fields(failed[4]).C).toBe('42501');
    await c.write(sync());
    expect(messageTypes(await untilQuiet(c, 'Z'))).toBe('Z');
    expect(rows(await c.simple('SHOW standard_conforming_strings'))).toEqual([['on']]);
    c.destroy();
  });

  it('psycopg 3: pipeline mode and executemany through a user function', async () => {
    await admin.query('TRUNCATE log');
    const script = `
import json, sys, psycopg
with psycopg.connect(sys.argv[1], prepare_threshold=None, autocommit=True) as conn:
    with conn.pipeline():
        a = conn.execute("SELECT bump(%s)", (20,))
        b = conn.execute("SELECT count(*) FROM log")
    with conn.cursor() as cur:
        cur.executemany("SELECT bump(%s)", [(30,), (31,), (32,)])
    print(json.dumps([a.fetchone()[0], b.fetchone()[0]]))
`;
    const r = await run(PYTHON, ['-c', script, g.conninfo(DB)], {
      env: { PGPASSWORD: await g.token() },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([21, 1]);
    expect(await logged()).toEqual([20, 30, 31, 32]);
  });
});
