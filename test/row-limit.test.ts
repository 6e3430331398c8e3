// limits.max_rows: a result with more rows than the policy allows is cut, and the client gets
// 54000 instead of the completion; the session and its transaction state stay consistent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  gatewayClient,
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  bind,
  copyData,
  copyDone,
  execute,
  fields,
  parse,
  query,
  rows,
  sync,
  type Message,
  type RawClient,
  errorCodes,
} from './helpers/raw.js';

const DB = 'row_limit_db';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, { policy: { files: ['test/policies/row-limit.rego'] } });
});
afterAll(async () => g?.stop());

const client = (): Promise<pg.Client> => gatewayClient(g, DB, { user: 'a', ignoreErrors: true });

describe('limits.max_rows', () => {
  it('returns a result within the limit untouched', async () => {
    const c = await client();
    const r = await c.query('SELECT g FROM generate_series(1, 5) g');
    expect(r.rows.map((x) => x.g)).toEqual([1, 2, 3, 4, 5]);
    await c.end();
  });

  it('refuses a result past the limit with 54000, in both protocols, and the session goes on', async () => {
    const c = await client();
    await expect(c.query('SELECT g FROM generate_series(1, 1000) g')).rejects.toMatchObject({
      code: '54000',
    });
    await expect(
      c.query('SELECT g FROM generate_series($1::int, $2::int) g', [1, 1000]),
    ).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('5 rows') });
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
  });

  it('a cartesian blow-up is cut after the limit instead of streaming to the agent', async () => {
    const c = await client();
    await expect(
      c.query(
        'SELECT * FROM generate_series(1, 100) a, generate_series(1, 100) b, generate_series(1, 100) c',
      ),
    ).rejects.toMatchObject({ code: '54000' });
    await c.end();
  });

  it('inside a transaction the error aborts it on both sides: COMMIT rolls back', async () => {
    const c = await client();
    await c.query('BEGIN');
    await expect(c.query('SELECT g FROM generate_series(1, 50) g')).rejects.toMatchObject({
      code: '54000',
    });
    // The upstream transaction is aborted too, exactly as after a real error.
    await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    const end = await c.query('COMMIT');
    expect(end.command).toBe('ROLLBACK');
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await c.end();
  });

  it('the ReadyForQuery after the error reports the failed transaction on the wire', async () => {
    const c = await rawLogin(g, DB);
    const status = (ms: { type: string; body: Buffer }[]) => ms.at(-1)!.body.toString('latin1');
    expect(status(await c.simple('BEGIN'))).toBe('T');
    const r = await c.simple('SELECT g FROM generate_series(1, 50) g');
    expect(errorCodes(r)).toEqual(['54000']);
    expect(rows(r)).toEqual([['1'], ['2'], ['3'], ['4'], ['5']]);
    expect(r.some((m) => m.type === 'C')).toBe(false);
    expect(status(r)).toBe('E');
    expect(status(await c.simple('ROLLBACK'))).toBe('I');
    c.destroy();
  });

  it('COPY (query) TO STDOUT counts its rows too', async () => {
    const c = await client();
    await expect(
      c.query('COPY (SELECT g FROM generate_series(1, 100) g) TO STDOUT'),
    ).rejects.toMatchObject({ code: '54000' });
    expect((await c.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    await c.end();
  });

  it('COPY TO STDOUT in binary or with a header passes max_rows rows (the header and the binary trailer are no rows)', async () => {
    const c = await rawLogin(g, DB);
    const copied = async (sql: string) => {
      const r = await c.simple(sql);
      return {
        data: r.filter((m) => m.type === 'd').length,
        errors: errorCodes(r),
        done: r
          .filter((m) => m.type === 'C')
          .map((m) => m.body.toString('utf8', 0, m.body.length - 1)),
      };
    };
    const five = '(SELECT g FROM generate_series(1, 5) g)';
    const six = '(SELECT g FROM generate_series(1, 6) g)';
    for (const opts of [
      '(FORMAT binary)',
      '(FORMAT csv, HEADER)',
      '(FORMAT text, HEADER true)',
      'CSV HEADER',
    ])
      expect(await copied(`COPY ${five} TO STDOUT ${opts}`), opts).toMatchObject({
        errors: [],
        done: ['COPY 5'],
      });
    expect(await copied(`COPY ${five} TO STDOUT (FORMAT csv, HEADER false)`)).toMatchObject({
      data: 5,
      done: ['COPY 5'],
    });
    // Past the limit no sixth row reaches the client: the header line comes first, and the
    // binary trailer, which comes last, is not allowed for ahead (the first CopyData of a
    // binary COPY holds the file header and the first row).
    for (const [opts, data] of [
      ['(FORMAT binary)', 5],
      ['BINARY', 5],
      ['(FORMAT csv, HEADER)', 6],
      ['', 5],
    ] as const)
      expect(await copied(`COPY ${six} TO STDOUT ${opts}`), opts).toMatchObject({
        data,
        errors: ['54000'],
        done: [],
      });
    // A binary COPY of no rows sends its file header and trailer in one CopyData.
    expect(await copied('COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)')).toMatchObject({
      data: 1,
      errors: [],
      done: ['COPY 0'],
    });
    c.destroy();
  });

  it('closes the session when the cut statement had later statements of its batch running', async () => {
    const c = await client();
    await expect(
      c.query('SELECT g FROM generate_series(1, 100) g; SELECT 1'),
    ).rejects.toMatchObject({ code: '54000' });
    await c.end().catch(() => undefined);
    const d = await client();
    expect((await d.query('SELECT 4 AS four')).rows).toEqual([{ four: 4 }]);
    await d.end();
  });

  it('a SQL cursor read in pieces returns at most max_rows in all, not per FETCH', async () => {
    const c = await rawLogin(g, DB);
    await c.simple('BEGIN');
    await c.simple('DECLARE cur CURSOR FOR SELECT g FROM generate_series(1, 100) g');
    expect(rows(await c.simple('FETCH 3 FROM cur'))).toEqual([['1'], ['2'], ['3']]);
    // Two rows are left under the DECLARE's limit of 5: the third is cut.
    const r = await c.simple('FETCH 3 FROM cur');
    expect(rows(r)).toEqual([['4'], ['5']]);
    expect(errorCodes(r)).toEqual(['54000']);
    expect(fields(r.find((m) => m.type === 'E')!).M).toContain('5 rows');
    expect(r.at(-1)!.body.toString('latin1')).toBe('E');
    await c.simple('ROLLBACK');
    // A new cursor of the same name starts with a full budget.
    await c.simple('BEGIN');
    await c.simple('DECLARE cur CURSOR FOR SELECT g FROM generate_series(1, 100) g');
    expect(rows(await c.simple('FETCH 5 FROM cur'))).toHaveLength(5);
    await c.simple('ROLLBACK');
    c.destroy();
  });

  it('a portal run by several Executes with a row count shares one limit', async () => {
    const c = await rawLogin(g, DB);
    await c.simple('BEGIN');
    await c.write(
      Buffer.concat([
        parse('', 'SELECT g FROM generate_series(1, 100) g'),
        bind('p', ''),
        execute('p', 3),
        sync(),
      ]),
    );
    const first = await c.until('Z');
    expect(rows(first)).toEqual([['1'], ['2'], ['3']]);
    expect(first.map((m) => m.type).join('')).toBe('12DDDsZ');
    await c.write(Buffer.concat([execute('p', 3), sync()]));
    const second = await c.until('Z');
    expect(rows(second)).toEqual([['4'], ['5']]);
    expect(errorCodes(second)).toEqual(['54000']);
    await c.simple('ROLLBACK');
    c.destroy();
  });

  it("a SQL cursor read by protocol Execute is held to its DECLARE's limit; an unknown portal is refused", async () => {
    const c = await rawLogin(g, DB);
    await c.simple('BEGIN');
    await c.simple('DECLARE big CURSOR FOR SELECT g FROM generate_series(1, 100) g');
    await c.write(Buffer.concat([execute('big', 0), sync()]));
    const r = await c.until('Z');
    expect(rows(r)).toEqual([['1'], ['2'], ['3'], ['4'], ['5']]);
    expect(errorCodes(r)).toEqual(['54000']);
    await c.simple('ROLLBACK');
    await c.write(Buffer.concat([execute('nosuch', 0), sync()]));
    const u = await c.until('Z');
    expect(u.map((m) => m.type).join('')).toBe('EZ');
    expect(fields(u[0]).C).toBe('34000');
    expect(rows(await c.simple('SELECT 6'))).toEqual([['6']]);
    c.destroy();
  });
});

describe('a COPY pipelined inside a block with a row-limited read', () => {
  it('the COMMIT behind it is not held for ever', async () => {
    // Every statement is limited (far above what it returns), COPY included.
    const gl = await startTestGateway(DB, {
      policy: { files: ['test/policies/allow-limited.rego'] },
    });
    const admin = await adminClient(DB);
    await admin.query('DROP TABLE IF EXISTS copied; CREATE TABLE copied (n int)');
    await admin.query('GRANT ALL ON copied TO PUBLIC');
    try {
      const c = await rawLogin(gl, DB);
      const pbe = (sql: string) => [parse('', sql), bind('', ''), execute()];
      // The COPY's data comes right behind its Execute, with no Sync or Flush: the group
      // goes upstream early, and the COMMIT waits for the read and the COPY to complete.
      await c.write(
        Buffer.concat([
          query('BEGIN'),
          ...pbe('SELECT 1 AS a'),
          ...pbe('COPY copied FROM STDIN'),
          copyData('7\n'),
          copyDone(),
          ...pbe('COMMIT'),
          sync(),
        ]),
      );
      await c.until('Z');
      const ms = await c.until('Z');
      expect(errorCodes(ms)).toEqual([]);
      expect(
        ms.filter((m) => m.type === 'C').map((m) => m.body.toString('utf8', 0, m.body.length - 1)),
      ).toEqual(['SELECT 1', 'COPY 1', 'COMMIT']);
      expect(String.fromCharCode(ms.at(-1)!.body[0])).toBe('I');
      expect((await admin.query('SELECT n FROM copied')).rows).toEqual([{ n: 7 }]);
      c.destroy();
    } finally {
      await admin.end();
      await gl.stop();
    }
  });
});

describe('COPY FROM STDIN sent with messages PostgreSQL reads differently once it starts', () => {
  // Until PostgreSQL answers a COPY FROM STDIN, the gateway cannot tell whether a Sync
  // behind it is COPY data (ignored) or ends a unit of work; had it guessed, every answer
  // after would be matched to the wrong statement, and a later read would not be limited.
  let gl: TestGateway;
  let admin: pg.Client;
  beforeAll(async () => {
    gl = await startTestGateway(DB, { policy: { files: ['test/policies/limited-reads.rego'] } });
    admin = await adminClient(DB);
    await admin.query('DROP TABLE IF EXISTS copy_sync; CREATE TABLE copy_sync (n int)');
    await admin.query('GRANT ALL ON copy_sync TO PUBLIC');
  });
  afterAll(async () => {
    await admin?.end();
    await gl?.stop();
  });

  const limitedAfter = async (messages: Buffer[], before: string[]) => {
    const c = await rawLogin(gl, DB);
    try {
      await c.write(Buffer.concat([...messages, query('SELECT generate_series(1, 100) AS g')]));
      const first = await c.until('Z');
      expect(first.map((m) => (m.type === 'E' ? `E ${fields(m).C}` : m.type))).toEqual(before);
      const read = await c.until('Z');
      expect(rows(read)).toHaveLength(5);
      expect(errorCodes(read)).toEqual(['54000']);
      expect(rows(await c.simple('SELECT 7 AS n'))).toEqual([['7']]);
    } finally {
      c.destroy();
    }
  };

  it('a Sync inside a simple COPY’s data is data, not the end of a unit', async () => {
    await limitedAfter([query('COPY copy_sync FROM STDIN'), sync(), copyDone()], ['G', 'C', 'Z']);
  });

  it.each(['one write', 'a write per message'])(
    'a COPY that fails on a row with a Sync behind it ends the session: the Sync may have ended a unit (%s)',
    async (how) => {
      // PostgreSQL stops reading COPY data at the bad row, so the Sync behind it is a real
      // one there; the gateway cannot tell, and does not guess.
      const c = await rawLogin(gl, DB);
      try {
        const messages = [
          query('COPY copy_sync FROM STDIN'),
          copyData('not-a-number\n'),
          sync(),
          copyDone(),
          query('SELECT generate_series(1, 100) AS g'),
        ];
        if (how === 'one write') await c.write(Buffer.concat(messages));
        else for (const m of messages) await c.write(m);
        const ms = await c.rest(5000);
        expect(rows(ms).length).toBeLessThanOrEqual(5);
        expect(errorCodes(ms)).toEqual(['22P02', '08P01']);
        expect(await c.closedWithin(5000)).toBe(true);
      } finally {
        c.destroy();
      }
    },
  );

  it('a read cut alone in its unit, with the next extended part already upstream, closes the session', async () => {
    const c = await rawLogin(gl, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'SELECT 1 AS a'),
          bind('', ''),
          execute(),
          query('SELECT generate_series(1, 8) AS g'),
          parse('', 'SELECT 2 AS b'),
          bind('', ''),
          execute(),
          query('SELECT 3 AS c'),
          sync(),
        ]),
      );
      const ms = await c.rest(5000);
      // Never the gateway's own marker error, nor an answer nobody asked for.
      expect(errorCodes(ms)).toEqual(['54000']);
      expect(ms.some((m) => m.type === '3')).toBe(false);
      expect(await c.closedWithin(5000)).toBe(true);
    } finally {
      c.destroy();
    }
  });

  it('a COPY of an extended group that fails, then a Query before the group’s Sync', async () => {
    // libpq-style: Execute and Sync before the data (the Sync is ignored); the COPY fails on
    // its data, so PostgreSQL skips the Query up to the next Sync.
    await limitedAfter(
      [
        parse('', 'COPY copy_sync FROM STDIN'),
        bind('', ''),
        execute(),
        sync(),
        copyData('not-a-number\n'),
        copyDone(),
        query('SELECT 1'),
        sync(),
      ],
      ['1', '2', 'G', 'E 22P02', 'Z'],
    );
  });
});

describe('limits.max_rows across protocol portals and SQL cursors (one namespace upstream)', () => {
  it("a FETCH of a protocol portal shares the portal's limit", async () => {
    const c = await rawLogin(g, DB);
    try {
      await c.simple('BEGIN');
      await c.write(
        Buffer.concat([
          parse('s', 'SELECT g FROM generate_series(1, 100) g'),
          bind('p', 's'),
          execute('p', 2),
          sync(),
        ]),
      );
      expect(rows(await c.until('Z'))).toHaveLength(2);
      // 3 of the portal's 5 rows are left: FETCH 5 reads past them.
      const ms = await c.simple('FETCH 5 FROM p');
      expect(rows(ms).length).toBeLessThanOrEqual(3);
      expect(errorCodes(ms)).toEqual(['54000']);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });

  it('SQL CLOSE closes a protocol portal: a cursor declared with its name reads under its own limit', async () => {
    const c = await rawLogin(g, DB);
    try {
      await c.simple('BEGIN');
      // A portal with no row limit (a SAVEPOINT), closed by SQL CLOSE, its name reused.
      await c.write(Buffer.concat([parse('sp', 'SAVEPOINT a'), bind('c', 'sp'), sync()]));
      await c.until('Z');
      expect(errorCodes(await c.simple('CLOSE c'))).toEqual([]);
      expect(
        errorCodes(await c.simple('DECLARE c CURSOR FOR SELECT g FROM generate_series(1, 100) g')),
      ).toEqual([]);
      await c.write(Buffer.concat([execute('c', 0), sync()]));
      const ms = await c.until('Z');
      expect(rows(ms).length).toBeLessThanOrEqual(5);
      expect(errorCodes(ms)).toEqual(['54000']);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });
});

describe('limits.max_rows of one table, read through a cursor name used twice', () => {
  let t: TestGateway;
  beforeAll(async () => {
    const a = await adminClient(DB);
    await a.query('CREATE TABLE IF NOT EXISTS big AS SELECT g FROM generate_series(1, 100) g');
    await a.end();
    t = await startTestGateway(DB, { policy: { files: ['test/policies/limit-big.rego'] } });
  });
  afterAll(async () => t?.stop());

  /** Run `fn` in a transaction block of a fresh raw session, rolled back after. */
  async function inBlock(fn: (c: RawClient) => Promise<void>): Promise<void> {
    const c = await rawLogin(t, DB);
    try {
      await c.simple('BEGIN');
      await fn(c);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  }
  /** The read was cut at big's limit: at most 5 rows, then 54000. */
  function cutAtLimit(ms: Message[]): void {
    expect(rows(ms).length).toBeLessThanOrEqual(5);
    expect(errorCodes(ms)).toEqual(['54000']);
  }

  it('a FETCH of a protocol portal keeps its limit where a closed cursor of the name was', async () => {
    const c = await rawLogin(t, DB);
    try {
      // The cursor (no limit: it reads no table) ends with its transaction.
      for (const sql of ['BEGIN', 'DECLARE c CURSOR FOR SELECT 1 AS one', 'COMMIT', 'BEGIN'])
        await c.simple(sql);
      await c.write(Buffer.concat([parse('s', 'SELECT g FROM big'), bind('c', 's'), sync()]));
      await c.until('Z');
      const ms = await c.simple('FETCH ALL FROM c');
      expect(rows(ms).length).toBeLessThanOrEqual(5);
      expect(errorCodes(ms)).toEqual(['54000']);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });

  // PostgreSQL drops a portal at ROLLBACK TO (one made since the savepoint) and at COMMIT or
  // ROLLBACK AND CHAIN, while the status stays 'T'; a cursor may then take its name. An
  // Execute of that name reads the cursor, under the cursor's limit, recorded as its read.
  const stalePortal: [string, string[], string[]][] = [
    ['ROLLBACK TO SAVEPOINT', ['SAVEPOINT s'], ['ROLLBACK TO SAVEPOINT s']],
    ['an error, then ROLLBACK TO', ['SAVEPOINT s'], ['SELECT 1/0', 'ROLLBACK TO s']],
    ['COMMIT AND CHAIN', [], ['COMMIT AND CHAIN']],
    ['ROLLBACK AND CHAIN', [], ['ROLLBACK AND CHAIN']],
  ];
  for (const [name, before, after] of stalePortal)
    it(`a cursor that takes the name of a portal dropped by ${name} reads under its own limit`, () =>
      inBlock(async (c) => {
        for (const sql of before) await c.simple(sql);
        // A portal p over a table with no limit…
        await c.write(Buffer.concat([parse('', 'SELECT 1 AS one'), bind('p', ''), sync()]));
        await c.until('Z');
        for (const sql of after) await c.simple(sql);
        // …is gone upstream: p is now a cursor over big, limited to 5 rows.
        expect(errorCodes(await c.simple('DECLARE p CURSOR FOR SELECT g FROM big'))).toEqual([]);
        await c.write(Buffer.concat([execute('p', 0), sync()]));
        cutAtLimit(await c.until('Z'));
      }));

  it('a portal of SQL EXECUTE reads the result of its first run, whatever the name holds later', () =>
    inBlock(async (c) => {
      await c.simple('PREPARE q AS SELECT g FROM generate_series(1, 20) g');
      await c.write(
        Buffer.concat([parse('', 'EXECUTE q'), bind('p', ''), execute('p', 2), sync()]),
      );
      expect(rows(await c.until('Z'))).toHaveLength(2);
      // q now reads big (5 rows at most), and then something the policy refuses.
      for (const sql of ['DEALLOCATE q', 'PREPARE q AS SELECT g FROM big'])
        expect(errorCodes(await c.simple(sql))).toEqual([]);
      // PostgreSQL ran q whole at the first Execute: the rest of that result comes back.
      await c.write(Buffer.concat([execute('p', 10), sync()]));
      let ms = await c.until('Z');
      expect(errorCodes(ms)).toEqual([]);
      expect(rows(ms)).toHaveLength(10);
      for (const sql of ['DEALLOCATE q', 'PREPARE q AS DELETE FROM big'])
        expect(errorCodes(await c.simple(sql))).toEqual([]);
      await c.write(Buffer.concat([execute('p', 0), sync()]));
      ms = await c.until('Z');
      expect(errorCodes(ms)).toEqual([]);
      expect(rows(ms)).toHaveLength(8);
    }));

  it('a portal of SQL EXECUTE whose name now holds a limited read has one budget for its result', () =>
    inBlock(async (c) => {
      await c.simple('PREPARE q AS SELECT 1 AS one');
      await c.write(Buffer.concat([parse('', 'EXECUTE q'), bind('p', ''), sync()]));
      await c.until('Z');
      // Bound while q held no limit; by the first Execute, q reads big (5 rows at most).
      for (const sql of ['DEALLOCATE q', 'PREPARE q AS SELECT g FROM big']) await c.simple(sql);
      let total = 0;
      const seen: string[] = [];
      for (let i = 0; i < 25 && seen.length === 0; i++) {
        await c.write(Buffer.concat([execute('p', 5), sync()]));
        const ms = await c.until('Z');
        total += rows(ms).length;
        seen.push(...errorCodes(ms));
      }
      expect(total).toBeLessThanOrEqual(5);
      expect(seen).toEqual(['54000']);
    }));

  it('a FETCH or MOVE of a portal of SQL EXECUTE that has not run is refused', () =>
    inBlock(async (c) => {
      await c.simple('PREPARE q AS SELECT 1 AS one');
      await c.write(Buffer.concat([parse('', 'EXECUTE q'), bind('p', ''), sync()]));
      await c.until('Z');
      // PostgreSQL would run what q holds now at the FETCH, decided for nothing.
      for (const sql of ['DEALLOCATE q', 'PREPARE q AS SELECT g FROM big']) await c.simple(sql);
      const ms = await c.simple('FETCH ALL FROM p');
      expect(rows(ms)).toEqual([]);
      expect(errorCodes(ms)).toEqual(['42501']);
    }));

  it('a FETCH of a portal the session forgot past its bounds is refused, not read unlimited', () =>
    inBlock(async (c) => {
      await c.write(Buffer.concat([parse('s', 'SELECT g FROM big'), bind('p', 's'), sync()]));
      await c.until('Z');
      // Portals over 16 MiB of parameters: the oldest (p) is forgotten, still open upstream.
      await c.write(Buffer.concat([parse('t', 'SELECT length($1)'), sync()]));
      await c.until('Z');
      const big = 'x'.repeat(5 * 1024 * 1024);
      for (let i = 0; i < 4; i++) {
        await c.write(Buffer.concat([bind(`f${i}`, 't', [big]), sync()]));
        expect(errorCodes(await c.until('Z'))).toEqual([]);
      }
      const ms = await c.simple('FETCH ALL FROM p');
      expect(rows(ms)).toEqual([]);
      expect(errorCodes(ms)).toEqual(['42501']);
    }));

  it('a portal made before a savepoint rolled back to is still read under its limit', () =>
    inBlock(async (c) => {
      await c.write(Buffer.concat([parse('s', 'SELECT g FROM big'), bind('p', 's'), sync()]));
      await c.until('Z');
      // ROLLBACK TO drops only the portals made since the savepoint: p is still open, and
      // read (by FETCH or by Execute, as pgjdbc's autosave does) under its limit.
      for (const sql of ['SAVEPOINT sp', 'ROLLBACK TO SAVEPOINT sp']) await c.simple(sql);
      await c.write(Buffer.concat([execute('p', 2), sync()]));
      const first = await c.until('Z');
      expect(errorCodes(first)).toEqual([]);
      expect(rows(first)).toHaveLength(2);
      const ms = await c.simple('FETCH ALL FROM p');
      expect(rows(ms).length).toBeLessThanOrEqual(3);
      expect(errorCodes(ms)).toEqual(['54000']);
    }));

  it('a FETCH of a cursor a function opened (never declared through the gateway) is refused', async () => {
    const a = await adminClient(DB);
    await a.query(`CREATE OR REPLACE FUNCTION opencur() RETURNS refcursor LANGUAGE plpgsql AS $$
      DECLARE c refcursor := 'fc'; BEGIN OPEN c FOR SELECT g FROM big; RETURN c; END $$`);
    await a.end();
    await inBlock(async (c) => {
      expect(errorCodes(await c.simple('SELECT opencur()'))).toEqual([]);
      const ms = await c.simple('FETCH ALL FROM fc');
      expect(rows(ms)).toEqual([]);
      expect(errorCodes(ms)).toEqual(['34000']);
    });
  });

  it('a protocol portal bound where a cursor of the name was dropped reads under its own limit', () =>
    inBlock(async (c) => {
      await c.simple('SAVEPOINT s');
      await c.simple('DECLARE c CURSOR FOR SELECT 1 AS one');
      await c.simple('ROLLBACK TO SAVEPOINT s');
      await c.write(
        Buffer.concat([parse('', 'SELECT g FROM big'), bind('c', ''), execute('c', 0), sync()]),
      );
      cutAtLimit(await c.until('Z'));
    }));
});
