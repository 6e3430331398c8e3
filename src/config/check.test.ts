// `portcullis check` as a subprocess: exit codes and messages for valid and broken configs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../test/helpers/spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD_REGO = `package portcullis
import rego.v1
default allow := false
allow if input.statement.class == "read"
test_reads_allowed if allow with input as {"statement": {"class": "read"}}
test_writes_denied if not allow with input as {"statement": {"class": "write"}}
`;

/** `portcullis check --config FILE` (tsx, as `npx tsx src/cli/main.ts` runs it). */
function check(file: string, ...flags: string[]) {
  return cli('check', '--config', file, ...flags);
}

function cli(...args: string[]) {
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: process.cwd(),
    timeoutMs: 120_000,
  });
}

/** A config that imports from 'portcullis', with the passing policy. */
function portcullisConfig(name: string, body: string): string {
  writeFileSync(join(dir, 'good.rego'), GOOD_REGO);
  writeFileSync(
    join(dir, name),
    `import { defineConfig, env, file, stdoutSink } from 'portcullis';\n` +
      `export default defineConfig({ ${body} policy: { files: ['good.rego'] } });\n`,
  );
  return join(dir, name);
}

const UPSTREAM = `upstream: { targets: { main: { host: 'db', database: 'app', user: 'gw', password: { value: 'pw' } } } },`;
/** Keys from an identity provider (a config with a real upstream and no auth trusts the dev key). */
const IDP_AUTH = ` auth: { jwt: { jwks: { url: 'https://idp.example/jwks.json' }, issuer: 'https://idp.example/', audience: 'pc' } },`;

function config(name: string, policyFile: string, extra = ''): string {
  writeFileSync(
    join(dir, name),
    `import { defineConfig } from '${relative(dir, join(process.cwd(), 'src/config/index.js'))}';\n` +
      `export default defineConfig({ ${extra} policy: { files: ['${policyFile}'] } });\n`,
  );
  return join(dir, name);
}

describe('portcullis check', () => {
  it('exits 0 for a valid config and a policy whose tests pass (regression: a config outside the project importing defineConfig could not resolve cosmiconfig)', async () => {
    writeFileSync(join(dir, 'good.rego'), GOOD_REGO);
    const r = await check(config('good.config.ts', 'good.rego'));
    expect(r.stderr).not.toMatch(/portcullis:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/configuration valid; policy rego:/);
  });

  it('exits 1 and names an unknown key with a suggestion', async () => {
    writeFileSync(join(dir, 'good.rego'), GOOD_REGO);
    const r = await check(config('typo.config.ts', 'good.rego', `listen: { prot: 6432 },`));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown key "listen.prot" (did you mean "port"?)');
  });

  it('exits 1 with file:line:col for a Rego syntax error', async () => {
    writeFileSync(
      join(dir, 'broken.rego'),
      'package portcullis\nimport rego.v1\n\nallow if {\n  input.statement.class == "read"\n',
    );
    const r = await check(config('broken.config.ts', 'broken.rego'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.rego:\d+:\d+: rego_parse_error/);
  });

  it('exits 1 and names the failing test_ rule', async () => {
    writeFileSync(
      join(dir, 'failing.rego'),
      GOOD_REGO + 'test_writes_allowed if allow with input as {"statement": {"class": "write"}}\n',
    );
    const r = await check(config('failing.config.ts', 'failing.rego'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('policy: tests failed');
    expect(r.stderr).toContain('test_writes_allowed');
    expect(r.stderr).not.toContain('test_reads_allowed');
  });

  it('prints every esbuild error of a config that does not compile (regression: only "Build failed with 1 error:")', async () => {
    const file = join(dir, 'syntax.config.ts');
    writeFileSync(file, `export default { listen: { port: 1 }\nconst x: number = ;\n`);
    const r = await check(file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Build failed with 1 error:');
    expect(r.stderr).toMatch(/syntax\.config\.ts:2:0: ERROR: Expected "}" but found "const"/);
  });

  it('exits 0 for a config outside the project that imports from "portcullis"', async () => {
    const r = await check(
      portcullisConfig(
        'pkg.config.ts',
        `${UPSTREAM}${IDP_AUTH} recording: { sinks: [stdoutSink()] },`,
      ),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/configuration valid; policy rego:/);
  });

  it('exits 1 for an api key hash that start refuses (regression: check said valid)', async () => {
    const r = await check(
      portcullisConfig(
        'apikey.config.ts',
        `${UPSTREAM} auth: { apiKeys: [{ id: 'etl', hash: 'md5:abc', sub: 'svc-etl' }] },`,
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'auth.apiKeys[0]: api key hash must be sha256:<hex> or scrypt:N=..,r=..,p=..:<salt>:<hash>',
    );
  });

  it('exits 1 for upstream.catalog settings start refuses, naming the key', async () => {
    const catalog = (name: string, c: string) =>
      check(
        portcullisConfig(
          name,
          `upstream: { targets: { main: { host: 'db', database: 'app', user: 'gw', password: { value: 'pw' } } }, catalog: ${c} },${IDP_AUTH}`,
        ),
      );
    const short = await catalog('catalog-ms.config.ts', '{ refreshMs: 10 }');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('upstream.catalog.refreshMs: must be a number of ms');
    const typo = await catalog('catalog-key.config.ts', '{ enable: false }');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('unknown key "upstream.catalog.enable"');
    const good = await catalog('catalog-ok.config.ts', '{ enabled: false, refreshMs: 300000 }');
    expect(good.code).toBe(0);
  });

  it('exits 1 for jwt keys from a url without issuer and audience (regression: check said valid)', async () => {
    const r = await check(
      portcullisConfig(
        'jwt.config.ts',
        `${UPSTREAM} auth: { jwt: { jwks: { url: 'https://idp.example/jwks' } } },`,
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('auth.jwt: issuer and audience are required');
  });

  it('exits 1 naming a recording sink that is not a sink; start refuses it too (regression: start retried "q.sink.put is not a function" for ever)', async () => {
    const file = portcullisConfig(
      'sink.config.ts',
      `${UPSTREAM} recording: { sinks: [stdoutSink(), { type: 'bogus' } as never] },`,
    );
    const r = await check(file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('recording.sinks[1]: not a sink');
    const s = await cli('start', '--config', file);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('recording.sinks[1]: not a sink');
  });

  it('warns about secrets it cannot read and exits 0; exits 1 with --strict', async () => {
    const file = portcullisConfig(
      'secrets.config.ts',
      `upstream: { targets: { main: { host: 'db', database: 'app', user: 'gw', password: env('PORTCULLIS_SURELY_UNSET_PW') } } },` +
        ` admin: { token: file('no-such-token-file') },`,
    );
    const r = await check(file);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'warning: upstream.targets.main.password: environment variable PORTCULLIS_SURELY_UNSET_PW is not set',
    );
    expect(r.stderr).toContain('warning: admin.token: cannot read secret file no-such-token-file');
    // No auth configured beside a real upstream: the development key is trusted.
    expect(r.stderr).toContain('warning: auth: JWTs signed with the local development key');
    expect(r.stdout).toMatch(/configuration valid; policy rego:.* \(3 warnings\)/);
    const strict = await check(file, '--strict');
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('upstream.targets.main.password: environment variable');
    expect(strict.stderr).toContain('3 warnings, errors with --strict');
  });

  it('warns about certificate files it cannot load, and exits 1 with --strict', async () => {
    writeFileSync(join(dir, 'not-a-cert.pem'), 'not PEM\n');
    const file = portcullisConfig(
      'tls.config.ts',
      `listen: { host: '127.0.0.1', port: 6432, tls: { cert: 'not-a-cert.pem', key: 'no-such.key' } },`,
    );
    const r = await check(file);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: listen.tls: cannot load certificate or key');
    expect((await check(file, '--strict')).code).toBe(1);
  });

  it('exits 1 for JWT algorithms start refuses', async () => {
    for (const [algorithms, message] of [
      ['[]', 'jwt algorithms is empty'],
      ["['none']", 'jwt algorithm none is refused'],
      ["['HS256']", 'jwt algorithm HS256 needs a shared secret source or is unknown'],
    ]) {
      const file = portcullisConfig(
        `algs-${message.length}.config.ts`,
        `auth: { jwt: { jwks: { url: 'https://idp.example/jwks.json' }, issuer: 'https://idp.example/', audience: 'pc', algorithms: ${algorithms} } },`,
      );
      const r = await check(file);
      expect(r.code, algorithms).toBe(1);
      expect(r.stderr).toContain(`auth.jwt: ${message}`);
    }
  });

  it('warns when a config with a real upstream trusts the development key, and not once it names its keys', async () => {
    const dev = portcullisConfig('devkey.config.ts', UPSTREAM);
    const r = await check(dev, '--strict');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('warning: auth: JWTs signed with the local development key');
    const idp = portcullisConfig('idp.config.ts', UPSTREAM + IDP_AUTH);
    const ok = await check(idp, '--strict');
    expect(ok.stderr).not.toMatch(/development key/);
    expect(ok.code).toBe(0);
    // `portcullis token` mints with the development key only for a config that trusts it.
    const t = await cli('token', '--sub', 'x', '--config', idp);
    expect(t.code).toBe(1);
    expect(t.stdout).toBe('');
    expect(t.stderr).toContain('does not trust the development key');
  });

  it('exits 1 naming a missing config file', async () => {
    const r = await check(join(dir, 'missing.config.ts'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.config.ts');
  });
});
