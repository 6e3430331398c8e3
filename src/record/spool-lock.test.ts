// Spool lock: one process records into a spool; a dead holder's lock is taken over.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE, SpoolInUse } from './lock.js';
import { createRecorder } from './recorder.js';
import { dirSource, fileSink } from './sinks/file.js';
import { deadPid, edKeys, startInfo, stmt, tempDir, totals } from './testkit.js';
import type { RecorderOptions } from './types.js';
import { verifyRecording } from './verify.js';

const crashWriter = fileURLToPath(new URL('./testdata/crash-writer.ts', import.meta.url));
const racer = fileURLToPath(new URL('./testdata/spool-lock-racer.ts', import.meta.url));

const locks = (dir: string) => readdirSync(dir).filter((n) => LOCK_FILE.test(n));
const inUse = (dir: string, pid: number) =>
  new RegExp(`^recording spool ${dir} is in use by process ${pid}$`);

/** A `node --import tsx <script> <args>` child; resolves once it has printed a line. */
async function child(script: string, args: string[]): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    p.once('error', reject);
    p.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    p.stdout!.once('data', () => resolve());
  });
  return p;
}

async function recordAndClose(o: RecorderOptions): Promise<void> {
  const rec = createRecorder(o);
  const s = await rec.openSession(startInfo());
  await s.statement(stmt());
  await s.end(totals());
  await rec.close();
}

describe('spool lock', () => {
  it('a second recorder on a spool in use refuses it, and the first records intact', async () => {
    const dir = await tempDir('lock');
    const sinkDir = await tempDir('lock-sink');
    const k = edKeys();
    const o: RecorderOptions = {
      spoolDir: dir,
      sinks: [fileSink({ dir: sinkDir })],
      checkpoint: { signingKey: k.privateJwk },
      onAlert: () => undefined,
    };
    const first = createRecorder(o);
    const s = await first.openSession(startInfo({ sessionId: 'first' }));
    await s.statement(stmt('SELECT 1'));

    let err: unknown;
    try {
      createRecorder(o);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpoolInUse);
    expect((err as Error).message).toMatch(inUse(dir, process.pid));
    expect(locks(dir)).toHaveLength(1);

    await s.statement(stmt('SELECT 2'));
    await s.end(totals({ statements: 2, allowed: 2 }));
    await first.close();
    expect(locks(dir)).toEqual([]);
    const report = await verifyRecording([dirSource(dir), dirSource(sinkDir)], {
      publicKey: k.publicJwk,
    });
    expect(report.breaks).toEqual([]);
    expect(report.sealed).toBe(true);

    // Closed cleanly: the lock is released and the next start is a plain one.
    await recordAndClose(o);
    const again = await verifyRecording([dirSource(dir), dirSource(sinkDir)], {
      publicKey: k.publicJwk,
    });
    expect(again.breaks).toEqual([]);
    expect(again.sealed).toBe(true);
  });

  it('refuses a spool another process records into, and takes it over after kill -9', async () => {
    const dir = await tempDir('lock-proc');
    const k = edKeys();
    const writer = await child(crashWriter, [dir, JSON.stringify(k.privateJwk)]);
    const o: RecorderOptions = {
      spoolDir: dir,
      checkpoint: { signingKey: k.privateJwk },
      onAlert: () => undefined,
    };
    try {
      expect(() => createRecorder(o)).toThrow(inUse(dir, writer.pid!));
    } finally {
      writer.kill('SIGKILL');
      await new Promise((r) => writer.once('close', r));
    }
    // kill -9 left its lock behind.
    expect(locks(dir).map((n) => Number(LOCK_FILE.exec(n)![1]))).toEqual([writer.pid]);

    await recordAndClose(o);
    expect(locks(dir)).toEqual([]);
    const report = await verifyRecording(dirSource(dir), { publicKey: k.publicJwk });
    expect(report.breaks).toEqual([]);
    expect(report.unsealed).toEqual([]);
    // What the killed writer left after its last checkpoint is unsigned (see `recovered`).
    expect(report.sealed).toBe(report.recovered.length === 0);
  }, 60_000);

  it('takes over a lock of an earlier process with this pid (a container restart)', async () => {
    const dir = await tempDir('lock-pid');
    writeFileSync(join(dir, `lock.${process.pid}.0123456789ab`), '');
    writeFileSync(join(dir, `lock.${deadPid()}.ba9876543210`), '');
    const rec = createRecorder({ spoolDir: dir });
    expect(locks(dir)).toHaveLength(1);
    expect(locks(dir)[0]).toMatch(new RegExp(`^lock\\.${process.pid}\\.`));
    await rec.close();
  });

  it('of starters racing for a dead lock, at most one wins', async () => {
    const dir = await tempDir('lock-race');
    writeFileSync(join(dir, `lock.${deadPid()}.0123456789ab`), '');
    const racers = await Promise.all(Array.from({ length: 6 }, () => child(racer, [dir])));
    try {
      const said = racers.map(
        (p) => new Promise<string>((r) => p.stdout!.once('data', (d: Buffer) => r(String(d)))),
      );
      for (const p of racers) p.stdin!.write('go\n');
      const results = (await Promise.all(said)).map((s) => s.trim());
      const won = results.filter((r) => r === 'won');
      expect(won.length).toBeLessThanOrEqual(1);
      const pids = new Set(racers.map((p) => p.pid));
      for (const r of results.filter((r) => r !== 'won'))
        expect(pids.has(Number(/^lost (\d+)$/.exec(r)?.[1]))).toBe(true);
      // The dead lock is gone once someone won; a loser's own lock is never left behind.
      if (won.length) expect(locks(dir)).toHaveLength(1);
    } finally {
      for (const p of racers) p.stdin!.end();
      await Promise.all(racers.map((p) => new Promise((r) => p.once('close', r))));
    }
  }, 60_000);
});
