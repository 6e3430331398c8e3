// verify --partial (a spool verified alone, or a sink whose oldest segments retention
// pruned): statements deleted from the head of the first segment present are a broken link.
// Every segment must begin with its segment_start, which lists where each session chain
// still open stood; every other chain starts in that segment. Before, chains first seen in
// the first segment could start anywhere, so deleting its first lines read as intact and
// sealed although a signed checkpoint later in it covered them.
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRecorder } from './recorder.js';
import { dirSource, fileSink } from './sinks/file.js';
import { edKeys, startInfo, stmt, tempDir, totals } from './testkit.js';
import { verifyRecording } from './verify.js';

const keys = edKeys();

describe('verify --partial', () => {
  it('catches statements deleted from the head of the first segment present', async () => {
    const spool = await tempDir('partial-spool');
    const dir = await tempDir('partial-sink');
    const rec = createRecorder({
      spoolDir: spool,
      sinks: [fileSink({ dir, rotateBytes: 6000 })],
      checkpoint: { signingKey: keys.privateJwk, kid: 'k', everyEvents: 1000 },
    });
    const s = await rec.openSession(startInfo({ sessionId: 'victim' }));
    for (let i = 0; i < 30; i++) {
      const q = await s.statement(stmt(`SELECT ${i} FROM orders`));
      s.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
    }
    await s.end(totals());
    await rec.close();
    const segs = (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort();
    expect(segs.length).toBeGreaterThanOrEqual(3);
    // Retention removed segment 1: verified as partial, that is intact and sealed.
    await rm(join(dir, segs[0]));
    const verify = () =>
      verifyRecording(dirSource(dir), { publicKey: keys.publicJwk, partial: true });
    expect((await verify()).sealed).toBe(true);
    // Delete the first lines of segment 2 (its segment_start and victim's first events
    // there); a signed checkpoint later in segment 2 covers them.
    const lines = (await readFile(join(dir, segs[1]), 'utf8')).split('\n').slice(0, -1);
    const cp = lines.findIndex((l) => l.includes('"type":"checkpoint"'));
    const gone = lines.slice(0, 4);
    expect(gone.some((l) => l.includes('"type":"statement"'))).toBe(true);
    expect(cp).toBeGreaterThan(4);
    await writeFile(join(dir, segs[1]), lines.slice(4).join('\n') + '\n');
    const r = await verify();
    expect(r.sealed).toBe(false);
    expect(r.ok).toBe(false);
    expect(r.breaks[0].reason).toMatch(/does not begin with its segment_start/);
    // Keeping the segment_start, deleting the victim's events after it: its chain does not
    // go on from where the segment_start says it stood.
    expect(lines[0]).toContain('"type":"segment_start"');
    expect(lines.slice(1, 4).some((l) => l.includes('"session_id":"victim"'))).toBe(true);
    await writeFile(join(dir, segs[1]), [lines[0], ...lines.slice(4)].join('\n') + '\n');
    const r2 = await verify();
    expect(r2.ok).toBe(false);
    expect(r2.breaks).toContainEqual(
      expect.objectContaining({
        session_id: 'victim',
        reason: expect.stringMatching(
          /^expected seq \d+, found seq \d+: events \d+\.\.\d+ deleted/,
        ),
      }),
    );
  });

  it('a session idle across several segments, their first pruned, is intact and sealed', async () => {
    const spool = await tempDir('partial-idle-spool');
    const dir = await tempDir('partial-idle-sink');
    const rec = createRecorder({
      spoolDir: spool,
      sinks: [fileSink({ dir, rotateBytes: 6000 })],
      checkpoint: { signingKey: keys.privateJwk, kid: 'k', everyEvents: 1000 },
    });
    const idle = await rec.openSession(startInfo({ sessionId: 'idle' }));
    const q0 = await idle.statement(stmt('SELECT 1 FROM orders'));
    idle.result(q0, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
    const busy = await rec.openSession(startInfo({ sessionId: 'busy' }));
    for (let i = 0; i < 60; i++) {
      const q = await busy.statement(stmt(`SELECT ${i} FROM orders`));
      busy.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
    }
    const q1 = await idle.statement(stmt('SELECT 2 FROM orders'));
    idle.result(q1, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
    await busy.end(totals());
    await idle.end(totals());
    await rec.close();
    const segs = (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort();
    expect(segs.length).toBeGreaterThanOrEqual(4);
    await rm(join(dir, segs[0]));
    const r = await verifyRecording(dirSource(dir), { publicKey: keys.publicJwk, partial: true });
    expect(r.breaks).toEqual([]);
    expect(r.sealed).toBe(true);
  });
});
