// Recording end to end: statements through a gateway with a recorder (file and S3 sinks), then
// `portcullis replay` / `verify` as subprocesses and the /sessions admin routes; recordings
// never hold returned values; a spool that cannot be written refuses statements (58030)
// unless failOpen.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfig, RecordingConfig } from '../src/config/index.js';
import { fileSink, s3Sink, type Recorder } from '../src/record/index.js';
import { s3rverProcess } from '../src/record/sinks/s3rver-process.js';
import { mountRoutes } from '../src/runtime/admin-routes.js';
import { buildRecorder } from '../src/runtime/recording.js';
import { setLogSink } from '../src/util/logger.js';
import {
  gatewayClient,
  adminClient,
  freshDatabase,
  startTestGateway,
  testUpstream,
  type TestGateway,
} from './helpers/gateway.js';
import { CLI, until } from './helpers/gateway-process.js';
import { run } from './helpers/spawn.js';

const DB = 'recording_e2e';
const SECRET_VALUE = 'returned-value-never-recorded-7f3a';
const ADMIN_TOKEN = 'audit-reader-token-0c41';
/** GET an admin route with the admin token. */
const adminGet = (url: string): Promise<Response> =>
  fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE items (id int PRIMARY KEY, secret text);
     INSERT INTO items VALUES (1, '${SECRET_VALUE}'), (2, '${SECRET_VALUE}-2');
     CREATE TABLE writes (id int PRIMARY KEY);`,
  );
});

/** A gateway with a recorder built as `portcullis start` builds it (buildRecorder). */
async function recordingGateway(recording: RecordingConfig, base: string) {
  const recorder = (await buildRecorder(recording, base, '.data'))!;
  // The admin API listens on every address, so its recording routes need the token.
  const config: Partial<GatewayConfig> = {
    policy: { files: ['policies.rego'] },
    recording,
    admin: { host: '0.0.0.0', port: 0, token: { value: ADMIN_TOKEN } },
  };
  const g = await startTestGateway(DB, config, {
    recorder,
    mountAdmin: (app, gw) => mountRoutes(app, gw, config as GatewayConfig, base),
  });
  return { g, recorder };
}

const connect = (g: TestGateway, sub: string, groups: string[]): Promise<pg.Client> =>
  gatewayClient(g, DB, { user: sub, sub, groups, ignoreErrors: true });

function cli(args: string[], env: Record<string, string> = {}) {
  return run(CLI[0], [...CLI.slice(1), ...args], { cwd: process.cwd(), env, timeoutMs: 180_000 });
}

function allText(dir: string): string {
  let s = '';
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isFile()) s += readFileSync(join(dir, e.name), 'utf8');
  return s;
}

describe('recording with a file sink', () => {
  const base = mkdtempSync(join(tmpdir(), 'portcullis-rec-'));
  const spoolDir = join(base, 'spool');
  const sinkDir = join(base, 'sink');
  let g: TestGateway;
  let recorder: Recorder;
  let sessionId = '';
  afterAll(async () => {
    await g?.stop().catch(() => undefined);
    await recorder?.close().catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
  });

  it('records allowed and denied statements, simple and extended, with their parameters', async () => {
    ({ g, recorder } = await recordingGateway(
      { enabled: true, spoolDir, sinks: [fileSink({ dir: sinkDir })], durability: 'fsync' },
      base,
    ));
    const c = await connect(g, 'rec-agent', ['agents']);
    expect((await c.query('SELECT id, secret FROM items ORDER BY id')).rows).toHaveLength(2);
    expect((await c.query('SELECT secret FROM items WHERE id = $1', [2])).rows).toEqual([
      { secret: `${SECRET_VALUE}-2` },
    ]);
    await expect(c.query('DELETE FROM items')).rejects.toMatchObject({ code: '42501' });
    await expect(
      c.query('SELECT * FROM pg_authid WHERE rolname = $1', ['postgres']),
    ).rejects.toMatchObject({
      code: '42501',
    });
    await c.end();
    const w = await connect(g, 'rec-writer', ['writers']);
    await w.query('INSERT INTO writes VALUES ($1)', [4242]);
    await w.end();
    const t = await gatewayClient(g, DB, {
      user: 'rec-setter',
      sub: 'rec-setter',
      groups: ['agents'],
      ignoreErrors: true,
      pg: { options: '-c DateStyle=German -c TimeZone=Asia/Tokyo' },
    });
    await t.query("SET application_name = 'recorded-app'");
    await t.end();

    // Session lists come from the admin API (the spool is read while the gateway runs).
    const base_ = `http://127.0.0.1:${g.adminPort}`;
    type Summary = { session_id: string; sub: string; statements: number; ended_at?: string };
    let sessions: Summary[] = [];
    await until('the session to end in the recording', async () => {
      const r = await adminGet(`${base_}/sessions?identity=rec-agent`);
      sessions = ((await r.json()) as { sessions: Summary[] }).sessions;
      return sessions.length === 1 && Boolean(sessions[0].ended_at);
    });
    expect(sessions[0]).toMatchObject({ sub: 'rec-agent', statements: 4 });
    sessionId = sessions[0].session_id;
    const denied = await adminGet(`${base_}/sessions?decision=deny&identity=rec-agent`);
    expect(((await denied.json()) as { sessions: Summary[] }).sessions).toHaveLength(1);
    const one = await adminGet(`${base_}/sessions/${sessionId}`);
    expect(one.status).toBe(200);
    const body = (await one.json()) as {
      timeline: {
        type: string;
        event: { sql?: string; decision?: string; params?: unknown };
        result?: { rows?: number };
      }[];
    };
    const stmts = body.timeline.filter((e) => e.type === 'statement');
    expect(
      // A refusal's result is appended after its statement event, without waiting.
      stmts.map((e) => [e.event.sql, e.event.decision, e.event.params, e.result?.rows ?? null]),
    ).toEqual([
      ['SELECT id, secret FROM items ORDER BY id', 'allow', null, 2],
      ['SELECT secret FROM items WHERE id = $1', 'allow', ['2'], 1],
      ['DELETE FROM items', 'deny', null, null],
      // Refused at Parse, before its Bind was read: no parameters.
      ['SELECT * FROM pg_authid WHERE rolname = $1', 'deny', null, null],
    ]);
    expect((await adminGet(`${base_}/sessions/no-such-session`)).status).toBe(404);
    // Without the token, or with another, nothing recorded is shown.
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-token' }];
    for (const headers of attempts) {
      for (const path of ['/sessions', `/sessions/${sessionId}`]) {
        const r = await fetch(`${base_}${path}`, { headers });
        expect(r.status, path).toBe(401);
        expect(await r.text()).not.toContain('rec-agent');
      }
      const ex = await fetch(`${base_}/explain`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ sql: 'SELECT 1' }),
      });
      expect(ex.status).toBe(401);
    }
    expect((await fetch(`${base_}/healthz`)).status).toBe(200);
    // A reload is audited on the gateway's own chain.
    expect(await g.gw.reload()).toBe(true);
  });

  it('replays the session from the sink with decisions, rows and bound parameters', async () => {
    await g.stop();
    await recorder.close();
    const r = await cli(['replay', sessionId, '--dir', sinkDir]);
    expect(r.stderr).not.toMatch(/portcullis:/);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const line = (sql: string) => lines.find((l) => l.includes(sql)) ?? '';
    expect(r.stdout).toContain(`session ${sessionId}  rec-agent (jwt)`);
    expect(line('ORDER BY id')).toMatch(
      /ALLOW +2 +[\d.]+ ms {2}SELECT id, secret FROM items ORDER BY id/,
    );
    expect(line('WHERE id = $1')).toMatch(/ALLOW +1 .*WHERE id = \$1 {2}params=\["2"\]/);
    expect(line('DELETE FROM items')).toMatch(/DENY/);
    expect(line('pg_authid')).toMatch(
      /DENY +- +- {2}SELECT \* FROM pg_authid WHERE rolname = \$1$/,
    );
    expect(r.stdout).toMatch(/reasons: writing public\.items is not allowed for this agent/);

    const list = await cli(['replay', '--list', '--identity', 'rec-writer', '--dir', sinkDir]);
    expect(list.stdout).toMatch(/rec-writer {2}statements=1 allow=1 deny=0/);
  });

  it('verifies the recording', async () => {
    const r = await cli([
      'verify',
      '--dir',
      sinkDir,
      '--key',
      join(base, '.data', 'dev-signing-key.json'),
    ]);
    expect(r.stdout).toContain('OK: every chain is intact and sealed');
    expect(r.stdout).not.toMatch(/\(0 signatures verified\)/);
    expect(r.code).toBe(0);
  });

  it('never records values the statements returned', () => {
    const text = allText(sinkDir) + allText(spoolDir);
    expect(text).toContain('SELECT secret FROM items WHERE id = $1');
    expect(text).toContain('4242');
    expect(text).not.toContain(SECRET_VALUE);
  });

  it('records the facts beyond the base fields as extra, for re-decision', () => {
    const set = allText(sinkDir)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; sub: string; extra?: Record<string, unknown> })
      .find((e) => e.type === 'statement' && e.sub === 'rec-setter');
    expect(set?.extra).toMatchObject({ set: { name: 'application_name' } });
    expect(set?.extra).not.toHaveProperty('class');
  });

  it("records the settings pinned upstream, the client's own and the read-only default at session start", () => {
    const start = allText(sinkDir)
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            sub: string;
            pinned?: Record<string, string>;
            settings?: Record<string, string>;
            default_read_only?: boolean;
          },
      )
      .find((e) => e.type === 'session_start' && e.sub === 'rec-setter');
    // The client's own settings, which give its literals their meaning.
    expect(start?.settings).toMatchObject({ datestyle: 'German', timezone: 'Asia/Tokyo' });
    expect(start?.pinned).toMatchObject({
      search_path: expect.any(String),
      idle_in_transaction_session_timeout: expect.stringMatching(/^\d+$/),
    });
    expect(start?.default_read_only).toBe(false);
  });

  it('records the reload on the gateway chain', () => {
    const reloads = allText(sinkDir)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; session_id: string; ok?: boolean })
      .filter((e) => e.type === 'config_reload');
    expect(reloads).toHaveLength(1);
    expect(reloads[0]).toMatchObject({ ok: true, session_id: expect.stringMatching(/^gateway:/) });
  });
});

describe('a statement refused because of its parameters', () => {
  it('is recorded with the parameters that decided it (regression: they were recorded as null)', async () => {
    const base = mkdtempSync(join(tmpdir(), 'portcullis-bindrec-'));
    const policyFile = join(base, 'params.rego');
    writeFileSync(
      policyFile,
      'package portcullis\nimport rego.v1\ndefault allow := false\n' +
        'allow if input.statement.class == "read"\n' +
        'deny contains "id 13 is off limits" if "13" in input.statement.params\n',
    );
    const spoolDir = join(base, 'spool');
    const recording: RecordingConfig = { enabled: true, spoolDir, durability: 'fsync' };
    const recorder = (await buildRecorder(recording, base, '.data'))!;
    const g = await startTestGateway(
      DB,
      { policy: { files: [policyFile] }, recording },
      { recorder },
    );
    try {
      const c = await connect(g, 'param-agent', ['agents']);
      expect((await c.query('SELECT id FROM items WHERE id = $1', [1])).rows).toEqual([{ id: 1 }]);
      await expect(c.query('SELECT id FROM items WHERE id = $1', [13])).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('id 13 is off limits'),
      });
      await c.end();
      await g.stop();
      await recorder.close();
      const events = allText(join(base, '.data', 'recordings'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; decision?: string; params?: unknown })
        .filter((e) => e.type === 'statement');
      expect(events.map((e) => [e.decision, e.params])).toEqual([
        ['allow', ['1']],
        ['deny', ['13']],
      ]);
    } finally {
      await g.stop().catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('logins the gateway refuses', () => {
  it('are recorded on the gateway chain: a bad token (auth_failure), a database not served and a policy refusal (connect_refused)', async () => {
    const base = mkdtempSync(join(tmpdir(), 'portcullis-loginrec-'));
    const policyFile = join(base, 'connect.rego');
    writeFileSync(
      policyFile,
      'package portcullis\nimport rego.v1\ndefault allow := false\n' +
        'allow if input.statement.class == "read"\n' +
        'default connect := true\nconnect := false if input.identity.sub == "banned-agent"\n',
    );
    const recording: RecordingConfig = { enabled: true, spoolDir: join(base, 'spool') };
    const recorder = (await buildRecorder(recording, base, '.data'))!;
    const g = await startTestGateway(
      DB,
      {
        policy: { files: [policyFile] },
        recording,
        upstream: testUpstream(DB, {}, { routes: { [DB]: 'main' } }),
      },
      { recorder },
    );
    try {
      const login = async (database: string, password: string, user = 'agent-x') => {
        const c = new pg.Client({ host: '127.0.0.1', port: g.port, database, user, password });
        c.on('error', () => undefined);
        return c.connect().then(
          () => c,
          (err: { code?: string }) => err.code,
        );
      };
      expect(await login(DB, 'not-a-token')).toBe('28P01');
      expect(await login('elsewhere', await g.token('agent-x'))).toBe('3D000');
      expect(await login(DB, await g.token('banned-agent'), 'banned-agent')).toBe('28000');
      const ok = await login(DB, await g.token('agent-x'));
      expect(typeof ok).toBe('object');
      await (ok as pg.Client).end();
      await g.stop();
      await recorder.close();
      const events = allText(join(base, '.data', 'recordings'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; sub?: string | null; session_id: string })
        .filter((e) => e.type === 'auth_failure' || e.type === 'connect_refused');
      expect(events.map((e) => [e.type, e.sub ?? null])).toEqual([
        ['auth_failure', null],
        ['connect_refused', 'agent-x'],
        ['connect_refused', 'banned-agent'],
      ]);
      for (const e of events) expect(e.session_id).toMatch(/^gateway:/);
    } finally {
      await g.stop().catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    }
  });
});

// Fail closed: a spool on a tmpfs that fills up. Mounting needs root (the test machines run
// as root); elsewhere the test is skipped.
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const p = mkdtempSync(join(tmpdir(), 'portcullis-mnt-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', p], { stdio: 'ignore' });
    execFileSync('umount', [p], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(p, { recursive: true, force: true });
  }
})();

describe.skipIf(!canMount)('a spool that cannot be written', () => {
  const mounts: string[] = [];
  afterAll(() => {
    setLogSink((l) => process.stderr.write(l + '\n'));
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        // already gone
      }
      rmSync(m, { recursive: true, force: true });
    }
  });

  async function fullSpool(failOpen: boolean, firstId: number) {
    const base = mkdtempSync(join(tmpdir(), 'portcullis-full-'));
    const mnt = join(base, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    mounts.push(mnt);
    const spoolDir = join(mnt, 'spool');
    const { g, recorder } = await recordingGateway(
      {
        enabled: true,
        spoolDir,
        sinks: [fileSink({ dir: join(base, 'sink') })],
        durability: 'fsync',
        failOpen,
      },
      base,
    );
    const c = await connect(g, 'filler', ['writers']);
    await c.query('INSERT INTO writes VALUES ($1)', [firstId]);
    // Fill the filesystem to the last byte.
    const fd = openSync(join(mnt, 'filler'), 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    try {
      for (;;) writeSync(fd, Buffer.alloc(1));
    } catch {
      // full
    }
    closeSync(fd);
    return { g, recorder, c, base };
  }

  async function idsInTable(): Promise<number[]> {
    const a = await adminClient(DB);
    const r = await a.query('SELECT id FROM writes ORDER BY id');
    await a.end();
    return r.rows.map((x: { id: number }) => x.id);
  }

  it('refuses the statement with 58030 and never forwards it (fail closed)', async () => {
    const { g, recorder, c, base } = await fullSpool(false, 5000);
    let refused: { code?: string; message?: string } | undefined;
    // The segment keeps the space it zero-filled ahead of its data (up to its share of
    // this 1 MB filesystem): statements are recorded there until it is used up.
    for (let id = 5001; id < 8000 && !refused; id++)
      await c.query('INSERT INTO writes VALUES ($1)', [id]).catch((e: { code?: string }) => {
        refused = e;
        return { refusedId: id };
      });
    expect(refused).toMatchObject({ code: '58030' });
    expect(refused!.message).toMatch(/audit record could not be written/);
    // Not ready while it refuses every statement: a load balancer sends clients elsewhere.
    const ready = await fetch(`http://127.0.0.1:${g.gw.adminPort}/readyz`);
    expect(ready.status).toBe(503);
    const ids = await idsInTable();
    const refusedIds = [...Array(3000).keys()]
      .map((i) => 5001 + i)
      .filter((id) => !ids.includes(id));
    // Nothing after the first refused statement reached PostgreSQL.
    expect(ids.filter((id) => id >= 5000 && id < 8000)).toEqual(
      [...Array(refusedIds[0] - 5000).keys()].map((i) => 5000 + i),
    );
    await c.end();
    await g.stop();
    await recorder.close().catch(() => undefined);
    rmSync(join(base, 'sink'), { recursive: true, force: true });
  });

  it('with failOpen, runs the statement and logs a loud error', async () => {
    const lines: string[] = [];
    const { g, recorder, c } = await fullSpool(true, 6000);
    setLogSink((l) => lines.push(l));
    const loud = () =>
      lines.some((l) => {
        const e = JSON.parse(l) as { level: string; msg: string };
        return e.level === 'error' && /spool write failed/i.test(e.msg);
      });
    // Past the space the segment zero-filled before the filesystem filled up, and 40 more.
    let id = 6001;
    for (let more = 40; id < 9000 && more > 0; id++) {
      await c.query('INSERT INTO writes VALUES ($1)', [id]);
      if (loud()) more--;
    }
    const ids = await idsInTable();
    expect(ids.filter((x) => x > 6000 && x < id)).toHaveLength(id - 6001);
    expect((await fetch(`http://127.0.0.1:${g.gw.adminPort}/readyz`)).status).toBe(200);
    const err = lines
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .find((l) => l.level === 'error');
    expect(err!.msg).toMatch(/record|spool/i);
    await c.end();
    await g.stop();
    await recorder.close().catch(() => undefined);
  });
});

describe('recording to an S3 sink', () => {
  it('ships sessions to s3rver and `portcullis replay --s3-bucket` prints them', async () => {
    const base = mkdtempSync(join(tmpdir(), 'portcullis-s3rec-'));
    const server = await s3rverProcess(join(base, 's3'), 'audit');
    try {
      const { g, recorder } = await recordingGateway(
        {
          enabled: true,
          spoolDir: join(base, 'spool'),
          durability: 'fsync',
          sinks: [
            s3Sink({
              bucket: 'audit',
              prefix: 'gw/',
              endpoint: server.endpoint,
              region: 'us-east-1',
              credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
              forcePathStyle: true,
            }),
          ],
        },
        base,
      );
      const c = await connect(g, 's3-agent', ['agents']);
      await c.query('SELECT count(*) FROM items WHERE id = $1', [1]);
      await c.end();
      let id = '';
      await until('the session to end', async () => {
        const r = await adminGet(`http://127.0.0.1:${g.adminPort}/sessions?identity=s3-agent`);
        const s = ((await r.json()) as { sessions: { session_id: string; ended_at?: string }[] })
          .sessions;
        id = s[0]?.session_id ?? '';
        return Boolean(s[0]?.ended_at);
      });
      await g.stop();
      await recorder.close();
      const flags = [
        '--s3-bucket',
        'audit',
        '--s3-prefix',
        'gw/',
        '--s3-endpoint',
        server.endpoint,
        '--s3-force-path-style',
      ];
      const env = {
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_REGION: 'us-east-1',
      };
      const r = await cli(['replay', id, ...flags], env);
      expect(r.stderr).not.toMatch(/portcullis:/);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        /ALLOW +1 .*SELECT count\(\*\) FROM items WHERE id = \$1 {2}params=\["1"\]/,
      );
      const v = await cli(
        ['verify', ...flags, '--key', join(base, '.data', 'dev-signing-key.json')],
        env,
      );
      expect(v.stdout).toContain('OK: every chain is intact and sealed');
      expect(v.code).toBe(0);
    } finally {
      await server.stop();
      rmSync(base, { recursive: true, force: true });
    }
  }, 300_000);
});
