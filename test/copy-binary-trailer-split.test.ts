// limits.max_rows on COPY … TO STDOUT (FORMAT binary): the trailer CopyData (field count -1)
// is no row, also when it arrives split across reads (PostgreSQL flushes its 8 KiB send
// buffer wherever it fills: the trailer's 5-byte header in one read, its 2-byte body in the
// next). Before, such a trailer was taken for a row, and a result of exactly max_rows rows
// was refused with 54000 (in a Query string with more statements, the session was closed).
//
// Made deterministic: the rows are sized so the 8192-byte boundary falls inside the
// trailer's body, and a pg_sleep after the COPY in the same Query string keeps the rest of
// the trailer in PostgreSQL's buffer (nothing flushes it) while the gateway reads the first
// 8192 bytes.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { errorCodes, tag } from './helpers/raw.js';

const DB = 'copy_binary_trailer_split';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  // Every read returns at most 5 rows.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/limited-reads.rego'] } });
});
afterAll(async () => g?.stop());

// Bytes before the trailer: CopyOutResponse (10) + first CopyData (5 + 19 header + 6 + n1)
// + 4 × (5 + 6 + 1600) = 84 + n1 + 6400; with n1 = 1702 the trailer's header ends at byte
// 8191 and its body straddles the 8192-byte flush.
const copy = (n1: number) =>
  `COPY (SELECT repeat('a', CASE WHEN g = 1 THEN ${n1} ELSE 1600 END) FROM generate_series(1, 5) g) TO STDOUT (FORMAT binary)`;

it('a binary COPY TO STDOUT of exactly max_rows rows is not cut when its trailer arrives split', async () => {
  const c = await rawLogin(g, DB);
  try {
    const out: Record<number, { errors: string[]; tags: string[] }> = {};
    for (const n1 of [1650, 1702, 1703]) {
      const r = await c.simple(`${copy(n1)}; SELECT pg_catalog.pg_sleep(0.3)`);
      out[n1] = {
        errors: errorCodes(r),
        tags: r.filter((m) => m.type === 'C').map(tag),
      };
      if (c.ended) break;
    }
    const fine = { errors: [], tags: ['COPY 5', 'SELECT 1'] };
    expect(out).toEqual({ 1650: fine, 1702: fine, 1703: fine });
  } finally {
    c.destroy();
  }
});
