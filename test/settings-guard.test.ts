// Code PostgreSQL runs that a statement does not name (a trigger, a column default, a view's
// query, a domain's CHECK, a cursor's query when it is read) can change
// standard_conforming_strings, which decides how the statement text sent after it is read;
// PostgreSQL reports the change only at the ReadyForQuery that ends that work. Here such code
// turns it off, and the text after it reads a table the policy refuses when read with it off
// (with it on, as the gateway reads it, two constants). Before, only a statement that named a
// function the gateway did not know was followed by a settings guard: in each case below the
// table's rows reached the client. Now statement text behind any work that may run code
// (in its group, or not yet answered) is guarded, and a Query waits for that work's answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import {
  type Message,
  type RawClient,
  bind,
  copyData,
  copyDone,
  execute,
  extendedStep,
  fields,
  flush,
  messageTypes,
  parse,
  query,
  rows,
  sync,
  untilQuiet,
} from './helpers/raw.js';
import { FORBIDDEN_SQL, leaked, SMUGGLED } from './helpers/smuggling.js';

const DB = 'dp_settings_guard';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `${FORBIDDEN_SQL}
     CREATE TABLE sink (id int);
     CREATE FUNCTION note_smuggled() RETURNS int LANGUAGE sql AS
       $$ INSERT INTO sink VALUES (666) RETURNING 1 $$;
     CREATE FUNCTION quietly_off() RETURNS int LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); RETURN 1; END $$;
     CREATE FUNCTION harmless() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 7; END $$;
     CREATE FUNCTION trg_off() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); RETURN NEW; END $$;
     CREATE TABLE trig (id int);
     CREATE TRIGGER t BEFORE INSERT ON trig FOR EACH ROW EXECUTE FUNCTION trg_off();
     CREATE TABLE defd (id int DEFAULT quietly_off());
     CREATE VIEW v AS SELECT quietly_off() AS x;
     CREATE DOMAIN dom AS int CHECK (quietly_off() = 1);`,
  );
  // Everything is allowed but the table `forbidden`.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/names.rego'] } });
});
afterAll(async () => {
  await g?.stop();
});

/** The same, calling a function that writes when read with it off. */
const SMUGGLED_WRITE = "SELECT 'a\\' , ' , note_smuggled() --'";

/** Rows the smuggled write left. */
async function smuggledWrites(): Promise<number> {
  const c = await rawLogin(g, DB);
  const n = Number(rows(await c.simple('SELECT count(*) FROM sink WHERE id = 666'))[0][0]);
  c.destroy();
  return n;
}

/** The group was refused at the text after the change; the session goes on, setting on. */
async function refusedAndUsable(c: RawClient, ms: Message[]): Promise<void> {
  expect(leaked(ms)).toBe(false);
  const errs = ms.filter((m) => m.type === 'E').map(fields);
  expect(errs.map((e) => e.C)).toEqual(['42501']);
  expect(errs[0].M).toMatch(/standard_conforming_strings or client_encoding/);
  const after = await c.simple('SHOW standard_conforming_strings');
  expect(rows(after)).toEqual([['on']]);
}

describe('statement text behind code a statement runs without naming it', () => {
  it('the policy refuses the table read directly', async () => {
    const c = await rawLogin(g, DB);
    const ms = await c.simple('SELECT secret FROM forbidden');
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('42501');
    c.destroy();
  });

  it.each([
    ['a trigger', 'INSERT INTO trig VALUES (1)'],
    ['a column default', 'INSERT INTO defd DEFAULT VALUES'],
    ["a view's query", 'SELECT * FROM v'],
    ["a domain's CHECK", 'SELECT 1::dom'],
  ])('%s, in the same group: refused, nothing leaks', async (_what, sql) => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([...extendedStep(sql), ...extendedStep(SMUGGLED), sync()]));
    await refusedAndUsable(c, await untilQuiet(c, 'Z'));
    c.destroy();
  });

  it('a trigger, with the text in the next group pipelined behind the Sync: it never runs', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        ...extendedStep('INSERT INTO trig VALUES (1)'),
        sync(),
        ...extendedStep(SMUGGLED_WRITE),
        sync(),
      ]),
    );
    // The first group committed the change: its ReadyForQuery reports it, and the session is
    // closed (42501) with nothing after it passed on.
    const ms = await c.rest(20_000);
    expect(c.ended).toBe(true);
    expect(messageTypes(ms)).toBe('12CE');
    expect(fields(ms[3]).C).toBe('42501');
    // The second group, already sent upstream, failed at its guard.
    expect(await smuggledWrites()).toBe(0);
  });

  it('a trigger, with a simple Query pipelined behind it: the Query waits for its answer', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([query('INSERT INTO trig VALUES (1)'), query(SMUGGLED_WRITE)]));
    // The first Query's answer reports the setting changed: the session is closed before the
    // second is read.
    const ms = await c.rest(20_000);
    expect(c.ended).toBe(true);
    expect(fields(ms.filter((m) => m.type === 'E').at(-1)!).C).toBe('42501');
    expect(await smuggledWrites()).toBe(0);
  });
});

describe('statement text behind a cursor whose query calls a function, read in the group', () => {
  it('FETCH', async () => {
    const c = await rawLogin(g, DB);
    await c.simple('BEGIN');
    await c.simple('DECLARE c CURSOR FOR SELECT quietly_off()');
    await c.write(Buffer.concat([...extendedStep('FETCH c'), ...extendedStep(SMUGGLED), sync()]));
    const ms = await untilQuiet(c, 'Z');
    expect(leaked(ms)).toBe(false);
    expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42501']);
    c.destroy();
  });

  it('a protocol Execute of the cursor as a portal', async () => {
    const c = await rawLogin(g, DB);
    await c.simple('BEGIN');
    await c.simple('DECLARE c CURSOR FOR SELECT quietly_off()');
    await c.write(Buffer.concat([execute('c'), ...extendedStep(SMUGGLED), sync()]));
    const ms = await untilQuiet(c, 'Z');
    expect(leaked(ms)).toBe(false);
    expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42501']);
    c.destroy();
  });

  it('a WITH HOLD cursor materialised by a COMMIT in the group', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        ...extendedStep('BEGIN'),
        ...extendedStep('DECLARE h CURSOR WITH HOLD FOR SELECT quietly_off()'),
        ...extendedStep('COMMIT'),
        ...extendedStep(SMUGGLED),
        sync(),
      ]),
    );
    // Refused at the text after the COMMIT; the COMMIT kept the change, so the session is
    // then closed.
    const ms = await c.rest(20_000);
    expect(leaked(ms)).toBe(false);
    expect(c.ended).toBe(true);
    const errs = ms.filter((m) => m.type === 'E').map(fields);
    expect(errs.map((e) => `${e.S} ${e.C}`)).toEqual(['ERROR 42501', 'FATAL 42501']);
  });
});

describe('statement text after a COPY that makes PostgreSQL ignore the Sync before it', () => {
  it('is guarded as part of the group the call ran in, and the session does not hang', async () => {
    const c = await rawLogin(g, DB);
    // The COPY is parsed before the call; the call runs; Flush.
    await c.write(
      Buffer.concat([
        parse('cp', 'COPY public.sink FROM STDIN'),
        ...extendedStep('SELECT quietly_off()'),
        flush(),
      ]),
    );
    await untilQuiet(c, 'C');
    // Bind/Execute of the COPY and a Sync: PostgreSQL ignores that Sync in COPY IN.
    await c.write(Buffer.concat([bind('', 'cp'), execute(), sync()]));
    expect((await untilQuiet(c, 'G')).at(-1)?.type).toBe('G');
    await c.write(Buffer.concat([copyData('1\n'), copyDone(), ...extendedStep(SMUGGLED), sync()]));
    await refusedAndUsable(c, await untilQuiet(c, 'Z'));
    c.destroy();
  });

  it('with the call in the same batch as the COPY: its answer comes, nothing hangs', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        ...extendedStep('SELECT harmless()'),
        parse('', 'COPY public.sink FROM STDIN'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    expect((await untilQuiet(c, 'G')).at(-1)?.type).toBe('G');
    await c.write(Buffer.concat([copyData('5\n'), copyDone(), sync()]));
    const ms = await untilQuiet(c, 'Z');
    expect(ms.filter((m) => m.type === 'E')).toEqual([]);
    expect(rows(await c.simple('SELECT count(*) FROM sink WHERE id = 5'))).toEqual([['1']]);
    c.destroy();
  });
});

describe('a settings guard that failed', () => {
  it('does not get in the way of later guards, which leave nothing behind', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([...extendedStep('SELECT quietly_off()'), ...extendedStep('SELECT 1'), sync()]),
    );
    const first = await untilQuiet(c, 'Z');
    expect(messageTypes(first)).toBe('12DCEZ');
    expect(fields(first[4]).C).toBe('42501');

    // A later group whose call changes nothing runs as it does directly.
    await c.write(
      Buffer.concat([...extendedStep('SELECT harmless()'), ...extendedStep('SELECT 2'), sync()]),
    );
    const second = await untilQuiet(c, 'Z');
    expect(second.filter((m) => m.type === 'E').map((m) => fields(m).M)).toEqual([]);
    expect(messageTypes(second)).toBe('12DC12DCZ');
    expect(rows(second)).toEqual([['7'], ['2']]);
    expect(rows(await c.simple('SELECT name FROM pg_prepared_statements'))).toEqual([]);
    c.destroy();
  });
});
