// Extended-protocol statements run in an implicit transaction that only a Sync commits. A
// client that gets an INSERT's CommandComplete (after a Flush) and then leaves, without ever
// sending Sync (a reset or a clean Terminate), has its INSERT undone by PostgreSQL. Before,
// the recording said the INSERT completed `ok` with 1 row, outside any transaction, with no
// `rolled_back` event: it read as a committed write that is not in the table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { adminClient, freshDatabase, type TestGateway } from './helpers/gateway.js';
import { RawClient, bind, execute, flush, parse, terminate } from './helpers/raw.js';

const DB = 'recording_unsynced_rolled_back';
let rec: RecordedGateway;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE w (id int)');
  rec = await startRecordedGateway(DB);
  g = rec.g;
});
afterAll(async () => {
  await rec?.stop();
});

async function ids(): Promise<number[]> {
  const admin = await adminClient(DB);
  const rows = (await admin.query<{ id: number }>('SELECT id FROM w')).rows.map((r) => r.id);
  await admin.end();
  return rows;
}

describe('an extended INSERT answered after a Flush, the client leaving before any Sync', () => {
  for (const [sub, id, leave] of [
    ['unsynced-reset', 1, 'reset'],
    ['unsynced-terminate', 2, 'terminate'],
  ] as const) {
    it(`(${leave}) is recorded as undone, not as a completed write`, async () => {
      const c = await RawClient.connect(g.port);
      await c.login(DB, await g.token(sub, ['agents']));
      await c.write(
        Buffer.concat([
          parse('', `INSERT INTO w VALUES (${id})`),
          bind('', ''),
          execute(''),
          flush(),
        ]),
      );
      await c.until('C'); // INSERT 0 1
      if (leave === 'terminate') await c.write(terminate());
      c.destroy();
      const ended = () => rec.events().some((e) => e.sub === sub && e.type === 'session_end');
      for (let t = 0; t < 100 && !ended(); t++) await new Promise((r) => setTimeout(r, 50));

      // PostgreSQL discarded the implicit transaction: the row is not there.
      expect(await ids()).not.toContain(id);

      const ev = rec.events().filter((e) => e.sub === sub);
      const st = ev.find(
        (e) => e.type === 'statement' && String(e.sql).includes(`VALUES (${id})`),
      )!;
      expect(st).toBeDefined();
      const result = ev.find((e) => e.type === 'statement_result' && e.statement_seq === st.seq);
      const undone = ev.some(
        (e) =>
          e.type === 'rolled_back' &&
          Array.isArray(e.statement_seqs) &&
          (e.statement_seqs as number[]).includes(Number(st.seq)),
      );
      // The auditor can tell the INSERT's change did not stay: a rolled_back event names it,
      // or its outcome is not a plain `ok`.
      expect(undone || result?.outcome !== 'ok', JSON.stringify(result)).toBe(true);
    });
  }
});
