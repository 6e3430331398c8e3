// Configuration handling at its edges: check refuses what start refuses, keys named like
// built-in object methods are unknown keys, secrets stay out of error messages and the
// recording, and a reload of the search_path leaves open sessions reading what they read.
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKey, mintToken } from '../src/auth/index.js';
import { loadConfig } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { Gateway } from '../src/runtime/gateway.js';
import { buildRecorder } from '../src/runtime/recording.js';
import { setLogSink } from '../src/util/logger.js';
import { freshDatabase, gatewayClient, testUpstream } from './helpers/gateway.js';
import { CLI } from './helpers/gateway-process.js';
import { run } from './helpers/spawn.js';

const ROOT = process.cwd();

function cli(args: string[]) {
  return run(CLI[0], [...CLI.slice(1), ...args], { cwd: ROOT, timeoutMs: 60_000 });
}

/** A folder with the repository's default policy and `gateway.config.json` = `config`. */
function configDir(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cfg-edges-'));
  copyFileSync(join(ROOT, 'policies.rego'), join(dir, 'policies.rego'));
  writeFileSync(join(dir, 'gateway.config.json'), JSON.stringify(config, null, 2));
  return dir;
}

function baseConfig(db = 'cfg_edges_none'): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    // The password from the environment: the config file holds no secret of its own.
    upstream: testUpstream(db, { password: { env: 'PORTCULLIS_TEST_PG_PASSWORD' } }),
    auth: { jwt: { jwks: { dev: true } } },
    recording: { enabled: false },
  };
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...allFiles(p));
    else out.push(p);
  }
  return out;
}

describe('check refuses what start refuses', () => {
  it('an upstream with no targets: check exits 1 like start', async () => {
    const dir = configDir({ ...baseConfig(), upstream: { targets: {} } });
    const file = join(dir, 'gateway.config.json');
    const start = await cli(['start', '--config', file]);
    expect(start.code).toBe(1); // start refuses: upstream.routes.*: no target named "undefined"
    const check = await cli(['check', '--config', file]);
    expect(check.code).toBe(1);
  });

  it('a listen port out of range: check exits 1 like start', async () => {
    const cfg = baseConfig();
    const dir = configDir({ ...cfg, listen: { host: '127.0.0.1', port: 70000 } });
    const file = join(dir, 'gateway.config.json');
    const start = await cli(['start', '--config', file]);
    expect(start.code).toBe(1); // options.port should be >= 0 and < 65536
    const check = await cli(['check', '--config', file]);
    expect(check.code).toBe(1);
  });

  it('a recording.signingKey that is not a key: check exits 1 (even without --strict) like start', async () => {
    const dir = configDir({
      ...baseConfig(),
      recording: { signingKey: { file: 'signing.pem' } },
    });
    writeFileSync(
      join(dir, 'signing.pem'),
      '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n',
    );
    const file = join(dir, 'gateway.config.json');
    const start = await cli(['start', '--config', file]);
    expect(start.code).toBe(1);
    const check = await cli(['check', '--config', file]);
    expect(check.code).toBe(1);
    // start's own message does not even say which setting is wrong.
    expect(start.stderr).toContain('recording.signingKey');
  });
});

describe('secrets never appear in errors', () => {
  it('a signing key file whose JWK is malformed: start does not print the private key', async () => {
    const dir = configDir({
      ...baseConfig(),
      recording: { signingKey: { file: 'signing.jwk' } },
    });
    // A hand-edited JWK with a quote missing around "d" (the private part).
    const d = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
    writeFileSync(
      join(dir, 'signing.jwk'),
      `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d": ${d}}`,
    );
    const start = await cli(['start', '--config', join(dir, 'gateway.config.json')]);
    expect(start.code).toBe(1);
    expect(start.stderr + start.stdout).not.toContain(d.slice(0, 8));
  });

  it('a JSON config that does not parse: check does not print the inline secret', async () => {
    const dir = configDir({});
    const secret = 'adm1n-T0ken-very-secret-42';
    writeFileSync(
      join(dir, 'gateway.config.json'),
      '{\n  "admin": { "token": { "value": "' + secret + '" } },\n}\n',
    );
    const check = await cli(['check', '--config', join(dir, 'gateway.config.json')]);
    expect(check.code).toBe(1);
    expect(check.stderr + check.stdout).not.toContain(secret);
  });
});

describe('unknown keys are rejected naming the key, never a crash', () => {
  for (const [name, config, key] of [
    ['listen.toString', { listen: { toString: {} } }, 'listen.toString'],
    ['hasOwnProperty at the root', { hasOwnProperty: {} }, 'hasOwnProperty'],
    [
      'constructor in a target',
      { upstream: { targets: { main: { host: 'h', database: 'd', user: 'u', constructor: {} } } } },
      'upstream.targets.main.constructor',
    ],
    ['session.valueOf', { session: { valueOf: 5 } }, 'session.valueOf'],
    [
      'JSON "__proto__" key',
      JSON.parse('{"policy":{"__proto__":{"allowAll":true}}}'),
      'policy.__proto__',
    ],
  ] as const)
    it(`${name}`, () => {
      let problems: string[] = [];
      expect(() => (problems = validateConfig(config))).not.toThrow();
      expect(problems.some((p) => p.includes(`unknown key "${key}"`))).toBe(true);
    });

  it('a JSON config with a "constructor" key: start names the key', async () => {
    const dir = configDir({
      ...baseConfig(),
      listen: { host: '127.0.0.1', port: 0, constructor: {} },
    });
    const start = await cli(['start', '--config', join(dir, 'gateway.config.json')]);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain('listen.constructor');
  });
});

describe('reloads', () => {
  const DB = 'cfg_edges_reload';
  const logs: string[] = [];
  beforeAll(async () => {
    await freshDatabase(
      DB,
      'CREATE SCHEMA hr; CREATE TABLE hr.salaries (who text, amount int);' +
        " INSERT INTO hr.salaries VALUES ('ceo', 999999);",
    );
    setLogSink((l) => logs.push(l));
  });
  afterAll(() => setLogSink((l) => process.stderr.write(l + '\n')));

  async function startIn(dir: string, recorder = false) {
    const file = join(dir, 'gateway.config.json');
    const { config } = await loadConfig(file);
    const rec = recorder ? await buildRecorder(config.recording, dir, config.dataDir) : undefined;
    const gw = new Gateway({ config, baseDir: dir, configFile: file, recorder: rec });
    await gw.start();
    const key = await loadOrCreateDevKey(join(dir, '.data'));
    const token = () =>
      mintToken(key, {
        sub: 'agent-1',
        groups: ['agents'],
        issuer: DEV_ISSUER,
        audience: DEV_AUDIENCE,
      });
    return { gw, rec, token, file };
  }

  it('a reload that changes session.searchPath does not let open sessions read another schema', async () => {
    // The gateway pins search_path=hr upstream; the default policy reads only "public".
    const cfg = { ...baseConfig(DB), session: { searchPath: ['hr'] } };
    const dir = configDir(cfg);
    const { gw, token, file } = await startIn(dir);
    const c: pg.Client = await gatewayClient({ port: gw.port, token }, DB, { ignoreErrors: true });
    try {
      await expect(c.query('SELECT * FROM salaries')).rejects.toMatchObject({ code: '42501' });

      // The operator moves agents to "public".
      writeFileSync(file, JSON.stringify({ ...cfg, session: { searchPath: ['public'] } }));
      expect(await gw.reload()).toBe(true);

      // The open session's upstream still has search_path=hr: whatever the gateway now
      // decides, hr.salaries must not be what it returns.
      const rows = await c.query('SELECT * FROM salaries').then(
        (r) => r.rows,
        () => [],
      );
      expect(rows).toEqual([]);
    } finally {
      await c.end().catch(() => undefined);
      await gw.stop(2000);
    }
  });

  it('a failed reload of a JSON config does not write its inline secret into the recording', async () => {
    const secret = 'adm1n-T0ken-very-secret-42';
    // The admin section last: the trailing comma below lands beside it.
    const cfg = {
      ...baseConfig(DB),
      recording: { durability: 'write' },
      admin: { host: '127.0.0.1', port: 0, token: { value: secret } },
    };
    const dir = configDir(cfg);
    const { gw, rec, file } = await startIn(dir, true);
    try {
      // A trailing comma slips in while the operator edits the file.
      writeFileSync(file, JSON.stringify(cfg).replace(/}$/, ',\n}'));
      expect(await gw.reload()).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await gw.stop(2000);
      await rec?.close();
    }
    const recorded = allFiles(join(dir, '.data'))
      .filter((f) => !f.endsWith('.json') || !f.includes('dev-'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    expect(recorded).toContain('config_reload');
    expect(recorded).not.toContain(secret);
  });
});
