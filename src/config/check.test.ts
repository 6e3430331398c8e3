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
function check(file: string) {
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', '--config', file], {
    cwd: process.cwd(),
    timeoutMs: 120_000,
  });
}

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

  it('exits 1 naming a missing config file', async () => {
    const r = await check(join(dir, 'missing.config.ts'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.config.ts');
  });
});
