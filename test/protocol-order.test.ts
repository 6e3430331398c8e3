// Orders of extended-protocol messages that no common driver sends but PostgreSQL defines:
// a Query between extended messages with no Sync, COPY data right behind an Execute with no
// Sync, a name PostgreSQL does not have in the middle of a batch, and an upstream FATAL.
// The gateway must answer as PostgreSQL does and keep its queue in step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  bind,
  copyData,
  execute,
  fields,
  msg,
  parse,
  query,
  rows,
  sync,
  tag,
  type Message,
  errorCodes,
} from './helpers/raw.js';

const DB = 'protocol_order_db';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE w (id int)');
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

const shape = (ms: Message[]) =>
  ms.map((m) =>
    m.type === 'E' ? `E${fields(m).C}` : m.type === 'Z' ? `Z${m.body.toString()}` : m.type,
  );

describe('extended messages followed by a Query with no Sync', () => {
  it('run before it, in the same transaction, as PostgreSQL does', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO w VALUES (1)'),
        bind('', ''),
        execute(),
        query('SELECT count(*) FROM w'),
      ]),
    );
    const ms = await c.until('Z');
    expect(shape(ms)).toEqual(['1', '2', 'C', 'T', 'D', 'C', 'ZT']);
    expect(rows(ms)).toEqual([['1']]);
    await c.write(sync());
    expect(shape(await c.until('Z'))).toEqual(['ZI']);
    await c.simple('DELETE FROM w');
    c.destroy();
  });

  it('after one of them failed, the Query is skipped up to the Sync and the session stays in step', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse('', 'SELECT 1 / 0'),
        bind('', ''),
        execute(),
        query('INSERT INTO w VALUES (2)'),
        sync(),
        query('SELECT count(*) FROM w'),
      ]),
    );
    // PostgreSQL folds 1 / 0 while planning, at the Bind; the INSERT never runs.
    expect(shape(await c.until('Z'))).toEqual(['1', 'E22012', 'ZI']);
    const ms = await c.until('Z');
    expect(rows(ms)).toEqual([['0']]);
    c.destroy();
  });
});

describe('COPY FROM STDIN by Execute with no Sync before the data', () => {
  it('takes the data that follows, as PostgreSQL does', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse('', 'COPY w FROM STDIN'),
        bind('', ''),
        execute(),
        copyData('7\n'),
        copyData('8\n'),
        msg('c'),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(ms.filter((m) => m.type === 'C').map(tag)).toEqual(['COPY 2']);
    expect(rows(await c.simple('SELECT id FROM w ORDER BY id'))).toEqual([['7'], ['8']]);
    await c.simple('DELETE FROM w');
    c.destroy();
  });
});

describe('a batch naming a statement PostgreSQL does not have', () => {
  it('runs up to that message and fails there, as PostgreSQL does', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse('', 'SELECT 1 AS one'),
        bind('', ''),
        execute(),
        bind('', 'never-prepared'),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(shape(ms)).toEqual(['1', '2', 'D', 'C', 'E26000', 'ZI']);
    expect(fields(ms.find((m) => m.type === 'E')!).M).toContain('never-prepared');
    c.destroy();
  });
});

describe('an upstream FATAL', () => {
  it('reaches the client as the only error before the session ends', async () => {
    const c = await rawLogin(g, DB);
    const pid = rows(await c.simple('SELECT pg_backend_pid()'))[0][0];
    const admin = await adminClient();
    await admin.query('SELECT pg_terminate_backend($1::int)', [pid]);
    await admin.end();
    const rest = await c.rest();
    expect(errorCodes(rest)).toEqual(['57P01']);
    c.destroy();
  });
});
