// Pipelining through the gateway: node `pg` in pipeline mode, and raw extended-protocol
// batches (several Parse/Bind/Execute before one Sync, several Syncs back to back, a refused
// batch between two allowed ones).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  gatewayClient,
  rawLogin,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  RawClient,
  bind,
  describe as describeMsg,
  execute,
  fields,
  flush,
  functionCall,
  msg,
  parse,
  query,
  rows,
  sync,
  tag,
  type Message,
} from './helpers/raw.js';

const DB = 'dp_pipeline';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    "CREATE TABLE kv (k int PRIMARY KEY, v text); INSERT INTO kv SELECT i, 'v' || i FROM generate_series(1, 100) i; CREATE TABLE log (n int);",
  );
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

const raw = (): Promise<RawClient> => rawLogin(g, DB);

const types = (ms: Message[]) => ms.map((m) => m.type).join('');

describe('node pg in pipeline mode', () => {
  it('sends many queries without waiting and gets each result in order', async () => {
    const c = await gatewayClient(g, DB, { pg: { pipeline: true } });
    const ids = Array.from({ length: 100 }, (_, i) => i + 1);
    const results = await Promise.all(
      ids.map((id) => c.query('SELECT v FROM kv WHERE k = $1', [id])),
    );
    expect(results.map((r) => r.rows[0].v)).toEqual(ids.map((i) => `v${i}`));
    // An error in the middle fails only its own query.
    const mixed = await Promise.allSettled([
      c.query('SELECT 1 AS a'),
      c.query('SELECT 1 / $1::int AS b', [0]),
      c.query({ name: 'named', text: 'SELECT $1::int + 1 AS c', values: [41] }),
      c.query('SELEC broken'),
      c.query({ name: 'named', text: 'SELECT $1::int + 1 AS c', values: [1] }),
    ]);
    expect(mixed.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((mixed[1] as PromiseRejectedResult).reason.code).toBe('22012');
    expect((mixed[3] as PromiseRejectedResult).reason.code).toBe('42601');
    expect((mixed[2] as PromiseFulfilledResult<pg.QueryResult>).value.rows[0].c).toBe(42);
    expect((mixed[4] as PromiseFulfilledResult<pg.QueryResult>).value.rows[0].c).toBe(2);
    await c.end();
  });
});

describe('raw pipelined batches', () => {
  it('several Parse/Bind/Execute then one Sync: one ReadyForQuery, results in order', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', 'SELECT v FROM kv WHERE k = $1'),
        bind('', '', ['7']),
        execute(),
        parse('s2', 'INSERT INTO log VALUES ($1)'),
        bind('p2', 's2', ['1']),
        execute('p2'),
        bind('p3', 's2', ['2']),
        describeMsg('P', 'p3'),
        execute('p3'),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('12DC12C2nCZ');
    expect(rows(ms)).toEqual([['v7']]);
    expect(ms.filter((m) => m.type === 'C').map(tag)).toEqual([
      'SELECT 1',
      'INSERT 0 1',
      'INSERT 0 1',
    ]);
    const a = await adminClient(DB);
    expect((await a.query('SELECT n FROM log ORDER BY n')).rows).toEqual([{ n: 1 }, { n: 2 }]);
    await a.end();
    c.destroy();
  });

  it('an error inside a one-Sync batch skips the rest and rolls the batch back, as PostgreSQL does', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO log VALUES (100)'),
        bind('', ''),
        execute(),
        parse('', 'SELECT 1 / 0'),
        bind('', ''),
        execute(),
        parse('', 'INSERT INTO log VALUES (101)'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    // SELECT 1 / 0 fails while planning, at Bind (constant folding), as in PostgreSQL.
    expect(types(ms)).toBe('12C1EZ');
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('22012');
    const a = await adminClient(DB);
    expect((await a.query('SELECT count(*)::int AS n FROM log WHERE n >= 100')).rows[0].n).toBe(0);
    await a.end();
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });

  it('Syncs back to back each get a ReadyForQuery', async () => {
    const c = await raw();
    await c.write(Buffer.concat([sync(), sync(), sync()]));
    const ms = [...(await c.until('Z')), ...(await c.until('Z')), ...(await c.until('Z'))];
    expect(types(ms)).toBe('ZZZ');
    c.destroy();
  });

  it('a refused batch between two allowed batches: only it fails, in order', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', 'SELECT 1'),
        bind('', ''),
        execute(),
        sync(),
        parse('', 'SELEC broken'),
        bind('', ''),
        execute(),
        sync(),
        parse('', 'SELECT 3'),
        bind('', ''),
        execute(),
        sync(),
        sync(),
      ]),
    );
    const ms: Message[] = [];
    for (let i = 0; i < 4; i++) ms.push(...(await c.until('Z')));
    expect(types(ms)).toBe('12DCZEZ12DCZZ');
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('42601');
    expect(rows(ms)).toEqual([['1'], ['3']]);
    c.destroy();
  });

  it('many simple queries in one write come back in order', async () => {
    const c = await raw();
    const n = 500;
    await c.write(Buffer.concat(Array.from({ length: n }, (_, i) => query(`SELECT ${i} AS i`))));
    const got: string[] = [];
    for (let i = 0; i < n; i++) {
      const ms = await c.until('Z');
      got.push(rows(ms)[0][0]!);
    }
    expect(got).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    c.destroy();
  });
});

describe('extended protocol details', () => {
  it('a refusal before a Flush is reported at once; the rest up to Sync is skipped', async () => {
    const c = await raw();
    await c.write(Buffer.concat([parse('', 'SELEC x'), flush()]));
    const e = await c.next();
    expect(e?.type).toBe('E');
    expect(fields(e!).C).toBe('42601');
    await c.write(Buffer.concat([bind('', ''), execute(), sync()]));
    expect(types(await c.until('Z'))).toBe('Z');
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });

  it('a Query after extended messages with no Sync runs after them, as PostgreSQL orders it', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([parse('', 'SELECT 1 AS first'), bind('', ''), execute(), query('SELECT 2')]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('12DCTDCZ');
    expect(rows(ms)).toEqual([['1'], ['2']]);
    expect(rows(await c.simple('SELECT 3'))).toEqual([['3']]);
    c.destroy();
  });

  it('a refused FunctionCall after unsynced extended messages is answered after them', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([parse('', 'SELECT 7'), bind('', ''), execute(), functionCall(1299, [])]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('12DCEZ');
    expect(fields(ms[4]).C).toBe('42501');
    expect([...g.gw.sessions].filter((s) => !s.idle())).toHaveLength(0);
    c.destroy();
  });

  it('a Query while an extended group is being skipped after an error is skipped too', async () => {
    const c = await raw();
    await c.write(Buffer.concat([parse('', 'SELEC x'), flush()]));
    expect(fields((await c.next())!).C).toBe('42601');
    // PostgreSQL ignores everything up to Sync, a Query included: only Sync is answered.
    await c.write(Buffer.concat([query('SELECT 4'), sync()]));
    expect(types(await c.until('Z'))).toBe('Z');
    expect(rows(await c.simple('SELECT 5'))).toEqual([['5']]);
    // The gateway's queue is in step: nothing is left waiting for an answer.
    expect([...g.gw.sessions].filter((s) => !s.idle())).toHaveLength(0);
    c.destroy();
  });

  it('Execute with a row limit: PortalSuspended, then the rest of the portal', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        query('BEGIN'),
        parse('', 'SELECT k FROM kv WHERE k <= 5 ORDER BY k'),
        bind('p', ''),
        execute('p', 2),
        sync(),
      ]),
    );
    await c.until('Z');
    const first = await c.until('Z');
    expect(types(first)).toBe('12DDsZ');
    expect(rows(first)).toEqual([['1'], ['2']]);
    await c.write(Buffer.concat([execute('p', 0), sync()]));
    const rest = await c.until('Z');
    expect(types(rest)).toBe('DDDCZ');
    expect(rows(rest)).toEqual([['3'], ['4'], ['5']]);
    await c.simple('COMMIT');
    c.destroy();
  });

  it('a query text above the size limit is refused (54000) and the session stays usable', async () => {
    const c = await raw();
    const big = `SELECT '${'x'.repeat(2 * 1024 * 1024)}'`;
    const ms = await c.simple(big);
    expect(types(ms)).toBe('EZ');
    expect(fields(ms[0]).C).toBe('54000');
    expect(rows(await c.simple('SELECT 5'))).toEqual([['5']]);
    c.destroy();
  });

  it('a query string of more statements than the limit is refused whole (54000), before any runs', async () => {
    const c = await raw();
    const over = 'SELECT pg_sleep(0);'.repeat(1000) + 'CREATE TABLE too_many_ran (x int)';
    const ms = await c.simple(over);
    expect(types(ms)).toBe('EZ');
    expect(fields(ms[0])).toMatchObject({
      C: '54000',
      M: expect.stringContaining(
        'too many statements in one query string (1001; the limit is 1000)',
      ),
    });
    // At the limit, they all run.
    const at = await c.simple('SELECT 1;'.repeat(999) + 'SELECT 2');
    expect(rows(at)).toHaveLength(1000);
    expect(rows(await c.simple("SELECT to_regclass('too_many_ran') IS NULL"))).toEqual([['t']]);
    c.destroy();
  });

  it('a named statement survives an unrelated error and can be described and closed', async () => {
    const c = await raw();
    await c.write(Buffer.concat([parse('s', 'SELECT $1::int * 3'), sync()]));
    expect(types(await c.until('Z'))).toBe('1Z');
    expect(types(await c.simple('SELECT 1 / 0'))).toBe('EZ');
    await c.write(Buffer.concat([describeMsg('S', 's'), bind('', 's', ['7']), execute(), sync()]));
    const ms = await c.until('Z');
    expect(types(ms)).toBe('tT2DCZ');
    expect(rows(ms)).toEqual([['21']]);
    await c.write(Buffer.concat([msg('C', Buffer.from('Ss\0')), sync()]));
    expect(types(await c.until('Z'))).toBe('3Z');
    await c.write(Buffer.concat([bind('', 's', ['1']), execute(), sync()]));
    const gone = await c.until('Z');
    expect(types(gone)).toBe('EZ');
    expect(fields(gone[0]).C).toBe('26000');
    c.destroy();
  });
});
