// An oversized Parse or Bind fails its group there, as an error does: PostgreSQL answers the
// messages before an error in a group, then the error. Before, the gateway dropped the
// messages it still held before the oversized one, unanswered: the client read the 54000 as
// the answer to its first message, and statements before it (a COMMIT PostgreSQL would have
// run) never ran.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { bind, execute, fields, parse, rows, sync, type Message } from './helpers/raw.js';

const DB = 'dp_oversized_mid_group';
const LIMIT = 64 * 1024;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int)');
  g = await startTestGateway(DB, { session: { maxMessageBytes: LIMIT } });
});
afterAll(async () => {
  await g?.stop();
});

const show = (ms: Message[]): string =>
  ms
    .filter((m) => m.type !== 'N')
    .map((m) => (m.type === 'E' ? `E${fields(m).C}` : m.type))
    .join(' ');

it('the messages before an oversized Bind are answered, then its 54000', async () => {
  const c = await rawLogin(g, DB);
  await c.write(
    Buffer.concat([
      parse('', 'BEGIN'),
      bind('', ''),
      execute(),
      parse('', 'INSERT INTO t VALUES (1)'),
      bind('', ''),
      execute(),
      parse('', 'COMMIT'),
      bind('', ''),
      execute(),
      parse('s', 'SELECT $1::text'),
      bind('', 's', ['x'.repeat(LIMIT + 10)]),
      execute(),
      sync(),
    ]),
  );
  const ms = await c.until('Z');
  // As PostgreSQL answers a group that fails at its fourth Parse's Bind.
  expect(show(ms)).toBe('1 2 C 1 2 C 1 2 C 1 E54000 Z');
  expect(rows(await c.simple('SELECT count(*) FROM t'))).toEqual([['1']]);
  c.destroy();
});
