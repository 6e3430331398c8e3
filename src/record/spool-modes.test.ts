// Recordings hold SQL text and bound parameters: the spool and a file sink are private.
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from './lock.js';
import { createRecorder } from './recorder.js';
import { fileSink } from './sinks/file.js';
import { startInfo, stmt, tempDir, totals } from './testkit.js';

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.jsonl'));

/** Record one session into `spoolDir`, shipping to a file sink in `sinkDir`. */
async function record(spoolDir: string, sinkDir: string, whileOpen = (): void => undefined) {
  const rec = createRecorder({ spoolDir, sinks: [fileSink({ dir: sinkDir })] });
  const s = await rec.openSession(startInfo());
  await s.statement(stmt('SELECT secret FROM vault WHERE key = $1', { params: ['hunter2'] }));
  whileOpen();
  await s.end(totals());
  await rec.close();
}

describe('recording file modes', () => {
  // The usual umask: what is created without a mode is 0755 / 0644.
  let umask = 0;
  beforeAll(() => {
    umask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(umask);
  });

  it('creates the spool, its segments, markers and lock, and a file sink, private', async () => {
    const root = await tempDir('modes');
    const spool = join(root, 'data', 'spool');
    const sink = join(root, 'data', 'recordings');
    await record(spool, sink, () => {
      const lock = readdirSync(spool).find((n) => LOCK_FILE.test(n))!;
      expect(mode(join(spool, lock))).toBe('600');
      expect(mode(join(spool, segments(spool)[0]))).toBe('600');
    });
    expect(mode(spool)).toBe('700');
    expect(mode(join(spool, 'instance'))).toBe('600');
    expect(segments(spool).length).toBeGreaterThan(0);
    for (const seg of segments(spool)) expect(mode(join(spool, seg))).toBe('600');
    const markers = join(spool, '.shipped', 'file');
    expect(mode(join(spool, '.shipped'))).toBe('700');
    expect(mode(markers)).toBe('700');
    for (const m of readdirSync(markers)) expect(mode(join(markers, m))).toBe('600');
    expect(mode(sink)).toBe('700');
    expect(segments(sink).length).toBeGreaterThan(0);
    for (const seg of segments(sink)) expect(mode(join(sink, seg))).toBe('600');
  });

  it("closes an older version's spool and sink directories, not a parent or a shared one", async () => {
    const root = await tempDir('modes-old');
    chmodSync(root, 0o755);
    const spool = join(root, 'spool');
    const sink = join(root, 'recordings');
    mkdirSync(spool, { mode: 0o755 });
    writeFileSync(join(spool, 'instance'), 'abcd1234\n', { mode: 0o644 });
    mkdirSync(sink, { mode: 0o755 });
    writeFileSync(join(sink, '20261001T000000000Z-abcd1234-000001.jsonl'), '', { mode: 0o644 });
    await record(spool, sink);
    expect(mode(spool)).toBe('700');
    expect(mode(sink)).toBe('700');
    expect(mode(root)).toBe('755');

    // A directory that holds other things is someone else's to open or close; what the
    // recorder writes into it is private all the same.
    const shared = [join(root, 'shared-spool'), join(root, 'shared-sink')];
    for (const d of shared) {
      mkdirSync(d, { mode: 0o755 });
      writeFileSync(join(d, 'notes.txt'), 'not a recording');
    }
    await record(shared[0], shared[1]);
    for (const d of shared) {
      expect(mode(d)).toBe('755');
      expect(segments(d).length).toBeGreaterThan(0);
      for (const seg of segments(d)) expect(mode(join(d, seg))).toBe('600');
    }
  });
});
