// When the spool cannot take a group's records (fail closed), the group is refused with 58030
// and nothing of it runs. Before, the recorded session_end still counted its statements as
// allowed (they were added before the write-ahead wait), and the refusal added one to
// `denied` for the whole group: more statements allowed than PostgreSQL ran, and the
// refused ones counted twice in `statements`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { adminClient, freshDatabase, type TestGateway } from './helpers/gateway.js';
import { RawClient, firstError } from './helpers/raw.js';
import { RecordingUnavailable, type Recorder, type SessionRecording } from '../src/record/index.js';

const DB = 'recording_end_totals_refused';
let rec: RecordedGateway;
let g: TestGateway;
/** While set, the spool refuses statement records, as a failed write-ahead does. */
const fault = { broken: false };

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int)');
  rec = await startRecordedGateway(DB, {}, (r: Recorder) => {
    const open = r.openSession.bind(r);
    r.openSession = async (info) => {
      const s: SessionRecording = await open(info);
      const statements = s.statements.bind(s);
      s.statements = (evs) => {
        const out = statements(evs);
        if (!fault.broken) return out;
        return Promise.resolve(out).then(() => {
          throw new RecordingUnavailable('session recording is unavailable');
        });
      };
      return s;
    };
  });
  g = rec.g;
});
afterAll(async () => {
  await rec?.stop();
});

describe('a group refused because its records could not be written', () => {
  it('is not counted as allowed in the recorded session_end', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('totals', ['agents']));
    expect(firstError(await c.simple('INSERT INTO t VALUES (1)'))).toBeUndefined();
    fault.broken = true;
    const m = await c.simple('INSERT INTO t VALUES (2); INSERT INTO t VALUES (3)');
    fault.broken = false;
    expect(firstError(m)?.C).toBe('58030');
    c.destroy();
    const end = () => rec.events().find((e) => e.sub === 'totals' && e.type === 'session_end');
    for (let t = 0; t < 100 && !end(); t++) await new Promise((r) => setTimeout(r, 50));

    const admin = await adminClient(DB);
    const ids = (await admin.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows;
    await admin.end();
    expect(ids.map((r) => r.id)).toEqual([1]);

    // One statement ran; two were refused.
    const e = end()!;
    expect({ allowed: e.allowed, denied: e.denied, statements: e.statements }).toEqual({
      allowed: 1,
      denied: 2,
      statements: 3,
    });
  });
});
