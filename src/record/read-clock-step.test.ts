// Readers order an instance's segments by their number, not by the time in their names: a
// clock that stepped back at a rotation names the later segment with an earlier time. Before,
// `allEvents` (what `policy replay` reads) then gave a session's statements before its
// session_start, in the wrong order.
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createReader } from './read.js';
import { createRecorder } from './recorder.js';
import { dirSource } from './sinks/file.js';
import { startInfo, stmt, tempDir, totals } from './testkit.js';

describe('a clock that stepped back at a rotation', () => {
  it('leaves every session in seq order, across segments', async () => {
    const dir = await tempDir('clock-step');
    let now = Date.parse('2026-06-01T12:00:00.000Z');
    const rec = createRecorder({ spoolDir: dir, clock: () => now, segment: { maxBytes: 3000 } });
    const s = await rec.openSession(startInfo({ sessionId: 'stepped' }));
    for (let i = 0; i < 12; i++) {
      // An hour back after the first statements: the next segment's name sorts first.
      if (i === 3) now -= 3_600_000;
      const q = await s.statement(stmt(`SELECT ${i}`));
      s.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
      now += 10;
    }
    await s.end(totals());
    await rec.close();
    const names = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));
    expect(names.length).toBeGreaterThan(1);
    // The segment with the lowest number does not come first by name.
    expect([...names].sort()[0]).not.toMatch(/-000001\.jsonl$/);
    const events = (await createReader([dirSource(dir)]).allEvents()).filter(
      (e) => e.session_id === 'stepped',
    );
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(events[0].type).toBe('session_start');
    expect(events.at(-1)?.type).toBe('session_end');
  });
});
