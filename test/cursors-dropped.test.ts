// Cursors and portals PostgreSQL drops (at ROLLBACK TO SAVEPOINT, ROLLBACK, COMMIT) leave the
// gateway's tables with them. Were one kept, a cursor a function later opens under its name
// would be read under the dropped one's decision (no row limit), where a cursor the gateway
// never saw declared is refused (34000). Those PostgreSQL keeps stay readable. (A protocol
// Close of a portal closes a SQL cursor of its name too; a COMMIT AND CHAIN answered ROLLBACK
// drops the WITH HOLD cursors of its failed block.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, close, execute, fields, parse, rows, sync, errorCodes } from './helpers/raw.js';

const DB = 'cursors_dropped';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE big AS SELECT g FROM generate_series(1, 100) g; CREATE TABLE par (id int PRIMARY KEY); CREATE TABLE dc (v int REFERENCES par DEFERRABLE INITIALLY DEFERRED)',
  );
  const a = await adminClient(DB);
  // The common refcursor pattern: the caller names the cursor the function opens.
  await a.query(`CREATE FUNCTION opencur(c refcursor) RETURNS refcursor LANGUAGE plpgsql AS $$
      BEGIN OPEN c FOR SELECT g FROM big; RETURN c; END $$`);
  await a.end();
  g = await startTestGateway(DB, { policy: { files: ['test/policies/allow-all-limit-big.rego'] } });
});
afterAll(async () => g?.stop());

describe('a cursor or portal PostgreSQL dropped leaves the gateway table', () => {
  it('baseline: a FETCH of a cursor a function opened, under a name never declared, is refused', async () => {
    const c = await rawLogin(g, DB);
    try {
      await c.simple('BEGIN');
      expect(errorCodes(await c.simple("SELECT opencur('fresh')"))).toEqual([]);
      const ms = await c.simple('FETCH ALL FROM fresh');
      expect(rows(ms)).toEqual([]);
      expect(errorCodes(ms)).toEqual(['34000']);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });

  const drops: [string, string[], string[]][] = [
    ['ROLLBACK TO SAVEPOINT', ['BEGIN', 'SAVEPOINT s'], ['ROLLBACK TO SAVEPOINT s']],
    ['COMMIT (a cursor without HOLD ends with its block)', ['BEGIN'], ['COMMIT', 'BEGIN']],
    ['ROLLBACK', ['BEGIN'], ['ROLLBACK', 'BEGIN']],
  ];
  for (const [name, before, after] of drops)
    it(`after ${name}, a function's cursor of the dropped name is not read unlimited`, async () => {
      const c = await rawLogin(g, DB);
      try {
        for (const sql of before) expect(errorCodes(await c.simple(sql))).toEqual([]);
        // A cursor with no row limit…
        expect(errorCodes(await c.simple('DECLARE x CURSOR FOR SELECT 1 AS one'))).toEqual([]);
        // …that PostgreSQL drops here.
        for (const sql of after) expect(errorCodes(await c.simple(sql))).toEqual([]);
        // PostgreSQL has no cursor x now: the function may open one under that name.
        expect(errorCodes(await c.simple("SELECT opencur('x')"))).toEqual([]);
        const ms = await c.simple('FETCH ALL FROM x');
        // As for a name never declared: refused, nothing of big's 100 rows read past its limit.
        expect(rows(ms).length).toBeLessThanOrEqual(5);
        expect(errorCodes(ms)).not.toEqual([]);
        await c.simple('ROLLBACK');
      } finally {
        c.destroy();
      }
    });

  it('after ROLLBACK TO SAVEPOINT drops a protocol portal, a function cursor of its name is not read unlimited', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const sql of ['BEGIN', 'SAVEPOINT s'])
        expect(errorCodes(await c.simple(sql))).toEqual([]);
      // A portal p with no row limit, made since the savepoint: ROLLBACK TO drops it upstream.
      await c.write(Buffer.concat([parse('', 'SELECT 1 AS one'), bind('p', ''), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      expect(errorCodes(await c.simple('ROLLBACK TO SAVEPOINT s'))).toEqual([]);
      expect(errorCodes(await c.simple("SELECT opencur('p')"))).toEqual([]);
      const ms = await c.simple('FETCH ALL FROM p');
      expect(rows(ms).length).toBeLessThanOrEqual(5);
      expect(errorCodes(ms)).not.toEqual([]);
      // By protocol Execute too.
      await c.write(Buffer.concat([execute('p', 0), sync()]));
      const ex = await c.until('Z');
      expect(rows(ex).length).toBeLessThanOrEqual(5);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });

  it('after a protocol Close of a portal of its name (cursors are portals upstream), a function cursor of the name is refused', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
      expect(errorCodes(await c.simple('DECLARE x CURSOR FOR SELECT 1 AS one'))).toEqual([]);
      await c.write(Buffer.concat([close('P', 'x'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      await expectNotReadUnlimited(c, 'x', true);
    } finally {
      c.destroy();
    }
  });

  it('keeps what PostgreSQL keeps: cursors declared before the savepoint, or in one released, and WITH HOLD ones of a committed block', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const sql of [
        'BEGIN',
        'DECLARE a CURSOR FOR SELECT g FROM big',
        'SAVEPOINT s',
        'DECLARE b CURSOR FOR SELECT g FROM big',
        'RELEASE SAVEPOINT s',
        'SAVEPOINT t',
        'DECLARE d CURSOR FOR SELECT 1',
        'DECLARE h CURSOR WITH HOLD FOR SELECT g FROM big',
        'ROLLBACK TO SAVEPOINT t',
      ])
        expect(errorCodes(await c.simple(sql)), sql).toEqual([]);
      for (const name of ['a', 'b']) {
        const ms = await c.simple(`FETCH 3 FROM ${name}`);
        expect(errorCodes(ms), name).toEqual([]);
        expect(rows(ms).length, name).toBe(3);
      }
      // d and h were made since t: gone upstream and here.
      for (const name of ['d', 'h']) {
        expect(errorCodes(await c.simple(`FETCH 1 FROM ${name}`)), name).toEqual(['34000']);
        await c.simple('ROLLBACK TO SAVEPOINT t');
      }
      expect(
        errorCodes(await c.simple('DECLARE k CURSOR WITH HOLD FOR SELECT g FROM big')),
      ).toEqual([]);
      expect(errorCodes(await c.simple('COMMIT'))).toEqual([]);
      // Outside the block: k lives on, under its row limit; a is gone.
      const ms = await c.simple('FETCH ALL FROM k');
      expect(rows(ms).length).toBe(5);
      expect(errorCodes(await c.simple('FETCH 1 FROM a'))).toEqual(['34000']);
    } finally {
      c.destroy();
    }
  });
});

const names = async (c: Awaited<ReturnType<typeof rawLogin>>) =>
  rows(await c.simple('SELECT name FROM pg_cursors ORDER BY 1')).map((r) => r[0]);

/** PostgreSQL has no cursor x (pg_cursors): a function opens one; the gateway must not read it unlimited. */
/** `refused`: the FETCH is refused as for a name never declared (34000), not only limited. */
async function expectNotReadUnlimited(
  c: Awaited<ReturnType<typeof rawLogin>>,
  x: string,
  refused = false,
) {
  expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
  expect(await names(c)).not.toContain(x);
  expect(errorCodes(await c.simple(`SELECT opencur('${x}')`))).toEqual([]);
  const ms = await c.simple(`FETCH ALL FROM ${x}`);
  const n = rows(ms).length;
  await c.simple('ROLLBACK');
  expect(n, `rows read from function cursor ${x}`).toBeLessThanOrEqual(5);
  if (refused) expect(errorCodes(ms)).toEqual(['34000']);
}

describe('a WITH HOLD cursor lives on only past a transaction that committed', () => {
  it('a COMMIT that fails running the held query rolls back: the cursor is gone', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
      expect(
        errorCodes(
          await c.simple(
            'DECLARE h CURSOR WITH HOLD FOR SELECT 1/g AS v FROM generate_series(0,0) g',
          ),
        ),
      ).toEqual([]);
      expect(errorCodes(await c.simple('COMMIT'))).toEqual(['22012']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('so is one whose COMMIT fails on a deferred constraint', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
      expect(errorCodes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'))).toEqual(
        [],
      );
      expect(errorCodes(await c.simple('INSERT INTO dc VALUES (1)'))).toEqual([]);
      expect(errorCodes(await c.simple('COMMIT'))).toEqual(['23503']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('so is one whose PREPARE TRANSACTION is refused (a held cursor exists)', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
      expect(errorCodes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'))).toEqual(
        [],
      );
      expect(errorCodes(await c.simple("PREPARE TRANSACTION 'gx'"))).not.toEqual([]);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('a ROLLBACK in an implicit transaction (a Query string) drops its WITH HOLD cursor', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(
        errorCodes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one; ROLLBACK')),
      ).toEqual([]);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('so does one in an extended group', async () => {
    const c = await rawLogin(g, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'),
          bind('', ''),
          execute('', 0),
          parse('', 'ROLLBACK'),
          bind('', ''),
          execute('', 0),
          sync(),
        ]),
      );
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('a SQL-EXECUTE portal bound before a savepoint, first run inside it, survives ROLLBACK TO', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const sql of ['BEGIN', 'PREPARE ps AS SELECT g FROM generate_series(1,10) g'])
        expect(errorCodes(await c.simple(sql)), sql).toEqual([]);
      await c.write(Buffer.concat([parse('', 'EXECUTE ps'), bind('p', ''), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      expect(errorCodes(await c.simple('SAVEPOINT s'))).toEqual([]);
      await c.write(Buffer.concat([execute('p', 2), sync()]));
      let ms = await c.until('Z');
      expect(errorCodes(ms)).toEqual([]);
      expect(rows(ms).length).toBe(2);
      expect(errorCodes(await c.simple('ROLLBACK TO SAVEPOINT s'))).toEqual([]);
      expect(await names(c)).toContain('p');
      await c.write(Buffer.concat([execute('p', 2), sync()]));
      ms = await c.until('Z');
      expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).M)).toEqual([]);
      expect(rows(ms).length).toBe(2);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });
  it('a WITH HOLD cursor declared in an implicit transaction that then fails is gone', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(
        errorCodes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one; SELECT 1/0')),
      ).toEqual(['22012']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('so is one declared in a failed block that COMMIT ends (answered ROLLBACK)', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const s of [
        'BEGIN',
        'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one',
        'SELECT 1/0',
        'COMMIT',
      ])
        await c.simple(s);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('so is one declared in a failed block that COMMIT AND CHAIN ends (answered ROLLBACK, the next block open)', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const s of ['BEGIN', 'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'])
        expect(errorCodes(await c.simple(s)), s).toEqual([]);
      expect(errorCodes(await c.simple('SELECT 1/0'))).toEqual(['22012']);
      const chained = await c.simple('COMMIT AND CHAIN');
      expect(errorCodes(chained)).toEqual([]);
      expect(chained.at(-1)?.body[0]).toBe('T'.charCodeAt(0));
      await expectNotReadUnlimited(c, 'h', true);
    } finally {
      c.destroy();
    }
  });

  it('so is one declared in a released savepoint whose COMMIT AND CHAIN fails on a deferred constraint', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const s of [
        'BEGIN',
        'SAVEPOINT s',
        'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one',
        'RELEASE s',
        'INSERT INTO dc VALUES (1)',
      ])
        expect(errorCodes(await c.simple(s)), s).toEqual([]);
      expect(errorCodes(await c.simple('COMMIT AND CHAIN'))).toEqual(['23503']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });
});
