// Policy limits: timeout_ms cancels the upstream statement (57014); the session stays usable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  gatewayClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, fields, flush, parse, rows, sync, errorCodes } from './helpers/raw.js';

const DB = 'limits_db';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, { policy: { files: ['test/policies/limits.rego'] } });
});
afterAll(async () => g?.stop());

describe('policy limits', () => {
  it('cancels a statement that runs past timeout_ms', async () => {
    const c = await gatewayClient(g, DB, { user: 'a' });
    await expect(c.query('SELECT pg_catalog.pg_sleep(30)')).rejects.toMatchObject({
      code: '57014',
    });
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('counts the time of a statement sent at a Flush, before its Sync', async () => {
    const c = await rawLogin(g, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'SELECT pg_catalog.pg_sleep(3)'),
          bind('', ''),
          execute(),
          flush(),
        ]),
      );
      const t0 = Date.now();
      const err = await c.until('E', 5000);
      expect(fields(err.at(-1)!).C).toBe('57014');
      expect(Date.now() - t0).toBeLessThan(2500);
      await c.write(sync());
      await c.until('Z');
      expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    } finally {
      c.destroy();
    }
  });
});

describe('time limits in a pipelined group', () => {
  let t: TestGateway;
  beforeAll(async () => {
    const a = await adminClient(DB);
    await a.query('CREATE TABLE IF NOT EXISTS quick_writes (id int)');
    await a.end();
    t = await startTestGateway(DB, {
      policy: { files: ['test/policies/statement-timeouts.rego'] },
    });
  });
  afterAll(async () => t?.stop());

  it('a limited statement behind one with no limit is still cut at its limit', async () => {
    // PostgreSQL answers a group's statements together at its Sync, so the gateway cannot
    // see where one ends and the next begins: the limit counts from when the group is sent
    // (timing the read from the write's answer would let it run unlimited).
    const c = await rawLogin(t, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'INSERT INTO quick_writes VALUES (1)'),
          bind('', ''),
          execute(),
          parse('', 'SELECT pg_catalog.pg_sleep(3)'),
          bind('', ''),
          execute(),
          sync(),
        ]),
      );
      const t0 = Date.now();
      const ms = await c.until('Z', 10_000);
      expect(errorCodes(ms)).toEqual(['57014']);
      expect(Date.now() - t0).toBeLessThan(2500);
    } finally {
      c.destroy();
    }
  });

  it('a limited group sent behind another still running is cut at its limit, and only it', async () => {
    // Two groups (two Syncs) sent at once: the write has no limit and takes a second; the
    // read's limit starts when the write is answered (a cancel before would stop the write).
    const c = await rawLogin(t, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'INSERT INTO quick_writes SELECT 2 FROM pg_catalog.pg_sleep(1)'),
          bind('', ''),
          execute(),
          sync(),
          parse('', 'SELECT pg_catalog.pg_sleep(3)'),
          bind('', ''),
          execute(),
          sync(),
        ]),
      );
      expect(errorCodes(await c.until('Z', 10_000))).toEqual([]);
      expect(errorCodes(await c.until('Z', 10_000))).toEqual(['57014']);
    } finally {
      c.destroy();
    }
  });
});

describe("a SQL FETCH or MOVE runs its cursor's statement", () => {
  let t: TestGateway;
  beforeAll(async () => {
    const a = await adminClient(DB);
    await a.query(`CREATE OR REPLACE VIEW slow AS
                     SELECT g, pg_catalog.pg_sleep(0.1)::text AS s FROM generate_series(1, 20) g;
                   CREATE OR REPLACE VIEW quick AS SELECT 1 AS g;
                   CREATE TABLE IF NOT EXISTS blockonly AS SELECT g FROM generate_series(1, 3) g;
                   CREATE TABLE IF NOT EXISTS outbig AS SELECT g FROM generate_series(1, 100) g`);
    await a.end();
    t = await startTestGateway(DB, { policy: { files: ['test/policies/cursor-limits.rego'] } });
  });
  afterAll(async () => t?.stop());

  it("under the cursor's time limit", async () => {
    const c = await rawLogin(t, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
      expect(errorCodes(await c.simple('DECLARE c CURSOR FOR SELECT g FROM slow'))).toEqual([]);
      // 20 rows at 0.1 s each: cut at 300 ms.
      const ms = await c.simple('FETCH ALL FROM c');
      expect({ codes: errorCodes(ms), rows: rows(ms).length }).toEqual({
        codes: ['57014'],
        rows: 0,
      });
      expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
      expect(errorCodes(await c.simple('BEGIN; DECLARE m CURSOR FOR SELECT g FROM slow'))).toEqual(
        [],
      );
      expect(errorCodes(await c.simple('MOVE ALL IN m'))).toEqual(['57014']);
      expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
      // The same through the extended protocol.
      expect(errorCodes(await c.simple('BEGIN; DECLARE e CURSOR FOR SELECT g FROM slow'))).toEqual(
        [],
      );
      await c.write(
        Buffer.concat([parse('', 'FETCH ALL FROM e'), bind('', ''), execute(), sync()]),
      );
      expect(errorCodes(await c.until('Z', 10_000))).toEqual(['57014']);
    } finally {
      c.destroy();
    }
  });

  it('decided again in the transaction state it is read in (WITH HOLD after COMMIT)', async () => {
    const c = await rawLogin(t, DB);
    try {
      expect(errorCodes(await c.simple('SELECT g FROM blockonly'))).toEqual(['42501']);
      const declare = 'BEGIN; DECLARE h CURSOR WITH HOLD FOR SELECT g FROM blockonly; COMMIT';
      expect(errorCodes(await c.simple(declare))).toEqual([]);
      const ms = await c.simple('FETCH ALL FROM h');
      expect({ codes: errorCodes(ms), rows: rows(ms).length }).toEqual({
        codes: ['42501'],
        rows: 0,
      });
      await c.write(
        Buffer.concat([parse('', 'FETCH ALL FROM h'), bind('', ''), execute(), sync()]),
      );
      expect(errorCodes(await c.until('Z'))).toEqual(['42501']);
      // Inside a block again it is read.
      expect(rows(await c.simple('BEGIN; FETCH ALL FROM h; COMMIT')).length).toBe(3);
    } finally {
      c.destroy();
    }
  });

  it('a WITH HOLD cursor is run whole by COMMIT, in its time limit', async () => {
    const c = await rawLogin(t, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
      expect(
        errorCodes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT g FROM slow')),
      ).toEqual([]);
      // PostgreSQL keeps the cursor's rows past the block: COMMIT runs its query (2 s).
      expect(errorCodes(await c.simple('COMMIT'))).toEqual(['57014']);
    } finally {
      c.destroy();
    }
  });

  it('a WITH HOLD cursor read outside its block is held to that decision, across reads', async () => {
    const c = await rawLogin(t, DB);
    try {
      expect(errorCodes(await c.simple('SELECT g FROM outbig'))).toEqual(['54000']);
      const declare = (n: string) =>
        `BEGIN; DECLARE ${n} CURSOR WITH HOLD FOR SELECT g FROM outbig; COMMIT`;
      expect(errorCodes(await c.simple(declare('h1')))).toEqual([]);
      const ms = await c.simple('FETCH ALL FROM h1');
      expect({ codes: errorCodes(ms), rows: rows(ms).length }).toEqual({
        codes: ['54000'],
        rows: 5,
      });
      // By protocol Executes of its name, a few rows at a time: 5 in all.
      expect(errorCodes(await c.simple(declare('h2')))).toEqual([]);
      let read = 0;
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) {
        await c.write(Buffer.concat([execute('h2', 2), sync()]));
        const got = await c.until('Z');
        read += rows(got).length;
        seen.push(...errorCodes(got));
      }
      expect(read).toBe(5);
      expect(seen).toContain('54000');
    } finally {
      c.destroy();
    }
  });

  it('a SQL FETCH of a protocol portal that itself fetches from a cursor is refused', async () => {
    const c = await rawLogin(t, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN; DECLARE c CURSOR FOR SELECT g FROM slow'))).toEqual(
        [],
      );
      await c.write(Buffer.concat([parse('', 'FETCH ALL FROM c'), bind('p', ''), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      // It would read c whole into p at its first run, under no limit of c's.
      expect(errorCodes(await c.simple('FETCH ALL FROM p'))).toEqual(['42501']);
      expect(errorCodes(await c.simple('MOVE ALL IN p'))).toEqual(['42501']);
    } finally {
      c.destroy();
    }
  });
});

describe('a time limit in an item of several groups', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(DB, { policy: { files: ['test/policies/cursor-limits.rego'] } });
  });
  afterAll(async () => t?.stop());

  it('holds for a group sent after the limit of an earlier, answered group ran out', async () => {
    const c = await rawLogin(t, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'SELECT g FROM slow WHERE false'),
          bind('', ''),
          execute(),
          flush(),
        ]),
      );
      expect(errorCodes(await c.until('C', 5000))).toEqual([]);
      // The first group's 300 ms run out while nothing runs.
      await new Promise((r) => setTimeout(r, 600));
      await c.write(
        Buffer.concat([parse('', 'SELECT g FROM slow'), bind('', ''), execute(), sync()]),
      );
      expect(errorCodes(await c.until('Z', 10_000))).toEqual(['57014']);
    } finally {
      c.destroy();
    }
  });

  it("is not stretched by a later group's lower limit", async () => {
    const c = await rawLogin(t, DB);
    try {
      const t0 = Date.now();
      await c.write(
        Buffer.concat([parse('', 'SELECT g FROM slow'), bind('a', ''), execute('a'), flush()]),
      );
      // 280 ms in, a group with 250 ms: the first must still end at its 300 ms, not 530.
      await new Promise((r) => setTimeout(r, 280));
      await c.write(
        Buffer.concat([parse('', 'SELECT g FROM quick'), bind('b', ''), execute('b'), sync()]),
      );
      const ms = await c.until('Z', 10_000);
      expect(errorCodes(ms)[0]).toBe('57014');
      expect(Date.now() - t0).toBeLessThan(500);
    } finally {
      c.destroy();
    }
  });
});
