// `portcullis policy replay` re-deciding recorded statements under the SAME policy the
// gateway ran reports no change: each case records a session through a real gateway
// (in-process, real PostgreSQL, dev-key JWTs), then runs the CLI as a process with the
// gateway's config (its policy.data).
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Recorder } from '../src/record/index.js';
import { buildRecorder } from '../src/runtime/recording.js';
import {
  freshDatabase,
  gatewayClient,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { CLI } from './helpers/gateway-process.js';
import { bind, execute, parse, query, sync } from './helpers/raw.js';
import { run } from './helpers/spawn.js';

const DB = 'policy_replay';
const base = mkdtempSync(join(tmpdir(), 'rt-replay-'));
const spool = join(base, 'spool');
const policyDir = join(base, 'policy');
const configFile = join(base, 'portcullis.config.mjs');

// The policy the gateway runs. Every rule is of a kind docs/policy-api.md documents.
const POLICY = `package portcullis

import rego.v1

default allow := false

allow if input.statement.class in {"read", "transaction"}

allow if input.statement.command in {"FETCH", "DECLARE CURSOR", "CLOSE CURSOR"}

# INSERT only outside a transaction block (as test/policies/transaction-state.rego).
allow if {
	input.statement.command == "INSERT"
	not input.session.in_transaction
}

allow if input.statement.command == "DELETE"

# Logins of the "banned" group are refused.
connect := false if "banned" in input.identity.groups

# One statement per Query string: 'COMMIT; INSERT ...' cannot step out of a block.
deny contains "one statement per query string" if input.statement.count > 1

# Tables the operators block, listed in the config's policy.data.
deny contains "table is blocked" if {
	some r in input.statement.relations
	r.name in data.blocked_tables
}
`;

let g: TestGateway;
let recorder: Recorder;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int); CREATE TABLE secrets (id int, v text);');
  mkdirSync(policyDir);
  writeFileSync(join(policyDir, 'policy.rego'), POLICY);
  writeFileSync(
    configFile,
    `export default ${JSON.stringify({ policy: { files: [policyDir], data: { blocked_tables: ['secrets'] } } })};\n`,
  );
  const recording = { enabled: true, spoolDir: spool, durability: 'write' as const, sinks: [] };
  recorder = (await buildRecorder(recording as never, base, '.data'))!;
  g = await startTestGateway(
    DB,
    {
      recording,
      policy: { files: [policyDir], data: { blocked_tables: ['secrets'] } },
    } as never,
    { recorder },
  );
});
afterAll(async () => {
  await g?.stop();
  await recorder?.close().catch(() => undefined);
});

interface Change {
  kind: 'statement' | 'connect';
  sub: string | null;
  database: string | null;
  session_id: string;
  seq: number;
  sql: string;
  before: string;
  after: string;
  reasons: string[];
  before_reasons: string[];
}

/** The policy the gateway runs, with its rule `old` changed to `to`, in a directory of its own. */
function candidate(name: string, old: string, to: string): string {
  expect(POLICY).toContain(old);
  const dir = join(base, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'policy.rego'), POLICY.replace(old, to));
  return dir;
}

/** `portcullis policy replay --policy DIR --dir SPOOL --json`, as a process. */
async function policyReplay(
  dir: string,
): Promise<{ code: number | null; changes: Change[]; stderr: string }> {
  const r = await run(
    CLI[0],
    [
      ...CLI.slice(1),
      'policy',
      'replay',
      '--policy',
      dir,
      '--dir',
      spool,
      '--config',
      configFile,
      '--json',
    ],
    {
      cwd: process.cwd(),
    },
  );
  let changes: Change[] = [];
  try {
    changes = JSON.parse(r.stdout) as Change[];
  } catch {
    /* shown by the assertion */
  }
  return { code: r.code, changes, stderr: r.stderr + r.stdout };
}

/** The session id of the newest session recorded by `sub`. */
async function sessionOf(sub: string): Promise<string> {
  const { createReader, dirSource } = await import('../src/record/index.js');
  const s = await createReader([dirSource(spool)]).listSessions({ identity: sub });
  expect(s.length).toBeGreaterThan(0);
  return s.sort((a, b) => (a.started_at < b.started_at ? 1 : -1))[0].session_id;
}

/** Replayed under the policy it ran with, `sub`'s newest session changes no decision. */
async function expectNoChange(sub: string): Promise<void> {
  const id = await sessionOf(sub);
  const r = await policyReplay(policyDir);
  expect(r.changes.filter((x) => x.session_id === id)).toEqual([]);
}

describe('policy replay under the policy the gateway ran reports no change', () => {
  it('a multi-statement string refused for its statement count', async () => {
    const c = await gatewayClient(g, DB, { sub: 'rt-count' });
    // Live: refused, the policy saw count 2.
    await expect(c.query('SELECT 1; SELECT 2')).rejects.toThrow(/one statement per query string/);
    await c.end();
    await expectNoChange('rt-count');
  });

  it('an extended-protocol INSERT refused inside the block a BEGIN of its own group opened', async () => {
    const { RawClient } = await import('./helpers/raw.js');
    const raw = await RawClient.connect(g.port);
    await raw.login(DB, await g.token('txn-agent'));
    await raw.write(
      Buffer.concat([
        parse('', 'BEGIN'),
        bind('', ''),
        execute(''),
        parse('', 'INSERT INTO t VALUES (1)'),
        bind('', ''),
        execute(''),
        sync(),
      ]),
    );
    const ms = await raw.until('Z');
    // Live: refused (the policy allows INSERT only outside a block).
    expect(ms.some((m) => m.type === 'E')).toBe(true);
    await raw.write(query('ROLLBACK'));
    await raw.until('Z');
    raw.end();
    await expectNoChange('txn-agent');
  });

  it('a statement refused by a table listed in the config policy.data', async () => {
    const c = await gatewayClient(g, DB, { sub: 'rt-data' });
    await expect(c.query('SELECT v FROM secrets')).rejects.toThrow(/table is blocked/);
    await c.end();
    await expectNoChange('rt-data');
  });

  it('a FETCH the gateway (not the policy) refused', async () => {
    const c = await gatewayClient(g, DB, { sub: 'rt-fetch' });
    // Allowed by the policy; refused by the gateway: the cursor was not declared through it.
    await expect(c.query('FETCH 1 FROM somecursor')).rejects.toThrow(/does not exist/);
    await c.end();
    await expectNoChange('rt-fetch');
  });
});

describe('policy replay decides logins again', () => {
  it('a login the policy refused, and one it let in, change nothing under the same policy', async () => {
    await expect(gatewayClient(g, DB, { sub: 'login-banned', groups: ['banned'] })).rejects.toThrow(
      /refused/,
    );
    const c = await gatewayClient(g, DB, { sub: 'login-ok' });
    await c.query('SELECT 1');
    await c.end();
    const r = await policyReplay(policyDir);
    expect(r.changes.filter((x) => x.sub === 'login-banned' || x.sub === 'login-ok')).toEqual([]);
  });

  it('a candidate connect rule refuses a recorded session and lets a refused login in', async () => {
    await expect(
      gatewayClient(g, DB, { sub: 'login-later-ok', groups: ['banned', 'ops'] }),
    ).rejects.toThrow(/refused/);
    const c = await gatewayClient(g, DB, { sub: 'login-later-refused', groups: ['contractors'] });
    await c.query('SELECT 1');
    await c.query('SELECT id FROM t');
    await c.end();
    const id = await sessionOf('login-later-refused');
    const dir = candidate(
      'policy-logins',
      'connect := false if "banned" in input.identity.groups',
      'connect := false if "contractors" in input.identity.groups',
    );
    const r = await policyReplay(dir);
    expect(r.code, r.stderr).toBe(3);
    const refused = r.changes.filter((x) => x.sub === 'login-later-refused');
    expect(refused).toEqual([
      expect.objectContaining({
        kind: 'connect',
        session_id: id,
        database: DB,
        before: 'allow',
        after: 'deny',
      }),
      expect.objectContaining({
        kind: 'statement',
        sql: 'SELECT 1',
        before: 'allow',
        after: 'deny',
      }),
      expect.objectContaining({
        kind: 'statement',
        sql: 'SELECT id FROM t',
        before: 'allow',
        after: 'deny',
      }),
    ]);
    expect(refused[1].reasons[0]).toMatch(/^the login would be refused/);
    expect(r.changes.filter((x) => x.sub === 'login-later-ok')).toEqual([
      expect.objectContaining({ kind: 'connect', database: DB, before: 'deny', after: 'allow' }),
    ]);
    // The logins of the first case (groups the candidate does not name) stay as they were.
    expect(r.changes.filter((x) => x.sub === 'login-ok')).toEqual([]);
  });
});
