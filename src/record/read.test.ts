// The reader over a recording spread across many segments: summaries merged across
// segments, one session's events read from the segments that hold it.
import { beforeAll, describe, expect, it } from 'vitest';
import { createReader } from './read.js';
import { createRecorder } from './recorder.js';
import { dirSource, fileSink } from './sinks/file.js';
import { startInfo, stmt, tempDir, totals } from './testkit.js';
import type { SegmentSource } from './types.js';

let dir = '';

beforeAll(async () => {
  const spool = await tempDir('read-spool');
  dir = await tempDir('read-sink');
  const rec = createRecorder({ spoolDir: spool, sinks: [fileSink({ dir, rotateBytes: 4000 })] });
  const a = await rec.openSession(startInfo({ sessionId: 'long' }));
  for (let i = 0; i < 30; i++) {
    const q = await a.statement(stmt(`SELECT ${i} FROM orders`));
    a.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
  }
  const b = await rec.openSession(startInfo({ sessionId: 'short' }));
  await b.statement(stmt('DELETE FROM orders', { decision: { kind: 'deny', reasons: ['no'] } }));
  await a.end(totals({ statements: 30, allowed: 30, rows: 30 }));
  await rec.close();
});

/** A source that counts the segments read. */
function counting(): SegmentSource & { reads: string[] } {
  const inner = dirSource(dir);
  const reads: string[] = [];
  return { name: inner.name, list: inner.list, read: (s) => (reads.push(s), inner.read(s)), reads };
}

describe('createReader', () => {
  it('merges a session spread over several segments, the same when read again', async () => {
    const reader = createReader([dirSource(dir)]);
    for (let round = 0; round < 2; round++) {
      const long = (await reader.listSessions()).find((s) => s.session_id === 'long')!;
      expect(long.segments.length).toBeGreaterThan(3);
      expect(long).toMatchObject({
        statements: 30,
        decisions: { allow: 30, deny: 0, approval: 0 },
        end_reason: 'client_terminate',
        client_addr: '127.0.0.1:50000',
      });
      const events = (await reader.sessionEvents('long'))!;
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.filter((e) => e.type === 'statement')).toHaveLength(30);
    }
  });

  it('reads one session from the segments that hold it once they are summarised', async () => {
    const source = counting();
    const reader = createReader([source]);
    const sessions = await reader.listSessions();
    const short = sessions.find((s) => s.session_id === 'short')!;
    source.reads.length = 0;
    expect((await reader.sessionEvents('short'))?.map((e) => e.type)).toContain('statement');
    const all = (await source.list()).length;
    expect(source.reads.length).toBeLessThan(all);
    for (const seg of short.segments) expect(source.reads).toContain(seg);
  });
});
