// Session settings through the gateway: ParameterStatus passthrough, and the settings the
// gateway's parser depends on (standard_conforming_strings, client_encoding) fail closed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  rawLogin,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  RawClient,
  bind,
  execute,
  fields,
  flush,
  parse,
  query,
  rows,
  startup,
  sync,
  type Message,
  untilQuiet,
} from './helpers/raw.js';

const DB = 'dp_settings';
let g: TestGateway;
let admin: pg.Client;

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE victims (id int); INSERT INTO victims SELECT generate_series(1, 10); CREATE SEQUENCE seq;',
  );
  g = await startTestGateway(DB);
  admin = await adminClient(DB);
});
afterAll(async () => {
  await admin?.end();
  await g?.stop();
});

const raw = (): Promise<RawClient> => rawLogin(g, DB);

function status(ms: Message[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of ms.filter((x) => x.type === 'S')) {
    const [k, v] = m.body.toString('utf8').split('\0');
    out[k] = v;
  }
  return out;
}

async function victims(): Promise<number> {
  return (await admin.query('SELECT count(*)::int AS n FROM victims')).rows[0].n;
}

describe('session settings', () => {
  it('login reports the pinned settings; SET application_name comes back as ParameterStatus', async () => {
    const c = await RawClient.connect(g.port);
    const login = await c.login(DB, await g.token());
    const st = status(login);
    expect(st.client_encoding).toBe('UTF8');
    expect(st.standard_conforming_strings).toBe('on');
    expect(st.server_version).toMatch(/^\d+/);
    const ms = await c.simple("SET application_name = 'agent-app'");
    expect(status(ms).application_name).toBe('agent-app');
    c.destroy();
  });

  it('timeouts as startup parameters (node-postgres, slonik): accepted when bounded, the pinned idle timeout only lowered', async () => {
    const client = async (opts: Record<string, unknown>) =>
      new pg.Client({
        host: '127.0.0.1',
        port: g.port,
        user: 'agent-1',
        database: DB,
        password: await g.token(),
        ...opts,
      });
    const show = async (opts: Record<string, unknown>) => {
      const c = await client(opts);
      await c.connect();
      try {
        const r = await c.query(
          'SELECT current_setting($1) AS st, current_setting($2) AS lt, current_setting($3) AS it',
          ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'],
        );
        return r.rows[0];
      } finally {
        await c.end();
      }
    };
    expect(
      await show({
        statement_timeout: 60000,
        lock_timeout: 5000,
        idle_in_transaction_session_timeout: 60000,
      }),
    ).toEqual({ st: '1min', lt: '5s', it: '1min' });
    // Above the pinned 5 minutes: the pinned value stands.
    expect((await show({ idle_in_transaction_session_timeout: 3600000 })).it).toBe('5min');
    // A value PostgreSQL reads as "off" is refused at login.
    for (const [k, v] of [
      ['statement_timeout', '0'],
      ['lock_timeout', '100us'],
      ['idle_in_transaction_session_timeout', '0x10'],
      ['statement_timeout', '2d'],
    ]) {
      const c = await RawClient.connect(g.port);
      await c.write(startup({ user: 'agent-1', database: DB, [k]: v }));
      const ms = await c.rest();
      expect(ms.map((m) => m.type)).toEqual(['E']);
      expect(fields(ms[0]).C).toBe('42501');
    }
  });

  it('startup: the pinned search_path and standard_conforming_strings as pinned are accepted; a client may ask for read-only transactions, not switch them off', async () => {
    const settingsOf = async (options: string) => {
      const c = new pg.Client({
        host: '127.0.0.1',
        port: g.port,
        user: 'agent-1',
        database: DB,
        password: await g.token(),
        options,
      });
      await c.connect();
      try {
        const r = await c.query(
          `SELECT current_setting('search_path') AS sp,
                  current_setting('default_transaction_read_only') AS ro,
                  current_setting('default_transaction_isolation') AS iso`,
        );
        return r.rows[0];
      } finally {
        await c.end();
      }
    };
    // dbhub's search_path option, as its config writes it.
    expect(await settingsOf('-c search_path=public')).toMatchObject({ sp: 'public', ro: 'off' });
    expect(
      await settingsOf(
        '-c search_path="public" -c standard_conforming_strings=on -c default_transaction_read_only=on -c default_transaction_isolation=serializable',
      ),
    ).toEqual({ sp: 'public', ro: 'on', iso: 'serializable' });
    for (const options of [
      '-c search_path=evil,public',
      '-c search_path="$user",public',
      '-c search_path=Public2',
      '-c standard_conforming_strings=off',
      '-c default_transaction_read_only=off',
    ]) {
      const c = await RawClient.connect(g.port);
      await c.write(startup({ user: 'agent-1', database: DB, options }));
      const ms = await c.rest();
      expect(
        ms.map((m) => m.type),
        options,
      ).toEqual(['E']);
      expect(fields(ms[0]).C).toBe('42501');
    }
  });

  for (const sql of [
    "SET client_encoding = 'LATIN1'",
    'SET standard_conforming_strings = off',
    "SELECT set_config('standard_conforming_strings', 'off', false)",
  ]) {
    it(`${sql}: the session is closed (FATAL 42501), the changed value never reaches the client`, async () => {
      const c = await raw();
      await c.write(query(sql));
      const got = await c.rest(20_000);
      expect(c.ended).toBe(true);
      const errs = got.filter((m) => m.type === 'E').map(fields);
      expect(errs.at(-1)?.S).toBe('FATAL');
      expect(errs.at(-1)?.C).toBe('42501');
      expect(got.some((m) => m.type === 'S')).toBe(false);
    });
  }

  it('regression: a statement pipelined behind SET standard_conforming_strings = off never runs under it', async () => {
    // Parsed with standard_conforming_strings on (as the gateway does) this is one SELECT of
    // two literals; parsed with it off, the first literal swallows a quote and a DELETE runs.
    const c = await raw();
    await c.write(
      Buffer.concat([
        query('SET standard_conforming_strings = off'),
        query("SELECT 'a\\' , ' ; DELETE FROM victims WHERE id = 2; -- '"),
      ]),
    );
    await c.rest(20_000);
    expect(c.ended).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(await victims()).toBe(10);
  });

  // With Flush instead of Sync, PostgreSQL reports a changed setting only at the next
  // ReadyForQuery, after the whole sync group has run. The gateway decided on a SELECT of two
  // constants; under standard_conforming_strings = off PostgreSQL read the table instead
  // (all ids came back). Now no statement text is accepted until the Sync.
  it('regression: extended protocol, a Parse after SET standard_conforming_strings = off and a Flush is refused', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', 'SET standard_conforming_strings = off'),
        bind('', ''),
        execute(),
        flush(),
        parse('', "SELECT 'a\\' , ' , id FROM victims --'"),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await untilQuiet(c, 'Z');
    expect(rows(ms)).toEqual([]);
    expect(ms.map((m) => m.type).join('')).toBe('12CEZ');
    expect(fields(ms[3]).C).toBe('42501');
    // The refusal aborted the sync group, so the SET was rolled back with it.
    expect(rows(await c.simple('SHOW standard_conforming_strings'))).toEqual([['on']]);
    c.destroy();
  });

  it('extended protocol: the same with one Sync (no Flush): the statement after the change never runs', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', "SELECT set_config('standard_conforming_strings', 'off', false)"),
        bind('', ''),
        execute(),
        parse('', "SELECT 'a\\' , ' , id FROM victims --'"),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await untilQuiet(c, 'Z');
    // The set_config ran; the SELECT after it got the refusal in its place.
    expect(ms.map((m) => m.type).join('')).toBe('12DCEZ');
    expect(rows(ms)).toEqual([['off']]);
    expect(fields(ms[4]).C).toBe('42501');
    expect(rows(await c.simple('SHOW standard_conforming_strings'))).toEqual([['on']]);
    c.destroy();
  });

  it('extended protocol: statements that cannot change those settings pipeline freely in one Sync group', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', "SET application_name = 'x'"),
        bind('', ''),
        execute(),
        parse('', "SELECT nextval('seq'), pg_notify('c', 'x')"),
        bind('', ''),
        execute(),
        parse('', 'SELECT 1'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(ms.map((m) => m.type).join('')).toBe('12C12DC12DCSZ');
    c.destroy();
  });

  it('the same text with standard_conforming_strings on is a harmless SELECT', async () => {
    const c = await raw();
    const ms = await c.simple("SELECT 'a\\' , ' ; DELETE FROM victims WHERE id = 2; -- '");
    expect(rows(ms)).toEqual([['a\\', ' ; DELETE FROM victims WHERE id = 2; -- ']]);
    expect(await victims()).toBe(10);
    c.destroy();
  });
});
