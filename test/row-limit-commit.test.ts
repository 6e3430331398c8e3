// A result cut at its row limit outside a transaction block: PostgreSQL commits the implicit
// transaction as the statement completes (a Query string) or at the Sync (an extended
// group), before the gateway sees the rows past the limit. Where that commits a change (the
// statement's own, such as DELETE … RETURNING, or one before it in the same implicit
// transaction), the client must not be told the statement simply failed, nor may the
// recording say so: an error in PostgreSQL means the implicit transaction rolled back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { adminClient, freshDatabase, rawLogin, type TestGateway } from './helpers/gateway.js';
import { bind, execute, fields, parse, query, rows, sync, type Message } from './helpers/raw.js';

const DB = 'row_limit_commit';
let rec: RecordedGateway;
let g: TestGateway;
let admin: pg.Client;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int)');
  rec = await startRecordedGateway(DB, { policy: { files: ['test/policies/limit-all.rego'] } });
  g = rec.g;
  admin = await adminClient(DB);
});
afterAll(async () => {
  await admin?.end();
  await rec?.stop();
});

const events = () => rec.events();

/** The first recorded event `find` picks, polled for while the recorder catches up. */
async function eventWhere(
  what: string,
  find: (ev: Record<string, unknown>[]) => Record<string, unknown> | undefined,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 50; i++) {
    const r = find(events());
    if (r) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no ${what} recorded`);
}

/** The statement event recorded with this text (the latest one). */
const statementOf = (ev: Record<string, unknown>[], sql: string) =>
  ev.filter((e) => e.type === 'statement' && e.sql === sql).at(-1);

/** The statement_result of the statement recorded with this text (the latest one). */
const resultOf = (sql: string): Promise<Record<string, unknown>> =>
  eventWhere(`result for ${sql}`, (ev) => {
    const st = statementOf(ev, sql);
    return (
      st &&
      ev.find(
        (e) =>
          e.type === 'statement_result' &&
          e.session_id === st.session_id &&
          e.statement_seq === st.seq,
      )
    );
  });

const count = async (where: string): Promise<number> =>
  (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM t WHERE ${where}`)).rows[0].n;

const errors = (ms: Message[]) => ms.filter((m) => m.type === 'E').map((m) => fields(m));

describe('a row limit cut whose statement committed', () => {
  it('DELETE … RETURNING past the limit, alone: the client is not told it failed, the record says it ran', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(100, 120) g');
    const c = await rawLogin(g, DB);
    const sql = 'DELETE FROM t WHERE id >= 100 RETURNING id';
    const ms = await c.simple(sql);
    // PostgreSQL deleted (and committed) all 21 rows.
    expect(await count('id >= 100')).toBe(0);
    const [e] = errors(ms);
    expect(e.C).toBe('54000');
    expect(e.S).toBe('FATAL');
    expect(e.M).toContain('committed');
    expect(ms.some((m) => m.type === 'Z')).toBe(false);
    expect(await c.closedWithin(5000)).toBe(true);
    const r = await resultOf(sql);
    expect(r).toMatchObject({
      outcome: 'ok',
      command_tag: 'DELETE 21',
      rows: 21,
      sqlstate: '54000',
    });
  });

  it('a write before the cut read in the same Query string is committed: the session ends, not an error that reads as rolled back', async () => {
    const c = await rawLogin(g, DB);
    const ms = await c.simple('INSERT INTO t VALUES (1); SELECT g FROM generate_series(1, 100) g');
    expect(await count('id = 1')).toBe(1);
    const [e] = errors(ms);
    expect(e).toMatchObject({ C: '54000', S: 'FATAL' });
    expect(e.M).toContain('committed');
    expect(await c.closedWithin(5000)).toBe(true);
    expect(await resultOf('INSERT INTO t VALUES (1)')).toMatchObject({ outcome: 'ok' });
    expect(await resultOf('SELECT g FROM generate_series(1, 100) g')).toMatchObject({
      outcome: 'ok',
      command_tag: 'SELECT 100',
      sqlstate: '54000',
    });
  });

  it('the same in an extended group: the Sync commits the write', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO t VALUES (2)'),
        bind('', ''),
        execute(),
        parse('', 'SELECT g FROM generate_series(1, 50) g'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(await count('id = 2')).toBe(1);
    expect(errors(ms)[0]).toMatchObject({ C: '54000', S: 'FATAL' });
    expect(await c.closedWithin(5000)).toBe(true);
  });

  it('a Query after an unsynced extended write does not commit it: the cut does not say committed', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO t VALUES (5)'),
        bind('', ''),
        execute(),
        query('SELECT g FROM generate_series(1, 50) g'),
        sync(),
      ]),
    );
    const ms = await c.until('Z', 3000);
    const [e] = errors(ms);
    expect(e).toMatchObject({ C: '54000', S: 'FATAL' });
    expect(e.M).not.toContain('committed');
    expect(await c.closedWithin(5000)).toBe(true);
    expect(await count('id = 5')).toBe(0);
  });

  it('a read cut with nothing changed in its implicit transaction is an ordinary error; the session goes on', async () => {
    const c = await rawLogin(g, DB);
    const ms = await c.simple('SELECT 1; SELECT g FROM generate_series(1, 100) g');
    expect(errors(ms)).toMatchObject([{ C: '54000', S: 'ERROR' }]);
    expect(rows(await c.simple('SELECT 7'))).toEqual([['7']]);
    c.destroy();
  });

  it('SHOW ALL, and a SELECT whose only writes are row locks, change nothing: their cut is an ordinary error', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(200, 220) g');
    const c = await rawLogin(g, DB);
    for (const sql of [
      'SHOW ALL',
      'SELECT id FROM t WHERE id >= 200 FOR UPDATE',
      'SELECT id FROM t WHERE id >= 200 FOR KEY SHARE SKIP LOCKED',
    ]) {
      expect(errors(await c.simple(sql)), sql).toMatchObject([{ C: '54000', S: 'ERROR' }]);
      expect(rows(await c.simple('SELECT 7')), sql).toEqual([['7']]);
    }
    // A write before the lock still commits with it.
    const ms = await c.simple(
      'INSERT INTO t VALUES (4); SELECT id FROM t WHERE id >= 200 FOR UPDATE',
    );
    expect(errors(ms)).toMatchObject([{ C: '54000', S: 'FATAL' }]);
    expect(await count('id = 4')).toBe(1);
    expect(await c.closedWithin(5000)).toBe(true);
  });

  it('a cut with later statements of its batch running ends the session, recorded as ended by the gateway', async () => {
    const c = await rawLogin(g, DB);
    await c.simple('BEGIN');
    const sql = 'SELECT g FROM generate_series(1, 60) g';
    const ms = await c.simple(`${sql}; SELECT 2`);
    expect(errors(ms).map((e) => e.C)).toEqual(['54000']);
    expect(await c.closedWithin(5000)).toBe(true);
    const end = await eventWhere('session_end', (ev) => {
      const st = statementOf(ev, sql);
      return st && ev.find((e) => e.type === 'session_end' && e.session_id === st.session_id);
    });
    expect(end).toMatchObject({ reason: 'error' });
  });

  it('inside a block the cut aborts the block as before: the write is rolled back', async () => {
    const c = await rawLogin(g, DB);
    const ms = await c.simple(
      'BEGIN; INSERT INTO t VALUES (3); SELECT g FROM generate_series(1, 100) g',
    );
    expect(errors(ms)).toMatchObject([{ C: '54000', S: 'ERROR' }]);
    expect(ms.at(-1)!.body.toString('latin1')).toBe('E');
    await c.simple('COMMIT');
    expect(await count('id = 3')).toBe(0);
    c.destroy();
  });
});

describe('a write cut at its row limit in a block whose COMMIT was sent with it', () => {
  it('DELETE … RETURNING; COMMIT in a block: the client and the record are told it committed', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(1100, 1120) g');
    const c = await rawLogin(g, DB);
    expect(errors(await c.simple('BEGIN'))).toEqual([]);
    const del = 'DELETE FROM t WHERE id BETWEEN 1100 AND 1120 RETURNING id';
    const ms = await c.simple(`${del}; COMMIT`);
    expect(await c.closedWithin(5000)).toBe(true);
    // PostgreSQL deleted the 21 rows and committed them.
    expect(await count('id BETWEEN 1100 AND 1120')).toBe(0);
    const [e] = errors(ms);
    expect(e.C).toBe('54000');
    // As for a cut whose implicit transaction committed: the client must learn it committed…
    expect.soft(e.M).toContain('committed');
    // …and the record must not read as a failed (undone) DELETE.
    expect.soft(await resultOf(del)).toMatchObject({ outcome: 'ok', command_tag: 'DELETE 21' });
    // The session ends at the cut, before the COMMIT's answer is read: forwarded, maybe run.
    expect(['ok', 'unknown']).toContain((await resultOf('COMMIT'))?.outcome);
  });

  it('BEGIN; UPDATE … RETURNING; COMMIT as one string', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(2200, 2220) g');
    const c = await rawLogin(g, DB);
    const upd = 'UPDATE t SET id = id + 1000 WHERE id BETWEEN 2200 AND 2220 RETURNING id';
    const ms = await c.simple(`BEGIN; ${upd}; COMMIT`);
    expect(await c.closedWithin(5000)).toBe(true);
    expect(await count('id BETWEEN 3200 AND 3220')).toBe(21);
    const [e] = errors(ms);
    expect(e.C).toBe('54000');
    expect.soft(e.M).toContain('committed');
    expect.soft(await resultOf(upd)).toMatchObject({ outcome: 'ok', command_tag: 'UPDATE 21' });
  });

  it('the same in one extended group (DELETE … RETURNING, COMMIT, Sync) inside a block', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(4300, 4320) g');
    const c = await rawLogin(g, DB);
    expect(errors(await c.simple('BEGIN'))).toEqual([]);
    const del = 'DELETE FROM t WHERE id BETWEEN 4300 AND 4320 RETURNING id';
    await c.write(
      Buffer.concat([
        parse('', del),
        bind('', ''),
        execute(),
        parse('', 'COMMIT'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z', 3000).catch(() => [] as Message[]);
    const all = [...ms];
    await c.closedWithin(3000);
    const n = await count('id BETWEEN 4300 AND 4320');
    const e = errors(all)[0];
    // Either the COMMIT was held back and the DELETE undone, or the client and the record
    // learn that it committed.
    if (n === 0) {
      expect.soft(e?.M).toContain('committed');
      expect.soft(await resultOf(del)).toMatchObject({ outcome: 'ok', command_tag: 'DELETE 21' });
    } else expect(n).toBe(21);
  });
});
