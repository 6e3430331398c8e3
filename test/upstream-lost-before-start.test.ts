// The upstream session can end between the upstream login and the start of the relay: the
// login waits for the recording to open (and, at a target's first login, for its catalog).
// Before, PostgreSQL's FATAL and the close that came in that window reached no listener:
// the session started on a connection that was already gone, and its client waited
// forever; later the client got the gateway's own 08006. What a user should see: the
// session ends with PostgreSQL's own error, as when the upstream is lost later (see
// test/lifecycle.test.ts).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminClient, freshDatabase, type TestGateway } from './helpers/gateway.js';
import { RawClient, fields } from './helpers/raw.js';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';

const DB = 'upstream_lost_before_start';
let rg: RecordedGateway;
let g: TestGateway;
/** While set, opening a session's recording waits for it (the window under test). */
let gate: Promise<void> | undefined;

beforeAll(async () => {
  await freshDatabase(DB);
  rg = await startRecordedGateway(DB, {}, (recorder) => {
    const open = recorder.openSession.bind(recorder);
    recorder.openSession = async (info) => {
      if (gate) await gate;
      return open(info);
    };
  });
  g = rg.g;
  // The target's catalog is read at its first login: done here, so that the only new
  // upstream connection below is the session's own.
  const first = await RawClient.connect(g.port);
  await first.login(DB, await g.token());
  first.destroy();
});
afterAll(async () => {
  await rg?.stop();
});

it("an upstream session terminated while the login waits for its recording ends the session with PostgreSQL's own error", async () => {
  let release!: () => void;
  gate = new Promise((r) => (release = r));
  const admin = await adminClient();
  try {
    const pids = async () =>
      (
        await admin.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [DB],
        )
      ).rows.map((r) => r.pid);
    const before = new Set(await pids());
    const c = await RawClient.connect(g.port);
    const login = c.login(DB, await g.token()).catch((e: Error) => e);
    let pid: number | undefined;
    for (let i = 0; i < 100 && pid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      pid = (await pids()).find((p) => !before.has(p));
    }
    expect(pid, 'the session upstream connection').toBeDefined();
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await new Promise((r) => setTimeout(r, 300));
    release();
    gate = undefined;
    const logged = await login;
    expect(logged, 'the login, answered before the relay starts').not.toBeInstanceOf(Error);
    // PostgreSQL's own FATAL, sent while the login waited, reaches the client as when the
    // upstream is lost later (the gateway's connection was paused meanwhile), then the close.
    const after = await c.rest(5000);
    expect(after.map((m) => m.type)).toEqual(['E']);
    expect(fields(after[0]).C, fields(after[0]).M).toBe('57P01');
    expect(await c.closedWithin(3000)).toBe(true);
    c.destroy();
  } finally {
    release();
    gate = undefined;
    await admin.end();
  }
}, 30_000);
