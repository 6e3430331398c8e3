// timeout_ms on a statement whose client stops reading its result: when the client does not
// read, the gateway stops reading the upstream (back-pressure) and PostgreSQL blocks writing
// the rows (wait_event ClientWrite), where it does not act on a cancel. Before, the gateway's
// only move at the limit was a CancelRequest: in a good share of sessions PostgreSQL stayed
// blocked (state active, ClientWrite), with its snapshot and locks, for as long as the client
// stayed silent. Now such a session is ended and its backend terminated. Several sessions
// run at once so a regression shows reliably (one stuck session is a failure).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { query, type RawClient } from './helpers/raw.js';

const DB = 'time_limit_unread_result';
// About 2 GB of output per session: PostgreSQL fills the socket buffers within ~100 ms,
// long before the limit.
const SQL = "SELECT id, repeat('x', 100000) AS pad FROM big";
const SESSIONS = 12;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 20000) g');
  const dir = mkdtempSync(join(tmpdir(), 'unread-result-'));
  const policy = join(dir, 'p.rego');
  writeFileSync(
    policy,
    'package portcullis\nimport rego.v1\ndefault allow := true\nlimits := {"timeout_ms": 1000}\n',
  );
  g = await startTestGateway(DB, { policy: { files: [policy] } });
});
afterAll(async () => g?.stop());

it('SELECTs whose clients stop reading are not left running upstream past their 1 s limit', async () => {
  const a = await adminClient(DB);
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const c = await rawLogin(g, DB);
      clients.push(c);
      // The client sends the query and never reads the answer.
      c.sock.pause();
      await c.write(query(SQL));
    }
    // Four times the limit after the last one was sent.
    await new Promise((r) => setTimeout(r, 4000));
    const upstream = await a.query(
      'SELECT state, wait_event FROM pg_stat_activity WHERE datname = $1 AND query = $2',
      [DB, SQL],
    );
    const stuck = upstream.rows.filter((r) => r.state === 'active');
    // Another session cannot take the table while a statement still runs on it.
    const lock = await a
      .query('SET lock_timeout = 500; LOCK TABLE big IN ACCESS EXCLUSIVE MODE')
      .then(
        () => 'granted',
        (e: { code?: string }) => e.code,
      );
    expect({ stillRunningUpstream: stuck.length, lock }).toEqual({
      stillRunningUpstream: 0,
      lock: 'granted',
    });
  } finally {
    for (const c of clients) c.destroy();
    await a.end();
  }
}, 60_000);
