// The one contract every sink passes: file, S3, stdout and custom sinks run these tests.
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLine } from '../event.js';
import { createRecorder } from '../recorder.js';
import { startInfo, stmt, tempDir } from '../testkit.js';
import type { SegmentSource, Sink } from '../types.js';
import { verifyRecording } from '../verify.js';

export interface SinkHarness {
  sink: Sink;
  /** For write-only sinks: everything written so far. */
  captured?: () => Buffer;
  /** Make the backend unavailable, then available again (S3: stop and restart the server). */
  outage?: { stop(): Promise<void>; start(): Promise<void> };
  cleanup?: () => Promise<void>;
}

const seg = (n: number) => `20261122T030000000Z-c0ffee01-${String(n).padStart(6, '0')}.jsonl`;
const bytes = (s: string) => new TextEncoder().encode(s);

function readable(s: Sink): s is Sink & SegmentSource {
  return typeof s.list === 'function' && typeof s.read === 'function';
}

/** Run the sink contract against harnesses from `make` (a fresh backend per test). */
export function sinkContract(label: string, make: () => Promise<SinkHarness>): void {
  describe(`sink contract: ${label}`, () => {
    it('stores segments byte for byte', async () => {
      const h = await make();
      try {
        const payload = bytes('{"a":1}\n{"b":"é"}\n');
        await h.sink.put(seg(1), payload);
        if (readable(h.sink)) {
          expect(await h.sink.list()).toContain(seg(1));
          expect(Buffer.from(await h.sink.read(seg(1)))).toEqual(Buffer.from(payload));
        } else {
          expect(h.captured!().includes(Buffer.from(payload))).toBe(true);
        }
      } finally {
        await h.sink.close?.();
        await h.cleanup?.();
      }
    });

    it('put is idempotent and list is sorted', async () => {
      const h = await make();
      try {
        await h.sink.put(seg(3), bytes('c\n'));
        await h.sink.put(seg(1), bytes('a\n'));
        await h.sink.put(seg(2), bytes('b\n'));
        await h.sink.put(seg(1), bytes('a\n'));
        if (readable(h.sink)) {
          expect(await h.sink.list()).toEqual([seg(1), seg(2), seg(3)]);
          await expect(h.sink.read(seg(9))).rejects.toThrow();
        }
      } finally {
        await h.sink.close?.();
        await h.cleanup?.();
      }
    });

    it('putFile, where the sink has it, stores a sealed file byte for byte', async (ctx) => {
      const h = await make();
      if (!h.sink.putFile) {
        await h.cleanup?.();
        ctx.skip();
        return;
      }
      const spool = await tempDir('putfile');
      try {
        const payload = bytes('{"a":1}\n{"b":"é"}\n');
        const path = join(spool, seg(4));
        await writeFile(path, payload);
        await h.sink.putFile(seg(4), path);
        await h.sink.putFile(seg(4), path);
        // The spool drops its copy once shipped; the sink's stays.
        await unlink(path);
        if (readable(h.sink)) {
          expect(await h.sink.list()).toEqual([seg(4)]);
          expect(Buffer.from(await h.sink.read(seg(4)))).toEqual(Buffer.from(payload));
        } else {
          expect(h.captured!().includes(Buffer.from(payload))).toBe(true);
        }
      } finally {
        await h.sink.close?.();
        await h.cleanup?.();
      }
    });

    it('receives a whole recording that verifies', async () => {
      const h = await make();
      const spool = await tempDir('contract');
      try {
        const rec = createRecorder({
          spoolDir: spool,
          sinks: [h.sink],
          segment: { maxBytes: 5000 },
          retry: { minMs: 20, maxMs: 200 },
        });
        const s = await rec.openSession(startInfo({ sessionId: 'contract' }));
        for (let i = 0; i < 40; i++) await s.statement(stmt(`SELECT ${i}`));
        await s.end({
          statements: 40,
          allowed: 40,
          denied: 0,
          held: 0,
          errors: 0,
          rows: 0,
          duration_ms: 1,
          reason: 'x',
        });
        await rec.close();
        if (readable(h.sink)) {
          const r = await verifyRecording(h.sink);
          expect(r.breaks).toEqual([]);
          expect(r.sealed).toBe(true);
          expect(r.segments).toBeGreaterThan(1);
        } else {
          const lines = h.captured!().toString('utf8').split('\n').filter(Boolean);
          for (const l of lines) expect(checkLine(l).ok).toBe(true);
          const seqs = lines.map((l) => JSON.parse(l)).filter((e) => e.session_id === 'contract');
          expect(seqs.map((e) => e.seq)).toEqual(seqs.map((_, i) => i + 1));
        }
      } finally {
        await h.cleanup?.();
      }
    });

    it('an outage loses nothing and does not stall statements', async (ctx) => {
      const h = await make();
      if (!h.outage) {
        await h.cleanup?.();
        ctx.skip();
        return;
      }
      const spool = await tempDir('outage');
      try {
        const rec = createRecorder({
          spoolDir: spool,
          sinks: [h.sink],
          segment: { maxBytes: 4000 },
          retry: { minMs: 50, maxMs: 400 },
          onAlert: () => undefined,
        });
        const s = await rec.openSession(startInfo({ sessionId: 'outage' }));
        for (let i = 0; i < 30; i++) await s.statement(stmt(`SELECT ${i}`));
        await h.outage.stop();
        let slowest = 0;
        for (let i = 30; i < 90; i++) {
          const t = performance.now();
          await s.statement(stmt(`SELECT ${i}`));
          slowest = Math.max(slowest, performance.now() - t);
        }
        expect(slowest).toBeLessThan(500);
        expect(rec.healthy).toBe(true);
        expect(rec.stats().unshippedBytes).toBeGreaterThan(4000);
        await h.outage.start();
        for (let i = 90; i < 100; i++) await s.statement(stmt(`SELECT ${i}`));
        await s.end({
          statements: 100,
          allowed: 100,
          denied: 0,
          held: 0,
          errors: 0,
          rows: 0,
          duration_ms: 1,
          reason: 'x',
        });
        await rec.close();
        expect(rec.stats().unshippedBytes).toBe(0);
        const src = h.sink as Sink & SegmentSource;
        const r = await verifyRecording(src);
        expect(r.breaks).toEqual([]);
        expect(r.sealed).toBe(true);
        let statements = 0;
        for (const name of await src.list())
          for (const l of Buffer.from(await src.read(name))
            .toString()
            .split('\n')
            .filter(Boolean))
            if (JSON.parse(l).type === 'statement') statements++;
        expect(statements).toBe(100);
      } finally {
        await h.cleanup?.();
      }
    }, 60_000);
  });
}
