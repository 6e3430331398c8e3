// A statement run in an extended group ended by Flush is in an implicit transaction until
// the next Sync. When the gateway then refuses a statement of the same transaction, it
// sends PostgreSQL a marker that fails, and PostgreSQL rolls the whole implicit
// transaction back: the earlier INSERT is undone. The recording gives it a `rolled_back`
// event as it does when a real upstream error undoes it (the control case). Before, it said
// only that the INSERT completed ('ok', INSERT 0 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { adminClient, freshDatabase, type TestGateway } from './helpers/gateway.js';
import { RawClient, bind, execute, flush, parse, query, sync, fields } from './helpers/raw.js';

const DB = 'refusal_rollback';
let rec: RecordedGateway;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE w (id int); CREATE TABLE secrets (id int)');
  // Everything allowed except the table `secrets`.
  rec = await startRecordedGateway(DB, { policy: { files: ['test/policies/clients.rego'] } });
  g = rec.g;
});
afterAll(async () => {
  await rec?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function login(sub: string): Promise<RawClient> {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token(sub));
  return c;
}

async function inTable(id: number): Promise<boolean> {
  const a = await adminClient(DB);
  const r = await a.query('SELECT 1 FROM w WHERE id = $1', [id]);
  await a.end();
  return r.rowCount! > 0;
}

/** The INSERT's statement seq and whether a rolled_back event names it. */
function insertRecord(sub: string, id: number) {
  const evs = rec.events().filter((e) => e.sub === sub);
  const st = evs.find((e) => e.type === 'statement' && e.sql === `INSERT INTO w VALUES (${id})`);
  const result = evs.find((e) => e.type === 'statement_result' && e.statement_seq === st?.seq);
  const rb = evs.find(
    (e) =>
      e.type === 'rolled_back' &&
      Array.isArray(e.statement_seqs) &&
      (e.statement_seqs as number[]).includes(st?.seq as number),
  );
  return { outcome: result?.outcome, rolledBack: rb !== undefined, sqlstate: rb?.sqlstate };
}

/** INSERT via Parse/Bind/Execute + Flush (answered), then `then` before any Sync. */
async function insertThen(sub: string, id: number, then: Buffer): Promise<void> {
  const c = await login(sub);
  await c.write(
    Buffer.concat([parse('', `INSERT INTO w VALUES (${id})`), bind('', ''), execute(''), flush()]),
  );
  await c.until('C'); // INSERT 0 1
  await c.write(then);
  const ms = await c.until('Z');
  expect(ms.some((m) => m.type === 'E')).toBe(true);
  await c.write(sync());
  await c.until('Z', 3000).catch(() => []);
  c.destroy();
  await sleep(300);
}

describe('an INSERT undone when a later statement of its implicit transaction fails', () => {
  it('control: undone by a real upstream error (SELECT 1/0), it is recorded as rolled back', async () => {
    await insertThen('ctl', 1, query('SELECT 1/0'));
    expect(await inTable(1)).toBe(false);
    expect(insertRecord('ctl', 1)).toEqual({ outcome: 'ok', rolledBack: true, sqlstate: '22012' });
  });

  it('undone by the marker of a refused Query, it is recorded as rolled back', async () => {
    await insertThen('refq', 2, query('DELETE FROM secrets'));
    expect(await inTable(2)).toBe(false); // PostgreSQL undid it
    expect(insertRecord('refq', 2)).toEqual({ outcome: 'ok', rolledBack: true, sqlstate: '42501' });
  });

  it('undone by the marker of a refused extended group, it is recorded as rolled back', async () => {
    await insertThen(
      'refx',
      3,
      Buffer.concat([parse('', 'DELETE FROM secrets'), bind('', ''), execute(''), sync()]),
    );
    expect(await inTable(3)).toBe(false); // PostgreSQL undid it
    expect(insertRecord('refx', 3)).toEqual({ outcome: 'ok', rolledBack: true, sqlstate: '42501' });
  });

  it('undone by an Execute of an unknown portal later in the same group (34000), it is recorded as rolled back', async () => {
    const c = await login('unk');
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO w VALUES (4)'),
        bind('', ''),
        execute(''),
        execute('no_such_portal'),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).C)).toEqual(['34000']);
    c.destroy();
    await sleep(300);
    expect(await inTable(4)).toBe(false); // PostgreSQL undid it
    expect(insertRecord('unk', 4)).toEqual({ outcome: 'ok', rolledBack: true, sqlstate: '34000' });
  });
});
