// A CopyData over session.maxMessageBytes fails its COPY (57014) and the session goes on. A
// client streaming a file does not wait for that answer: the next CopyData of its stream
// arrives after the COPY has ended, and PostgreSQL ignores CopyData (and CopyDone) outside a
// COPY. Before, the gateway answered an oversized one there as a failed extended message and
// then dropped everything up to a Sync, which a simple-protocol client never sends: every
// later Query was dropped, and the session hung.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { copyData, copyDone, fields, query, rows } from './helpers/raw.js';

const DB = 'dp_oversized_copydata';
const LIMIT = 64 * 1024;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE copied (t text)');
  g = await startTestGateway(DB, { session: { maxMessageBytes: LIMIT } });
});
afterAll(async () => {
  await g?.stop();
});

const big = (ch: string): Buffer => copyData(`${ch.repeat(LIMIT + 100)}\n`);

it('simple-protocol COPY: two oversized CopyData in a row, then a Query: the Query is answered', async () => {
  const c = await rawLogin(g, DB);
  await c.write(query('COPY copied FROM STDIN'));
  expect((await c.until('G')).at(-1)?.type).toBe('G');
  await c.write(Buffer.concat([big('x'), big('y'), copyDone()]));
  const copy = await c.until('Z');
  expect(copy.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['57014']);
  // The rest of the stream is ignored, as PostgreSQL ignores it; the next Query runs.
  await c.write(query('SELECT 9'));
  const next = await c.until('Z', 5000);
  expect(next.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual([]);
  expect(rows(next)).toEqual([['9']]);
  c.destroy();
});

it('a COPY that fails to start, its data streamed behind it: the next Query is answered', async () => {
  const c = await rawLogin(g, DB);
  // The data a client sends without waiting for CopyInResponse; PostgreSQL ignores it.
  await c.write(Buffer.concat([query('COPY no_such_table FROM STDIN'), big('x'), copyDone()]));
  const first = await c.until('Z');
  expect(first.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['42P01']);
  await c.write(query('SELECT 9'));
  const next = await c.until('Z', 5000);
  expect(next.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual([]);
  expect(rows(next)).toEqual([['9']]);
  c.destroy();
});
