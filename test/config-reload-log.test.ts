// The hot-reload log names every error of a config that does not compile, with its
// file:line:column (no PostgreSQL: the reload fails while loading the config).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Gateway } from '../src/runtime/gateway.js';
import { setLogSink } from '../src/util/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-reload-'));
afterAll(() => {
  setLogSink((line) => process.stderr.write(line + '\n'));
  rmSync(dir, { recursive: true, force: true });
});

it('logs the whole esbuild error when a reloaded config does not compile (regression: only "Build failed with 1 error:")', async () => {
  const file = join(dir, 'gateway.config.ts');
  writeFileSync(file, `export default { listen: { port: 1 }\nconst x: number = ;\n`);
  const lines: string[] = [];
  setLogSink((line) => lines.push(line));
  const gw = new Gateway({ config: {}, baseDir: dir, configFile: file });
  expect(await gw.reload()).toBe(false);
  const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg?.startsWith('reload failed'));
  expect(failed?.err).toContain('Build failed with 1 error:');
  expect(failed?.err).toContain('gateway.config.ts:2:0: ERROR: Expected "}" but found "const"');
});
