// `rolled_back` lists exactly the statements recorded `ok` whose changes PostgreSQL undid
// with their implicit transaction (a Query string or a Sync group outside a block): those
// since the item's last COMMIT or ROLLBACK, and not what a procedure committed itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { adminClient, freshDatabase, type TestGateway } from './helpers/gateway.js';
import { RawClient, bind, execute, parse, sync, errorCodes } from './helpers/raw.js';

const DB = 'rolled_back';
let rec: RecordedGateway;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE w (id int); GRANT ALL ON w TO PUBLIC');
  rec = await startRecordedGateway(DB);
  g = rec.g;
});
afterAll(async () => {
  await rec?.stop();
});

const events = () => rec.events();

/** Run `fn` as `sub`, then return that session's statements (sql, outcome) and rolled_back seqs. */
async function session(sub: string, fn: (c: RawClient) => Promise<void>) {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token(sub, ['writers']));
  await fn(c);
  c.destroy();
  await rec.ended(sub);
  const ev = events().filter((e) => e.sub === sub);
  const outcome = (seq: unknown) =>
    ev.find((e) => e.type === 'statement_result' && e.statement_seq === seq)?.outcome;
  const statements = ev
    .filter((e) => e.type === 'statement')
    .map((e) => ({ seq: e.seq as number, sql: String(e.sql), outcome: outcome(e.seq) }));
  const rolledBack = ev
    .filter((e) => e.type === 'rolled_back')
    .flatMap((e) => e.statement_seqs as number[]);
  const undone = (sql: string) => rolledBack.includes(statements.find((s) => s.sql === sql)!.seq);
  return { statements, rolledBack, undone };
}

async function ids(): Promise<number[]> {
  const a = await adminClient(DB);
  const r = await a.query<{ id: number }>('SELECT id FROM w ORDER BY id');
  await a.end();
  return r.rows.map((x) => x.id);
}

describe('rolled_back names what the failed implicit transaction undid', () => {
  it('baseline: INSERT; SELECT 1/0 in one Query string', async () => {
    const s = await session('rb-base', async (c) => {
      expect(errorCodes(await c.simple('INSERT INTO w VALUES (1); SELECT 1/0'))).toEqual(['22012']);
    });
    expect(await ids()).not.toContain(1);
    expect(s.undone('INSERT INTO w VALUES (1)')).toBe(true);
  });

  it('INSERT; SELECT 1/0; COMMIT in one Query string: the INSERT is undone and recorded so', async () => {
    const s = await session('rb-commit', async (c) => {
      const ms = await c.simple('INSERT INTO w VALUES (2); SELECT 1/0; COMMIT');
      expect(errorCodes(ms)).toEqual(['22012']);
      expect(ms.at(-1)!.body.toString('latin1')).toBe('I');
    });
    // PostgreSQL undid the INSERT (the COMMIT never ran)…
    expect(await ids()).not.toContain(2);
    expect(s.statements.find((x) => x.sql === 'INSERT INTO w VALUES (2)')!.outcome).toBe('ok');
    // …so the recording must say so.
    expect(s.undone('INSERT INTO w VALUES (2)')).toBe(true);
  });

  it('the same as one extended group (Parse/Bind/Execute ×3, Sync)', async () => {
    const pbe = (sql: string) => [parse('', sql), bind('', ''), execute()];
    const s = await session('rb-commit-ext', async (c) => {
      await c.write(
        Buffer.concat([
          ...pbe('INSERT INTO w VALUES (3)'),
          ...pbe('SELECT 1/0'),
          ...pbe('COMMIT'),
          sync(),
        ]),
      );
      const ms = await c.until('Z');
      expect(errorCodes(ms)).toEqual(['22012']);
      expect(ms.at(-1)!.body.toString('latin1')).toBe('I');
    });
    expect(await ids()).not.toContain(3);
    expect(s.undone('INSERT INTO w VALUES (3)')).toBe(true);
  });

  it('INSERT; COMMIT; INSERT; SELECT 1/0: only the second INSERT is undone', async () => {
    const s = await session('rb-split', async (c) => {
      const ms = await c.simple(
        'INSERT INTO w VALUES (4); COMMIT; INSERT INTO w VALUES (5); SELECT 1/0',
      );
      expect(errorCodes(ms)).toEqual(['22012']);
    });
    expect(await ids()).toContain(4);
    expect(await ids()).not.toContain(5);
    expect(s.undone('INSERT INTO w VALUES (4)')).toBe(false);
    expect(s.undone('INSERT INTO w VALUES (5)')).toBe(true);
  });

  it('a procedure that COMMITs in an extended group: what it committed is not recorded as undone', async () => {
    const a = await adminClient(DB);
    await a.query(`CREATE OR REPLACE PROCEDURE keep(n int) LANGUAGE plpgsql AS $$
                     BEGIN INSERT INTO w VALUES (n); COMMIT; END $$`);
    await a.end();
    const pbe = (sql: string) => [parse('', sql), bind('', ''), execute()];
    const s = await session('rb-call', async (c) => {
      // Parsed ahead: a Parse after the CALL would be refused (settings in doubt).
      await c.write(Buffer.concat([parse('z', 'SELECT 1/0'), sync()]));
      expect(errorCodes(await c.until('Z'))).toEqual([]);
      await c.write(Buffer.concat([...pbe('CALL keep(7)'), bind('', 'z'), execute(), sync()]));
      const ms = await c.until('Z');
      expect(errorCodes(ms)).toEqual(['22012']);
    });
    // PostgreSQL 17+ runs the first Execute of a group outside an implicit block: the
    // procedure's COMMIT committed row 7 before SELECT 1/0 failed.
    expect(await ids()).toContain(7);
    // What PostgreSQL kept must not be recorded as undone.
    expect(s.undone('CALL keep(7)')).toBe(false);
  });
});
