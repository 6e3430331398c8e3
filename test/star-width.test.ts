// A `*` over a subquery or CTE copies its columns into the facts the policy decides on.
// Their number counts toward the analysis budget (54001 "statement too complex to analyse",
// as for names matched against FROM items): before, it was unbounded, and a CTE chain of
// `SELECT * FROM prev x, prev y` doubled it per level, 22 levels (850 bytes) took 9 s of
// the gateway's one thread and 2 GB of memory, a few more ended the process; a 20,000-column
// CTE read 1,000 times in one FROM (240 KB) took 9 s and 800 MB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { bind, errorCodes, execute, parse, rows, sync } from './helpers/raw.js';

const DB = 'star_width';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, { policy: { allowAll: true } });
});
afterAll(async () => {
  await g?.stop();
});

/** `c0` has 2 columns; each level has twice its predecessor's. */
function doubling(levels: number): string {
  const ctes = ['c0 AS (SELECT 1 AS a, 2 AS b)'];
  for (let i = 1; i <= levels; i++) ctes.push(`c${i} AS (SELECT * FROM c${i - 1} x, c${i - 1} y)`);
  return `WITH ${ctes.join(', ')} SELECT * FROM c${levels}`;
}

function wide(columns: number, reads: number): string {
  const cols = Array.from({ length: columns }, (_, i) => `${i} AS c${i}`).join(', ');
  const from = Array.from({ length: reads }, (_, i) => `c x${i}`).join(', ');
  return `WITH c AS (SELECT ${cols}) SELECT * FROM ${from} LIMIT 0`;
}

describe('the columns a `*` brings count toward the analysis budget', () => {
  for (const [name, sql] of [
    ['a CTE doubled per level, 22 levels', doubling(22)],
    ['a 20,000-column CTE read 1,000 times', wide(20_000, 1_000)],
  ] as const) {
    it(`${name}: refused 54001, simple and extended, and the session goes on`, async () => {
      const c = await rawLogin(g, DB);
      try {
        expect(errorCodes(await c.simple(sql))).toEqual(['54001']);
        await c.write(Buffer.concat([parse('', sql), bind('', ''), execute(), sync()]));
        expect(errorCodes(await c.until('Z'))).toEqual(['54001']);
        expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
      } finally {
        c.destroy();
      }
    });
  }

  it('stars of ordinary width run: 8 levels of doubling (512 columns), 400 columns read 4 times', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const [sql, columns] of [
        [doubling(8), 512],
        [wide(400, 4), 1600],
      ] as const) {
        const ms = await c.simple(sql);
        expect(errorCodes(ms)).toEqual([]);
        expect(ms.find((m) => m.type === 'T')?.body.readInt16BE(0)).toBe(columns);
      }
    } finally {
      c.destroy();
    }
  });
});
