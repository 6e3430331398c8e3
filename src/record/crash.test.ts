// Crash test: kill -9 a process appending with 'fsync' durability; nothing acknowledged is lost.
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkLine } from './event.js';
import { createRecorder } from './recorder.js';
import { splitLines } from './segment.js';
import { dirSource } from './sinks/file.js';
import { edKeys, tempDir } from './testkit.js';
import { verifyRecording } from './verify.js';

const child = fileURLToPath(new URL('./testdata/crash-writer.ts', import.meta.url));

describe('crash recovery', () => {
  it('keeps every acknowledged statement after kill -9 and verify names the torn tail', async () => {
    const dir = await tempDir('crash');
    const keys = edKeys();
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', child, dir, JSON.stringify(keys.privateJwk)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const acked: string[] = [];
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      p.on('error', reject);
      p.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        acked.push(...parts);
        if (acked.length >= 2000 && !p.killed) {
          p.kill('SIGKILL');
          resolve();
        }
      });
      p.on('exit', () => resolve());
    });
    await new Promise((r) => p.on('close', r));
    expect(acked.length).toBeGreaterThanOrEqual(2000);

    const recorded = new Set<string>();
    for (const seg of (await readdir(dir)).filter((n) => n.endsWith('.jsonl')))
      for (const { text } of splitLines(await readFile(join(dir, seg))).lines) {
        const c = checkLine(text);
        expect(c.ok).toBe(true);
        if (c.ok && c.event.type === 'statement')
          recorded.add(`${c.event.session_id} ${c.event.seq}`);
      }
    const missing = acked.filter((a) => !recorded.has(a));
    expect(missing).toEqual([]);

    const r = await verifyRecording(dirSource(dir), { publicKey: keys.publicJwk });
    expect(r.breaks).toEqual([]);
    for (const t of r.torn)
      expect(t.reason).toMatch(
        /^torn tail after seq \d+ of \S+ in segment \S+: \d+ bytes at offset \d+$/,
      );
    expect(r.sealed).toBe(false);
    expect(r.unsealed.length).toBeGreaterThan(0);

    // Restart: recovery records the torn tail and interrupted sessions. What the killed run
    // wrote after its last checkpoint stays unsigned: listed as recovered, not sealed.
    const rec = createRecorder({
      spoolDir: dir,
      checkpoint: { signingKey: keys.privateJwk },
      onAlert: () => undefined,
    });
    await rec.gatewayEvent('config_reload', { version: 'v2' });
    await rec.close();
    const after = await verifyRecording(dirSource(dir), { publicKey: keys.publicJwk });
    expect(after.breaks).toEqual([]);
    expect(after.torn.every((t) => t.acknowledged)).toBe(true);
    expect(after.unsealed).toEqual([]);
    // The events the killed run left unsigned, or (killed right after a checkpoint) that it
    // ended without its final checkpoint: never sealed.
    expect(after.recovered.length).toBeGreaterThan(0);
    for (const u of after.recovered)
      expect(u.reason).toMatch(/^seq \d+\.\.\d+ \(\d+ events, |ended without its final checkpoint/);
    expect(after.sealed).toBe(false);
  }, 60_000);
});
