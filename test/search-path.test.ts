// A function the policy allows can move the upstream session's search_path with set_config
// (a multi-tenant set_tenant(text)); the gateway reads unqualified names against the pinned
// one. Before, `SELECT * FROM data` after such a call was decided as public.data and read
// secret.data: its secret reached the client. PostgreSQL 18 reports search_path when a Query
// or Sync leaves it changed; the session is now closed at that report (FATAL 42501), and
// nothing PostgreSQL sent after it reaches the client. Statements after the call in the
// same Query string run before that report: one of them that names a relation without its
// schema is now refused, with the whole string (before, `SELECT set_tenant(…); SELECT * FROM
// data` returned secret.data's rows); so is one after a set_config or SET of search_path in
// the same Sync group. A call of such a function in a group is not counted (drivers pipeline
// calls and statements), so statements after it in the group still run before the report.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  type Message,
  type RawClient,
  bind,
  execute,
  extendedStep,
  fields,
  flush,
  parse,
  query,
  rows,
  sync,
} from './helpers/raw.js';

const DB = 'dp_search_path';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE SCHEMA secret;
     CREATE TABLE secret.data (v text);
     INSERT INTO secret.data VALUES ('tenant-secret-row');
     CREATE TABLE public.data (v text);
     INSERT INTO public.data VALUES ('harmless');
     CREATE FUNCTION set_tenant(t text) RETURNS int LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('search_path', t, false); RETURN 1; END $$;
     CREATE FUNCTION definer_path() RETURNS text LANGUAGE sql SECURITY DEFINER
       SET search_path = pg_catalog AS $$ SELECT current_setting('search_path') $$;
     CREATE TABLE secret.sink (v text);
     CREATE TABLE public.sink (v text);
     CREATE SEQUENCE secret.seq START 777000;
     CREATE SEQUENCE public.seq START 1;
     CREATE SEQUENCE secret.seq2 START 888000;
     CREATE SEQUENCE public.seq2 START 1;
     -- Per-tenant functions of the same name (multi-tenant schemas).
     CREATE FUNCTION public.data_rows() RETURNS SETOF text LANGUAGE sql AS
       $$ SELECT v FROM public.data $$;
     CREATE FUNCTION secret.data_rows() RETURNS SETOF text LANGUAGE sql AS
       $$ SELECT v FROM secret.data $$;`,
  );
  // Everything is allowed but relations in the schema `secret`.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/search-path.rego'] } });
});
afterAll(async () => {
  await g?.stop();
});

const raw = (): Promise<RawClient> => rawLogin(g, DB);

/** A secret row, or a secret sequence's value, in the messages. */
function leaked(ms: Message[]): boolean {
  return ms.some((m) => /tenant-secret-row|777000|888000/.test(m.body.toString('latin1')));
}

/** The first row of an admin query (past the gateway). */
async function adminValue<T>(sql: string): Promise<T> {
  const admin = await adminClient(DB);
  try {
    return (await admin.query(sql)).rows[0] as T;
  } finally {
    await admin.end();
  }
}

/** Rows holding `v` in public.data and secret.data: a write that landed. */
async function landed(v: string): Promise<number> {
  const r = await adminValue<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT v FROM public.data UNION ALL SELECT v FROM secret.data) t WHERE v = '${v}'`,
  );
  return r.n;
}

/** Messages up to the second ReadyForQuery, or until the session is closed. */
async function twoAnswers(c: RawClient): Promise<Message[]> {
  return [...(await c.until('Z')), ...(await c.until('Z'))];
}

/** The session was closed with the unsafe-setting error, and no secret reached the client. */
function closedUnleaked(c: RawClient, ms: Message[]): void {
  expect(leaked(ms)).toBe(false);
  expect(c.ended).toBe(true);
  const last = ms
    .filter((m) => m.type === 'E')
    .map(fields)
    .at(-1);
  expect(last).toMatchObject({ S: 'FATAL', C: '42501' });
  expect(last?.M).toMatch(/search_path changed/);
  // The changed value itself is not passed on either.
  expect(ms.some((m) => m.type === 'S')).toBe(false);
}

describe('a search_path moved by a function the policy allows', () => {
  it('regression: set_tenant() then SELECT * FROM data (separate Queries): the session is closed, the secret schema is never read to the client', async () => {
    const c = await raw();
    await c.write(query("SELECT set_tenant('secret, public')"));
    const first = await c.until('Z');
    await c.write(query('SELECT * FROM data'));
    const second = await c.until('Z');
    closedUnleaked(c, [...first, ...second]);
  });

  it('the same pipelined (both Queries written at once)', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([query("SELECT set_tenant('secret, public')"), query('SELECT * FROM data')]),
    );
    closedUnleaked(c, await twoAnswers(c));
  });

  it('the same in extended protocol, a Sync between the call and the read', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        ...extendedStep("SELECT set_tenant('secret, public')"),
        sync(),
        ...extendedStep('SELECT * FROM data'),
        sync(),
      ]),
    );
    closedUnleaked(c, await twoAnswers(c));
  });

  it('a write in a group pipelined behind the call waits for its answer and never runs', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        ...extendedStep("SELECT set_tenant('secret, public')"),
        sync(),
        ...extendedStep("INSERT INTO data VALUES ('pipelined-write')"),
        sync(),
      ]),
    );
    closedUnleaked(c, await twoAnswers(c));
    expect(await landed('pipelined-write')).toBe(0);
  });

  it('SET search_path to the pinned value, SET LOCAL, set_config of the same value or of the empty path pg_dump sets, and a function with its own SET search_path keep the session usable', async () => {
    const c = await raw();
    for (const sql of [
      'SET search_path TO public',
      'SET search_path = "public"',
      "BEGIN; SET LOCAL search_path = 'public'; COMMIT",
      "SELECT set_tenant('public')",
    ]) {
      const ms = await c.simple(sql);
      expect(ms.filter((m) => m.type === 'E').map(fields), sql).toEqual([]);
    }
    expect(rows(await c.simple('SELECT definer_path()'))).toEqual([['pg_catalog']]);
    expect(rows(await c.simple('SELECT * FROM data'))).toEqual([['harmless']]);
    expect(rows(await c.simple('SHOW search_path'))).toEqual([['public']]);
    // pg_dump's and pg_restore's empty path: unqualified names resolve nowhere but
    // pg_catalog (and pg_temp), as under the pinned one.
    expect(rows(await c.simple("SELECT pg_catalog.set_config('search_path', '', false)"))).toEqual([
      [''],
    ]);
    const none = await c.simple('SELECT * FROM data');
    expect(none.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42P01']);
    expect(rows(await c.simple('SELECT count(*) FROM public.data'))).toEqual([['1']]);
    expect(rows(await c.simple('SET search_path TO public; SELECT * FROM data'))).toEqual([
      ['harmless'],
    ]);
    // The policy refuses the secret schema when it is named; the session goes on.
    const named = await c.simple('SELECT * FROM secret.data');
    expect(leaked(named)).toBe(false);
    expect(named.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42501']);
    expect(c.ended).toBe(false);
    c.destroy();
  });
});

describe('a statement after a search_path move in the same unit of work', () => {
  const MOVE = "SELECT set_config('search_path', 'secret, public', false)";

  /** Refused whole as one that may read by a moved path; the session goes on, unmoved. */
  async function refusedUnmoved(c: RawClient, ms: Message[], by = 'set_tenant'): Promise<void> {
    expect(leaked(ms)).toBe(false);
    const errs = ms.filter((m) => m.type === 'E').map(fields);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ S: 'ERROR', C: '42501' });
    expect(errs[0].M).toContain(`without its schema after ${by}()`);
    expect(ms.some((m) => m.type === 'S')).toBe(false);
    expect(c.ended).toBe(false);
    // Nothing of the unit ran: the path is the pinned one.
    expect(rows(await c.simple('SHOW search_path'))).toEqual([['public']]);
    expect(rows(await c.simple('SELECT * FROM data'))).toEqual([['harmless']]);
  }

  it('regression: set_tenant() then SELECT * FROM data in one Query string is refused; the secret schema is never read', async () => {
    const c = await raw();
    await c.write(query("SELECT set_tenant('secret, public'); SELECT * FROM data"));
    await refusedUnmoved(c, await c.until('Z'));
    c.destroy();
  });

  it('regression: set_config of search_path in an extended group (one Sync), then a write and a read by the path: nothing runs', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        ...extendedStep(MOVE),
        ...extendedStep("INSERT INTO data VALUES ('same-group-write')"),
        ...extendedStep('SELECT * FROM data'),
        sync(),
      ]),
    );
    await refusedUnmoved(c, await c.until('Z'), 'set_config');
    expect(await landed('same-group-write')).toBe(0);
  });

  it('regression: a statement prepared before the set_config and run after it in the group (PostgreSQL plans it again under the moved path) is refused', async () => {
    const c = await raw();
    await c.write(Buffer.concat([parse('read_data', 'SELECT * FROM data'), sync()]));
    expect((await c.until('Z')).filter((m) => m.type === 'E')).toEqual([]);
    await c.write(Buffer.concat([...extendedStep(MOVE), bind('', 'read_data'), execute(), sync()]));
    await refusedUnmoved(c, await c.until('Z'), 'set_config');
    c.destroy();
  });

  it('regression: the set_config sent at a Flush and the read after it, before the Sync: the read is refused', async () => {
    const c = await raw();
    await c.write(Buffer.concat([...extendedStep(MOVE), flush()]));
    await c.until('C');
    await c.write(Buffer.concat([...extendedStep('SELECT * FROM data'), sync()]));
    const ms = await c.until('Z');
    expect(leaked(ms)).toBe(false);
    expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42501']);
    // The set_config ran in the implicit transaction the refusal ended: undone with it.
    expect(c.ended).toBe(false);
    expect(rows(await c.simple('SHOW search_path'))).toEqual([['public']]);
    c.destroy();
  });

  it('regression: SET search_path to another value, then an unqualified read in the same Query string, is refused', async () => {
    const c = await raw();
    const ms = await c.simple('SET search_path TO secret, public; SELECT * FROM data');
    expect(leaked(ms)).toBe(false);
    const errs = ms.filter((m) => m.type === 'E').map(fields);
    expect(errs.map((e) => e.C)).toEqual(['42501']);
    expect(errs[0].M).toContain('without its schema after SET,');
    expect(c.ended).toBe(false);
    expect(rows(await c.simple('SHOW search_path'))).toEqual([['public']]);
    c.destroy();
  });

  it('names qualified with their schema, a SET of the pinned path, a DO block, and a call in a unit of its own still run', async () => {
    const c = await raw();
    expect(rows(await c.simple("SELECT set_tenant('public'); SELECT v FROM public.data"))).toEqual([
      ['1'],
      ['harmless'],
    ]);
    expect(rows(await c.simple('SET search_path TO public; SELECT * FROM data'))).toEqual([
      ['harmless'],
    ]);
    // Code the client writes itself is not counted (a policy that allows it allows what it
    // reads).
    expect(rows(await c.simple('DO $$ BEGIN PERFORM 1; END $$; SELECT * FROM data'))).toEqual([
      ['harmless'],
    ]);
    await c.write(
      Buffer.concat([
        ...extendedStep("SELECT set_tenant('public')"),
        ...extendedStep('SELECT v FROM public.data'),
        sync(),
      ]),
    );
    expect(rows(await c.until('Z'))).toEqual([['1'], ['harmless']]);
    expect(rows(await c.simple('SELECT * FROM data'))).toEqual([['harmless']]);
    expect(c.ended).toBe(false);
    c.destroy();
  });
});

describe('other ways a unit of work moves search_path or names by it', () => {
  const MOVE = "SELECT set_config('search_path', 'secret, public', false)";

  /** No secret reached the client and the unit was refused with 42501. */
  function refusedUnleaked(ms: Message[]): void {
    expect(leaked(ms)).toBe(false);
    expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toContain('42501');
  }

  async function simpleUnit(sql: string): Promise<Message[]> {
    const c = await raw();
    await c.write(query(sql));
    const ms = await c.until('Z');
    c.destroy();
    return ms;
  }

  async function groupUnit(stmts: string[]): Promise<Message[]> {
    const c = await raw();
    await c.write(Buffer.concat([...stmts.flatMap((s) => extendedStep(s)), sync()]));
    const ms = await c.until('Z');
    c.destroy();
    return ms;
  }

  // Before, each of these read or wrote the schema `secret` before PostgreSQL's report closed
  // the session: the names were not marked as found by search_path, or the move not seen.
  it("regression: nextval('seq') after the move in one Query string: secret.seq's value does not reach the client, nor is it advanced", async () => {
    refusedUnleaked(await simpleUnit(`${MOVE}; SELECT nextval('seq')`));
    expect(await adminValue('SELECT is_called FROM secret.seq')).toEqual({ is_called: false });
  });

  it("regression: setval('seq2', 5) after the move in one group: the write does not land in secret.seq2", async () => {
    refusedUnleaked(await groupUnit([MOVE, "SELECT setval('seq2', 5)"]));
    expect(await adminValue('SELECT last_value::int AS v FROM secret.seq2')).toEqual({ v: 888000 });
  });

  it('regression: a function named without its schema after the move (secret.data_rows() would run), in FROM or as a value, as a Query string and as a group', async () => {
    refusedUnleaked(await simpleUnit(`${MOVE}; SELECT * FROM data_rows()`));
    refusedUnleaked(await groupUnit([MOVE, 'SELECT * FROM data_rows()']));
    refusedUnleaked(await simpleUnit(`${MOVE}; SELECT data_rows()`));
  });

  it('regression: UPDATE pg_settings (its rule calls set_config) moves it too: a read and a write after it are refused', async () => {
    const pgs = "UPDATE pg_settings SET setting = 'secret, public' WHERE name = 'search_path'";
    refusedUnleaked(await simpleUnit(`${pgs}; SELECT * FROM data`));
    refusedUnleaked(await groupUnit([pgs, 'SELECT * FROM data']));
    const ms = await simpleUnit(`${pgs}; INSERT INTO sink VALUES ('pg-settings-write')`);
    expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toContain('42501');
    expect(
      await adminValue("SELECT count(*)::int AS n FROM secret.sink WHERE v = 'pg-settings-write'"),
    ).toEqual({ n: 0 });
  });

  it('regression: FETCH from a cursor declared earlier over set_config, then a read, as a Query string and as a group', async () => {
    for (const send of [
      () => query('FETCH c; SELECT * FROM data'),
      () =>
        Buffer.concat([...extendedStep('FETCH c'), ...extendedStep('SELECT * FROM data'), sync()]),
    ]) {
      const c = await raw();
      await c.simple(`BEGIN; DECLARE c CURSOR FOR ${MOVE}`);
      await c.write(send());
      const ms = await c.until('Z');
      c.destroy();
      refusedUnleaked(ms);
    }
  });

  it("regression: a Query sent behind a group with no Sync yet runs in its implicit transaction: written at once, or after the group's Flush was answered", async () => {
    const c = await raw();
    await c.write(Buffer.concat([...extendedStep(MOVE), query('SELECT * FROM data')]));
    refusedUnleaked(await c.until('Z'));
    c.destroy();
    const d = await raw();
    await d.write(Buffer.concat([...extendedStep(MOVE), flush()]));
    const first = await d.until('C');
    await d.write(query('SELECT * FROM data'));
    refusedUnleaked([...first, ...(await d.until('Z'))]);
    d.destroy();
  });
});
