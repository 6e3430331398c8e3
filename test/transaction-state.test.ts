// `input.session.in_transaction` is the state a statement runs in upstream. In the extended
// protocol a BEGIN earlier in the same group opens a transaction for the statements after
// it, and a statement prepared in one state may be executed in the other: it is decided
// again there. Policy: DELETE only inside a transaction block, INSERT only outside one.
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
  copyDone,
  execute,
  errorsOf,
  fields,
  flush,
  parse,
  query,
  sync,
  type Message,
  errorCodes,
} from './helpers/raw.js';

const DB = 'transaction_state_db';
let g: TestGateway;
/** Reads are limited to 3 rows inside a block only. */
let gl: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (g int); INSERT INTO t SELECT generate_series(1, 20);');
  g = await startTestGateway(DB, { policy: { files: ['test/policies/transaction-state.rego'] } });
  gl = await startTestGateway(DB, { policy: { files: ['test/policies/transaction-limits.rego'] } });
});
afterAll(async () => {
  await g?.stop();
  await gl?.stop();
});

const status = (ms: Message[]) => String.fromCharCode(ms.at(-1)!.body[0]);
const run = (name: string, sql: string, params: string[] = []) => [
  parse(name, sql),
  bind('', name, params),
  execute(),
];

/** What the table holds, read directly. */
async function present(g: number): Promise<boolean> {
  const c = await adminClient(DB);
  try {
    return (await c.query('SELECT 1 FROM t WHERE g = $1', [g])).rowCount === 1;
  } finally {
    await c.end();
  }
}

describe('in_transaction follows the statement, not the group', () => {
  it('a DELETE after BEGIN in the same extended group is decided inside the transaction', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([...run('', 'BEGIN'), ...run('', 'DELETE FROM t WHERE g = $1', ['1']), sync()]),
    );
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual([]);
    expect(status(ms)).toBe('T');
    expect(errorCodes(await c.simple('COMMIT'))).toEqual([]);
    expect(await present(1)).toBe(false);
    c.destroy();
  });

  it('an INSERT after BEGIN in the same group is refused, and nothing of the group runs', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        ...run('', 'BEGIN'),
        ...run('', 'INSERT INTO t VALUES ($1)', ['101']),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    // The BEGIN did not run either.
    expect(status(ms)).toBe('I');
    expect(await present(101)).toBe(false);
    c.destroy();
  });

  it('statements before a BEGIN in the same Query string are decided inside its block', async () => {
    const c = await rawLogin(g, DB);
    // PostgreSQL pulls them into the block the BEGIN opens: the ROLLBACK undoes the DELETE.
    let ms = await c.simple('DELETE FROM t WHERE g = 3; BEGIN; ROLLBACK');
    expect(errorCodes(ms)).toEqual([]);
    expect(await present(3)).toBe(true);
    ms = await c.simple('INSERT INTO t VALUES (110); BEGIN');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(status(ms)).toBe('I');
    expect(await present(110)).toBe(false);
    // A COMMIT between them ends the implicit transaction first: the DELETE runs outside.
    ms = await c.simple('DELETE FROM t WHERE g = 3; COMMIT; BEGIN');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(await present(3)).toBe(true);
    ms = await c.simple('INSERT INTO t VALUES (111); COMMIT; BEGIN; ROLLBACK');
    expect(errorCodes(ms)).toEqual([]);
    expect(await present(111)).toBe(true);
    c.destroy();
  });

  it('statements before a BEGIN in the same extended group are decided inside its block', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        ...run('', 'DELETE FROM t WHERE g = $1', ['4']),
        ...run('', 'BEGIN'),
        ...run('', 'ROLLBACK'),
        sync(),
      ]),
    );
    let ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual([]);
    expect(await present(4)).toBe(true);
    await c.write(Buffer.concat([parse('i2', 'INSERT INTO t VALUES ($1)'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    await c.write(Buffer.concat([bind('', 'i2', ['122']), execute(), ...run('', 'BEGIN'), sync()]));
    ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(status(ms)).toBe('I');
    expect(await present(122)).toBe(false);
    // Alone, it runs outside a block, as decided at Parse.
    await c.write(Buffer.concat([bind('', 'i2', ['123']), execute(), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    expect(await present(123)).toBe(true);
    c.destroy();
  });

  it('a DELETE prepared inside a transaction is refused when executed outside one', async () => {
    const c = await rawLogin(g, DB);
    expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
    await c.write(Buffer.concat([parse('d', 'DELETE FROM t WHERE g = $1'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    expect(errorCodes(await c.simple('COMMIT'))).toEqual([]);
    await c.write(Buffer.concat([bind('', 'd', ['2']), execute(), sync()]));
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(await present(2)).toBe(true);
    // Inside a transaction again it runs.
    expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
    await c.write(Buffer.concat([bind('', 'd', ['2']), execute(), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    expect(errorCodes(await c.simple('COMMIT'))).toEqual([]);
    expect(await present(2)).toBe(false);
    c.destroy();
  });

  it('an INSERT prepared outside a transaction is refused when a BEGIN in its group comes first', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([parse('i', 'INSERT INTO t VALUES ($1)'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    await c.write(Buffer.concat([...run('', 'BEGIN'), bind('', 'i', ['102']), execute(), sync()]));
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(status(ms)).toBe('I');
    // Outside a transaction it runs, as decided at Parse.
    await c.write(Buffer.concat([bind('', 'i', ['103']), execute(), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    expect(await present(102)).toBe(false);
    expect(await present(103)).toBe(true);
    c.destroy();
  });

  it('a portal bound outside a transaction is decided again when executed after a BEGIN', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([parse('i2', 'INSERT INTO t VALUES ($1)'), sync()]));
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    // Bind outside, then BEGIN (another portal), then the INSERT portal runs inside.
    await c.write(
      Buffer.concat([
        bind('p', 'i2', ['104']),
        parse('', 'BEGIN'),
        bind('', ''),
        execute(''),
        execute('p'),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(await present(104)).toBe(false);
    c.destroy();
  });

  it('a Query pipelined behind a BEGIN is decided once the BEGIN is answered', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([query('BEGIN'), query('INSERT INTO t VALUES (105)')]));
    const first = await c.until('Z');
    expect(errorCodes(first)).toEqual([]);
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(status(ms)).toBe('E');
    expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
    expect(await present(105)).toBe(false);
    c.destroy();
  });

  it('after a failed COMMIT string the next pipelined Query sees the block still open', async () => {
    const c = await rawLogin(g, DB);
    // The error skips the COMMIT: the block stays open (failed), ROLLBACK TO reopens it.
    await c.write(
      Buffer.concat([
        query('BEGIN; SAVEPOINT s; SELECT 1 / 0; COMMIT'),
        query('ROLLBACK TO s; INSERT INTO t VALUES (106)'),
      ]),
    );
    expect(errorCodes(await c.until('Z'))).toEqual(['22012']);
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
    expect(await present(106)).toBe(false);
    c.destroy();
  });

  it('a group after a Flush-ended BEGIN is decided inside the transaction', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([...run('', 'BEGIN'), flush()]));
    await c.until('C');
    await c.write(Buffer.concat([...run('', 'INSERT INTO t VALUES ($1)', ['107']), sync()]));
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    await c.write(Buffer.concat([...run('', 'DELETE FROM t WHERE g = $1', ['3']), sync()]));
    // The refusal aborted the block, as an error there would.
    expect(errorCodes(await c.until('Z'))).toEqual(['25P02']);
    expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
    expect(await present(107)).toBe(false);
    expect(await present(3)).toBe(true);
    c.destroy();
  });

  it('a Query sent behind a COPY that starts ends the session instead of waiting for ever', async () => {
    const c = await rawLogin(g, DB);
    // PostgreSQL reads the Query as (bad) copy data; the gateway held it for the COPY's
    // answer, which waits for data the client will never send.
    await c.write(Buffer.concat([query('BEGIN; COPY t FROM STDIN'), query('SELECT 1')]));
    // As from PostgreSQL: an ERROR for the message, then a FATAL, then the close.
    const ms = await c.rest();
    expect(errorsOf(ms)).toEqual([
      ['ERROR', '08P01'],
      ['FATAL', '08P01'],
    ]);
    expect(c.ended).toBe(true);
  });

  it('a Sync sent behind a COPY that starts is passed on, and the data after it is read', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([query('BEGIN; COPY t FROM STDIN'), sync()]));
    await c.until('G');
    await c.write(
      Buffer.concat([copyData('108\n'), copyDone(), query('SELECT g FROM t WHERE g = 108')]),
    );
    expect(errorCodes(await c.until('Z'))).toEqual([]);
    const ms = await c.until('Z');
    expect(ms.filter((m) => m.type === 'D')).toHaveLength(1);
    expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
    c.destroy();
  });

  it('a COPY whose Sync PostgreSQL ignored keeps the BEGIN before it for what follows', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([...run('', 'BEGIN'), ...run('', 'COPY t FROM STDIN'), sync()]));
    await c.until('G');
    // The Sync came during the COPY: the block is still open for the INSERT.
    await c.write(
      Buffer.concat([
        copyData('109\n'),
        copyDone(),
        ...run('', 'INSERT INTO t VALUES ($1)', ['110']),
        sync(),
      ]),
    );
    expect(errorCodes(await c.until('Z'))).toEqual(['42501']);
    expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
    // And a COMMIT before the COPY ends the block for what follows.
    expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
    await c.write(Buffer.concat([...run('', 'COMMIT'), ...run('', 'COPY t FROM STDIN'), sync()]));
    await c.until('G');
    await c.write(
      Buffer.concat([
        copyData('111\n'),
        copyDone(),
        ...run('', 'DELETE FROM t WHERE g = $1', ['5']),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual(['42501']);
    expect(status(ms)).toBe('I');
    expect(await present(5)).toBe(true);
    expect(await present(110)).toBe(false);
    c.destroy();
  });

  it('a group held behind a COPY whose data came early is answered (one ReadyForQuery)', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        ...run('', 'BEGIN'),
        ...run('', 'COPY t FROM STDIN'),
        sync(),
        copyData('112\n'),
        copyDone(),
        ...run('', 'SELECT 1'),
        sync(),
      ]),
    );
    // As from PostgreSQL: the first Sync was read during the COPY and ignored.
    const ms = await c.until('Z');
    expect(ms.map((m) => m.type).join('')).toBe('12C12GC12DCZ');
    expect(status(ms)).toBe('T');
    expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
    c.destroy();
  });

  it('an extended group held while a COPY starts gets the error PostgreSQL gives for its Parse', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        query('BEGIN; COPY t FROM STDIN'),
        ...run('', 'INSERT INTO t VALUES ($1)', ['113']),
        sync(),
      ]),
    );
    const ms = await c.rest();
    expect(errorsOf(ms)).toEqual([
      ['ERROR', '08P01'],
      ['FATAL', '08P01'],
    ]);
    expect(fields(ms.find((m) => m.type === 'E')!).M).toContain('0x50');
    expect(await present(113)).toBe(false);
  });

  it('a COMMIT pipelined behind a read cut at its row limit in a block rolls back', async () => {
    const c = await rawLogin(g, DB);
    expect(errorCodes(await c.simple('BEGIN; DELETE FROM t WHERE g = 4'))).toEqual([]);
    await c.write(
      Buffer.concat([...run('', 'SELECT g FROM t'), sync(), ...run('', 'COMMIT'), flush()]),
    );
    const cut = await c.until('Z');
    expect(errorCodes(cut)).toEqual(['54000']);
    expect(cut.filter((m) => m.type === 'D')).toHaveLength(3);
    // The COMMIT ran after the block was aborted: ROLLBACK.
    const commit = await c.until('C');
    expect(commit.map((m) => (m.type === 'E' ? fields(m).C : m.type))).not.toContain('42601');
    await c.write(sync());
    expect(status(await c.until('Z'))).toBe('I');
    expect(await present(4)).toBe(true);
    c.destroy();
  });

  it('a probe behind a read cut at its row limit in a block neither leaks nor hangs', async () => {
    const c = await rawLogin(g, DB);
    expect(errorCodes(await c.simple('BEGIN; DELETE FROM t WHERE g = 6'))).toEqual([]);
    await c.write(
      Buffer.concat([query('SELECT g FROM t'), ...run('', 'COMMIT'), query('SELECT 1')]),
    );
    const cut = await c.until('Z');
    expect(errorCodes(cut)).toEqual(['54000']);
    const rest = await c.until('Z');
    // The COMMIT of the aborted block is a ROLLBACK; no CloseComplete of the probe.
    expect(rest.map((m) => m.type).join('')).toBe('12CTDCZ');
    expect(status(rest)).toBe('I');
    expect(await present(6)).toBe(true);
    c.destroy();
  });

  it('statements pipelined behind a cut read in a block are rolled back with it; the COMMIT waits', async () => {
    const c = await rawLogin(g, DB);
    expect(errorCodes(await c.simple('BEGIN'))).toEqual([]);
    // The DELETE goes upstream behind the SELECT (no waiting); the COMMIT waits for the
    // SELECT's answer. The cut then closes the session, which rolls the block back.
    await c.write(
      Buffer.concat([
        ...run('', 'SELECT g FROM t'),
        sync(),
        ...run('', 'DELETE FROM t WHERE g = $1', ['7']),
        sync(),
        ...run('', 'COMMIT'),
        sync(),
      ]),
    );
    const ms = await c.rest();
    expect(errorCodes(ms)).toContain('54000');
    expect(
      ms.filter((m) => m.type === 'C').map((m) => m.body.toString('utf8', 0, 6)),
    ).not.toContain('COMMIT');
    expect(c.ended).toBe(true);
    expect(await present(7)).toBe(true);
  });

  it('a portal bound outside a block and read inside it keeps one row limit across Executes', async () => {
    const c = await rawLogin(gl, DB);
    await c.write(
      Buffer.concat([
        parse('s', 'SELECT g FROM t'),
        bind('p', 's'),
        ...run('', 'BEGIN'),
        execute('p', 2),
        sync(),
      ]),
    );
    let ms = await c.until('Z');
    let read = ms.filter((m) => m.type === 'D').length;
    expect(read).toBe(2);
    // The third row is the last the limit allows; the next Execute is cut.
    await c.write(Buffer.concat([execute('p', 2), sync()]));
    ms = await c.until('Z');
    read += ms.filter((m) => m.type === 'D').length;
    expect(errorCodes(ms)).toEqual(['54000']);
    expect(read).toBe(3);
    c.destroy();
  });

  it('a COMMIT in a later Flush-separated group behind a cut read does not commit', async () => {
    const c = await rawLogin(g, DB);
    expect(errorCodes(await c.simple('BEGIN; DELETE FROM t WHERE g = 9'))).toEqual([]);
    await c.write(
      Buffer.concat([...run('', 'SELECT g FROM t'), flush(), ...run('', 'COMMIT'), sync()]),
    );
    const ms = await c.rest();
    expect(errorCodes(ms)).toEqual(['54000']);
    expect(await present(9)).toBe(true);
  });

  it('a name parsed in an item whose Sync was ignored during a COPY is seen by what follows', async () => {
    const c = await rawLogin(g, DB);
    // All at once: the COPY's data comes early, and the Bind of `s` follows in what
    // PostgreSQL treats as the same item.
    await c.write(
      Buffer.concat([
        query('BEGIN'),
        parse('s', 'SELECT 1'),
        parse('', 'COPY t FROM STDIN'),
        bind('', ''),
        execute(),
        sync(),
        copyData('114\n'),
        copyDone(),
        bind('', 's'),
        execute(),
        sync(),
      ]),
    );
    await c.until('Z');
    const ms = await c.until('Z');
    expect(errorCodes(ms)).toEqual([]);
    expect(ms.filter((m) => m.type === 'D')).toHaveLength(1);
    expect(errorCodes(await c.simple('ROLLBACK'))).toEqual([]);
    c.destroy();
  });

  it('a WITH HOLD cursor read by a protocol Execute after COMMIT is decided outside the block', async () => {
    const r = await startTestGateway(DB, {
      policy: { files: ['test/policies/reads-in-block.rego'] },
    });
    try {
      const c = await rawLogin(r, DB);
      expect(
        errorCodes(await c.simple('BEGIN; DECLARE k CURSOR WITH HOLD FOR SELECT g FROM t; COMMIT')),
      ).toEqual([]);
      // Reads are allowed inside a block only: FETCH is refused out here, and so is a
      // protocol Execute of the cursor's name.
      expect(errorCodes(await c.simple('FETCH 2 FROM k'))).toEqual(['42501']);
      await c.write(Buffer.concat([execute('k', 5), sync()]));
      const ms = await c.until('Z');
      expect(errorCodes(ms)).toEqual(['42501']);
      expect(ms.filter((m) => m.type === 'D')).toHaveLength(0);
      c.destroy();
    } finally {
      await r.stop();
    }
  });
});
