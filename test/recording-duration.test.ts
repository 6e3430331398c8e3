// A statement's recorded duration_ms is its own: from when PostgreSQL could start it (the
// statement before it in its group, or the group before it, answered) to its answer. Before,
// it was counted from when its whole group (a multi-statement Query, or pipelined extended
// messages) was forwarded: `SELECT 42` behind `SELECT pg_sleep(0.5)` in one Query was
// recorded as taking half a second, and an auditor could not tell which statement was slow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { freshDatabase, type TestGateway } from './helpers/gateway.js';
import { RawClient, bind, execute, parse, query, sync } from './helpers/raw.js';

const DB = 'recording_duration_queued';
let rec: RecordedGateway;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  rec = await startRecordedGateway(DB);
  g = rec.g;
});
afterAll(async () => {
  await rec?.stop();
});

async function durations(sub: string): Promise<Record<string, number>> {
  const ended = () => rec.events().some((e) => e.sub === sub && e.type === 'session_end');
  for (let t = 0; t < 100 && !ended(); t++) await new Promise((r) => setTimeout(r, 50));
  const ev = rec.events().filter((e) => e.sub === sub);
  const out: Record<string, number> = {};
  for (const st of ev.filter((e) => e.type === 'statement')) {
    const r = ev.find((e) => e.type === 'statement_result' && e.statement_seq === st.seq);
    out[String(st.sql)] = Number(r?.duration_ms);
  }
  return out;
}

describe('duration_ms of a statement queued behind a slow one', () => {
  it('in one Query: the fast statement is not recorded as slow', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('dur-simple', ['agents']));
    await c.write(query('SELECT pg_sleep(0.5); SELECT 42'));
    await c.until('Z');
    c.destroy();
    const d = await durations('dur-simple');
    expect(d['SELECT pg_sleep(0.5)']).toBeGreaterThanOrEqual(450);
    expect(d['SELECT 42']).toBeLessThan(200);
  });

  it('pipelined extended: the fast statement is not recorded as slow', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('dur-ext', ['agents']));
    await c.write(
      Buffer.concat([
        parse('', 'SELECT pg_sleep(0.5)'),
        bind('', ''),
        execute(''),
        parse('', 'SELECT 43'),
        bind('', ''),
        execute(''),
        sync(),
      ]),
    );
    await c.until('Z');
    c.destroy();
    const d = await durations('dur-ext');
    expect(d['SELECT pg_sleep(0.5)']).toBeGreaterThanOrEqual(450);
    expect(d['SELECT 43']).toBeLessThan(200);
  });
  it('pipelined in a later group: the fast statement is not recorded as slow', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('dur-groups', ['agents']));
    await c.write(
      Buffer.concat([
        parse('', 'SELECT pg_sleep(0.5)'),
        bind('', ''),
        execute(''),
        sync(),
        parse('', 'SELECT 44'),
        bind('', ''),
        execute(''),
        sync(),
      ]),
    );
    await c.until('Z');
    await c.until('Z');
    c.destroy();
    const d = await durations('dur-groups');
    expect(d['SELECT pg_sleep(0.5)']).toBeGreaterThanOrEqual(450);
    expect(d['SELECT 44']).toBeLessThan(200);
  });
});
