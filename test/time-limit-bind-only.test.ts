// timeout_ms and a group that binds a statement without executing it: PostgreSQL plans a
// statement at Bind, and planning runs code (an IMMUTABLE function called with constants is
// evaluated then). Before, a Parse, Bind, Sync group of a statement with a 300 ms limit was
// sent with no time limit armed (only groups with an Execute got one), so the function ran
// as long as it liked. The same statement with an Execute is cut at 300 ms.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, rawLogin, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { bind, errorCodes, execute, parse, sync } from './helpers/raw.js';

const DB = 'time_limit_bind_only';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE FUNCTION slow_imm() RETURNS int LANGUAGE plpgsql IMMUTABLE AS
       $$ BEGIN PERFORM pg_sleep(3); RETURN 1; END $$;`,
  );
  // Everything is allowed, with 300 ms.
  g = await startTestGateway(DB, { policy: { files: ['test/policies/timeout-all.rego'] } });
});
afterAll(async () => g?.stop());

for (const [name, messages] of [
  ['baseline: Parse, Bind, Execute, Sync', [bind('', ''), execute(), sync()]],
  ['Parse, Bind, Sync (the Bind plans, running the function)', [bind('', ''), sync()]],
] as const) {
  it(`${name} is cut at 300 ms`, async () => {
    const c = await rawLogin(g, DB);
    try {
      const t0 = Date.now();
      await c.write(Buffer.concat([parse('', 'SELECT slow_imm()'), ...messages]));
      const ms = await c.until('Z', 10_000);
      expect({ errors: errorCodes(ms), cutInTime: Date.now() - t0 < 1500 }).toEqual({
        errors: ['57014'],
        cutInTime: true,
      });
    } finally {
      c.destroy();
    }
  }, 30_000);
}
