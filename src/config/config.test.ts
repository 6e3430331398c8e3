// Config stage: validation messages, loading real config files (.ts, .mjs, .json), secrets.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stdoutSink } from '../record/index.js';
import { log, setLogSink } from '../util/logger.js';
import { ConfigError, configInputs, loadConfig } from './load.js';
import { readSecret } from './secrets.js';
import { validateConfig } from './validate.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const upstream = {
  targets: { main: { host: 'db', database: 'app', user: 'gw', password: { env: 'X' } } },
};

describe('validateConfig', () => {
  it('accepts a full valid config', () => {
    expect(
      validateConfig({
        listen: { host: '0.0.0.0', port: 6432, tls: { cert: 'a', key: 'b' } },
        admin: { port: 0 },
        upstream: { ...upstream, routes: { '*': 'main' } },
        auth: {
          jwt: { jwks: { url: 'https://idp/jwks' }, issuer: 'https://idp/', audience: ['a'] },
          apiKeys: [{ id: 'etl', hash: 'sha256:00', sub: 'svc' }],
        },
        policy: { files: ['policies.rego'] },
        recording: { enabled: true, durability: 'fsync', sinks: [stdoutSink()] },
        session: { searchPath: ['public'] },
        dataDir: '.data',
      }),
    ).toEqual([]);
  });

  it('names an unknown top-level key and suggests the closest known one', () => {
    expect(validateConfig({ upstrem: upstream })).toEqual([
      'unknown key "upstrem" (did you mean "upstream"?)',
    ]);
  });

  it('names an unknown nested key with its full path', () => {
    const errs = validateConfig({
      upstream: {
        targets: { main: { host: 'db', database: 'app', user: 'gw', pasword: { env: 'X' } } },
      },
    });
    expect(errs).toEqual([
      'unknown key "upstream.targets.main.pasword" (did you mean "password"?)',
    ]);
    expect(validateConfig({ recording: { durabilty: 'fsync' } })).toEqual([
      'unknown key "recording.durabilty" (did you mean "durability"?)',
    ]);
    expect(
      validateConfig({ auth: { apiKeys: [{ id: 'a', hash: 'h', sub: 's', grups: [] }] } }),
    ).toEqual(['unknown key "auth.apiKeys[0].grups" (did you mean "groups"?)']);
  });

  it('names a route to a target that does not exist (regression: check passed it, start failed)', () => {
    expect(
      validateConfig({ upstream: { ...upstream, routes: { app: 'main', '*': 'mian' } } }),
    ).toEqual(['upstream.routes.*: no target named "mian" (did you mean "main"?)']);
  });

  it('refuses a search_path the gateway cannot read unqualified names against', () => {
    // With public, app pinned, `SELECT * FROM api_keys` was decided as public.api_keys while
    // PostgreSQL read app.api_keys (public has none); "$user" is the role's own schema.
    for (const sp of [
      ['public', 'app'],
      ['$user', 'public'],
      ['$user'],
      ['pg_catalog'],
      ['pg_temp'],
      [],
    ])
      expect(validateConfig({ session: { searchPath: sp } })).toEqual([
        expect.stringMatching(/^session\.searchPath: /),
      ]);
    expect(validateConfig({ session: { searchPath: ['app'] } })).toEqual([]);
    expect(validateConfig({ session: { searchPath: ['My App'] } })).toEqual([]);
  });

  it('accepts upstream.select, a function (regression: it was an unknown key)', () => {
    expect(validateConfig({ upstream: { ...upstream, select: () => 'main' } })).toEqual([]);
    expect(validateConfig({ upstream: { ...upstream, select: 'main' } })).toEqual([
      'upstream.select: expected a function, got string',
    ]);
  });

  it('gives no suggestion when nothing is close', () => {
    expect(validateConfig({ listen: { zzzzzzzzz: 1 } })).toEqual([
      'unknown key "listen.zzzzzzzzz"',
    ]);
  });

  it('names the key of a type error and what was expected', () => {
    expect(validateConfig({ listen: { port: '6432' } })).toEqual([
      'listen.port: expected a number, got string',
    ]);
    expect(validateConfig({ recording: { durability: 'sometimes' } })).toEqual([
      'recording.durability: expected one of "fsync", "write", "off"',
    ]);
    expect(validateConfig({ policy: { files: 'policies.rego' } })).toEqual([
      'policy.files: expected an array, got string',
    ]);
    expect(validateConfig({ upstream: { targets: { main: { host: 'db' } } } })).toEqual([
      'upstream.targets.main.database: required',
      'upstream.targets.main.user: required',
    ]);
    expect(validateConfig([])).toEqual(['(root): expected an object, got array']);
  });

  it('requires issuer and audience for keys from a url, a file or inline, as start does (regression: check passed them)', () => {
    const jwks = { url: 'https://idp/jwks' };
    expect(validateConfig({ auth: { jwt: { jwks } } })).toEqual([
      'auth.jwt: issuer and audience are required',
    ]);
    expect(validateConfig({ auth: { jwt: { jwks, issuer: 'https://idp/' } } })).toEqual([
      'auth.jwt: issuer and audience are required',
    ]);
    expect(
      validateConfig({ auth: { jwt: { jwks: { file: 'jwks.json' }, audience: 'a' } } }),
    ).toEqual(['auth.jwt: issuer and audience are required']);
    expect(validateConfig({ auth: { jwt: { jwks: { dev: true } } } })).toEqual([]);
  });

  it('names the index of a recording sink that is not a sink (regression: start ran and retried "q.sink.put is not a function" for ever)', () => {
    const custom = { name: 'memory', put: async () => {} };
    expect(
      validateConfig({ recording: { sinks: [stdoutSink(), { type: 'bogus' }, custom, 'file'] } }),
    ).toEqual([
      'recording.sinks[1]: not a sink (expected an object with a name and a put() method, as fileSink(), s3Sink() and stdoutSink() return)',
      'recording.sinks[3]: not a sink (expected an object with a name and a put() method, as fileSink(), s3Sink() and stdoutSink() return)',
    ]);
    expect(validateConfig({ recording: { sinks: [{ put: async () => {} }] } })).toHaveLength(1);
  });

  it('reports a malformed secret reference at its key', () => {
    const errs = validateConfig({
      upstream: {
        targets: { main: { host: 'db', database: 'd', user: 'u', password: 'hunter2' } },
      },
    });
    expect(errs).toEqual(['upstream.targets.main.password: expected an object, got string']);
  });
});

describe('loadConfig', () => {
  const defineConfigPath = (dir: string) =>
    relative(dir, join(process.cwd(), 'src', 'config', 'index.js')).replaceAll('\\', '/');

  it('loads a gateway.config.ts that imports defineConfig by relative path', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'gateway.config.ts'),
      `import { defineConfig, env } from '${defineConfigPath(dir)}';\n` +
        `const port: number = 7000 + 1;\n` +
        `export default defineConfig({\n` +
        `  listen: { port },\n` +
        `  upstream: { targets: { main: { host: 'db', database: 'app', user: 'gw', password: env('PGPW') } } },\n` +
        `});\n`,
    );
    const { config, filepath } = await loadConfig(undefined, dir);
    expect(filepath).toBe(join(dir, 'gateway.config.ts'));
    expect(config.listen?.port).toBe(7001);
    expect(config.upstream?.targets.main.password).toEqual({ env: 'PGPW' });
    // The compiled module is removed after loading.
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir)).toEqual(['gateway.config.ts']);
  });

  it('loads .mjs and .json config files by explicit path', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.mjs'), `export default { listen: { port: 7100 } };\n`);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ admin: { port: 9999 } }));
    expect((await loadConfig(join(dir, 'a.mjs'))).config).toEqual({ listen: { port: 7100 } });
    const b = await loadConfig('b.json', dir);
    expect(b.config).toEqual({ admin: { port: 9999 } });
    expect(b.filepath).toBe(join(dir, 'b.json'));
  });

  it('searches gateway.config.mjs when there is no .ts', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'gateway.config.mjs'), `export default { dataDir: 'x' };\n`);
    expect((await loadConfig(undefined, dir)).config).toEqual({ dataDir: 'x' });
  });

  it('returns defaults when no config file exists and none was named', async () => {
    expect(await loadConfig(undefined, tempDir())).toEqual({ config: {}, filepath: undefined });
  });

  it('names a missing config file', async () => {
    const dir = tempDir();
    const err = await loadConfig('nope.ts', dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/nope\.ts/);
  });

  it('reports validation problems with the file they came from', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'gateway.config.json'), JSON.stringify({ listn: { port: 1 } }));
    const err = (await loadConfig(undefined, dir).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.problems).toEqual(['unknown key "listn" (did you mean "listen"?)']);
    expect(err.message).toContain(join(dir, 'gateway.config.json'));
  });

  it('reports a TypeScript syntax error as a ConfigError naming the file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'gateway.config.ts'), `export default { listen: { port: 1 }\n`);
    const err = (await loadConfig(undefined, dir).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/gateway\.config\.ts/);
  });

  it('reports every esbuild error with its file:line:column (regression: only "Build failed with 2 errors:" was kept)', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'gateway.config.ts'),
      `import { a } from './a.ts';\nimport { b } from './b.ts';\nexport default { a, b };\n`,
    );
    writeFileSync(join(dir, 'a.ts'), `export const a = { port: 1\n`);
    writeFileSync(join(dir, 'b.ts'), `export const b: number = ;\n`);
    const err = (await loadConfig(undefined, dir).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`cannot load gateway.config.ts: Build failed with 2 errors:`);
    expect(err.message).toMatch(/\n {2}a\.ts:2:0: ERROR: Expected "}" but found end of file/);
    expect(err.message).toMatch(/\n {2}b\.ts:1:25: ERROR: Unexpected ";"/);
  });

  it('lists every error of a long esbuild failure, bounded (esbuild itself lists five)', async () => {
    const dir = tempDir();
    const files = Array.from({ length: 60 }, (_, i) => `f${i}`);
    writeFileSync(
      join(dir, 'gateway.config.ts'),
      files.map((f) => `import './${f}.ts';\n`).join('') + 'export default {};\n',
    );
    for (const f of files) writeFileSync(join(dir, `${f}.ts`), `const ${'x'.repeat(300)} = ;\n`);
    const err = (await loadConfig(undefined, dir).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('Build failed with 60 errors:');
    expect(
      err.message.match(/\n {2}f\d+\.ts:1:\d+: ERROR: Unexpected ";"/g)?.length,
    ).toBeGreaterThan(5);
    expect(err.message).toMatch(/\n {2}… \(\d+ more\)$/);
    expect(err.message.length).toBeLessThanOrEqual(4100);
  });

  it('loads a config outside the project that imports the config API and the sinks from "portcullis" (regression: the package could not be found)', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'gateway.config.ts'),
      `import { defineConfig, env, file, fileSink, s3Sink, stdoutSink } from 'portcullis';\n` +
        `import { defineConfig as define2 } from 'portcullis/config';\n` +
        `export default defineConfig({\n` +
        `  upstream: { targets: { main: { host: 'db', database: 'app', user: 'gw', password: env('PGPW') } } },\n` +
        `  admin: define2({ admin: { token: file('admin-token') } }).admin,\n` +
        `  recording: { sinks: [fileSink({ dir: 'rec' }), s3Sink({ bucket: 'audit' }), stdoutSink()] },\n` +
        `});\n`,
    );
    const { config } = await loadConfig(join(dir, 'gateway.config.ts'));
    expect(config.upstream?.targets.main.password).toEqual({ env: 'PGPW' });
    expect(config.admin?.token).toEqual({ file: 'admin-token' });
    const sinks = config.recording?.sinks as { name: string; put: unknown }[];
    expect(sinks.map((s) => [s.name, typeof s.put])).toEqual([
      ['file', 'function'],
      ['s3:audit', 'function'],
      ['stdout', 'function'],
    ]);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir)).toEqual(['gateway.config.ts']);
  });

  it('loads a TypeScript config from a read-only folder (a ConfigMap), its package imports included', async (ctx) => {
    // Inside the project, so that the package import resolves from the config's folder.
    mkdirSync(join(process.cwd(), '.data'), { recursive: true });
    const src = mkdtempSync(join(process.cwd(), '.data', 'config-ro-'));
    const ro = `${src}-mounted`;
    mkdirSync(ro);
    writeFileSync(
      join(src, 'gateway.config.ts'),
      `import { defineConfig } from 'portcullis';\nimport { stringify } from 'yaml';\n` +
        `export default defineConfig({ upstream: { targets: { main: { host: stringify('db').trim(), database: 'app', user: 'gw' } } } });\n`,
    );
    try {
      try {
        execFileSync('mount', ['--bind', src, ro], { stdio: 'ignore' });
        execFileSync('mount', ['-o', 'remount,bind,ro', ro], { stdio: 'ignore' });
      } catch {
        return ctx.skip('a read-only bind mount needs root');
      }
      try {
        const { config } = await loadConfig(join(ro, 'gateway.config.ts'));
        expect(config.upstream?.targets.main.host).toBe('db');
      } finally {
        execFileSync('umount', [ro]);
      }
    } finally {
      rmSync(ro, { recursive: true, force: true });
      rmSync(src, { recursive: true, force: true });
    }
  });

  it('names the local files a TypeScript config imports, for the watcher', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'keys.ts'), `export const keys = [];\n`);
    writeFileSync(
      join(dir, 'gateway.config.ts'),
      `import { keys } from './keys.ts';\nexport default { auth: { apiKeys: keys } };\n`,
    );
    const file = join(dir, 'gateway.config.ts');
    await loadConfig(file);
    expect(configInputs(file).sort()).toEqual([file, join(dir, 'keys.ts')].sort());
  });

  it("names the files a config's $import merges in (and theirs), for the watcher", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'shared'));
    writeFileSync(join(dir, 'shared', 'limits.yaml'), 'session:\n  maxStatementsPerQuery: 10\n');
    writeFileSync(
      join(dir, 'shared', 'base.json'),
      JSON.stringify({ $import: 'limits.yaml', admin: { port: 0 } }),
    );
    const file = join(dir, 'gateway.config.json');
    writeFileSync(file, JSON.stringify({ $import: ['shared/base.json'], listen: { port: 0 } }));
    const { config } = await loadConfig(file);
    expect(config.session?.maxStatementsPerQuery).toBe(10);
    expect(configInputs(file).sort()).toEqual(
      [file, join(dir, 'shared', 'base.json'), join(dir, 'shared', 'limits.yaml')].sort(),
    );
  });

  it('loads the Kubernetes example config (deploy/kubernetes/gateway.config.ts)', async () => {
    const { config } = await loadConfig(join(process.cwd(), 'deploy/kubernetes/gateway.config.ts'));
    expect(config.admin).toMatchObject({
      host: '0.0.0.0',
      token: { env: 'PORTCULLIS_ADMIN_TOKEN' },
    });
    const sinks = config.recording?.sinks as { name: string }[];
    expect(sinks.map((k) => k.name)).toEqual(['s3:portcullis-audit']);
  });

  it('refuses at load a recording sink that is not a sink, naming its index', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'gateway.config.mjs'),
      `export default { recording: { sinks: [{ type: 'bogus' }] } };\n`,
    );
    const err = (await loadConfig(undefined, dir).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.problems).toEqual([
      'recording.sinks[0]: not a sink (expected an object with a name and a put() method, as fileSink(), s3Sink() and stdoutSink() return)',
    ]);
  });
});

describe('secrets', () => {
  const lines: string[] = [];
  afterEach(() => {
    setLogSink((line) => process.stderr.write(line + '\n'));
    lines.length = 0;
  });

  it('reads {env} and {file} secrets and scrubs them from every log line', () => {
    setLogSink((line) => lines.push(line));
    const envSecret = `env-secret-${process.pid}-${Date.now()}`;
    const fileSecret = `file-secret-${process.pid}-${Date.now()}`;
    process.env.PORTCULLIS_TEST_SECRET = envSecret;
    const dir = tempDir();
    writeFileSync(join(dir, 'pw'), fileSecret + '\n');
    try {
      expect(readSecret({ env: 'PORTCULLIS_TEST_SECRET' }, 'x')).toBe(envSecret);
      // The trailing newline of a mounted secret file is not part of the secret.
      expect(readSecret({ file: join(dir, 'pw') }, 'y')).toBe(fileSecret);
      log.error('upstream login failed', {
        err: new Error(`password authentication failed for "${envSecret}"`),
        detail: { nested: [`...${fileSecret}...`] },
      });
      log.info(`connecting with ${fileSecret}`);
      log.child({ pw: envSecret }).warn('child logger');
    } finally {
      delete process.env.PORTCULLIS_TEST_SECRET;
    }
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(l).not.toContain(envSecret);
      expect(l).not.toContain(fileSecret);
    }
    expect(lines[0]).toContain('[redacted]');
    expect(JSON.parse(lines[0]).err.message).toBe(
      'password authentication failed for "[redacted]"',
    );
  });

  it('reads a relative {file} secret from the config folder, not the working directory (regression: it was read from the cwd)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'db-password'), 'relative-secret-value\n');
    expect(readSecret({ file: 'db-password' }, 'p', dir)).toBe('relative-secret-value');
    expect(() => readSecret({ file: 'db-password' }, 'p')).toThrow(/cannot read secret file/);
  });

  it('names the key when a secret cannot be read', () => {
    expect(() =>
      readSecret({ env: 'PORTCULLIS_SURELY_UNSET_VAR' }, 'upstream.targets.m.password'),
    ).toThrow(/upstream\.targets\.m\.password: environment variable PORTCULLIS_SURELY_UNSET_VAR/);
    expect(() => readSecret({ file: '/nonexistent/pw' }, 'recording.signingKey')).toThrow(
      /recording\.signingKey: cannot read secret file/,
    );
  });
});
