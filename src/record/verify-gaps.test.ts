// Fail closed, the spool's backlog (lines queued while the spool cannot be written) is bounded
// by spoolBound. Past it, push() drops events: the outcome and session_end of a statement
// that was already durable and forwarded (it ran), and refused statements' records. The
// recorder says so in a gateway-chain recording_gap with a count. Before, `verify` did not
// look at it and called the recording intact and sealed (exit 0): the statement read as one
// whose gateway crashed before it could answer, the session as never ended. Now each gap is
// reported (GAP, exit 2) and the recording is not sealed.
import { describe, expect, it } from 'vitest';
import { createRecorder } from './recorder.js';
import { dirSource } from './sinks/file.js';
import { nodeSpoolFs } from './spool.js';
import { countingFs, lines, startInfo, stmt, tempDir, totals } from './testkit.js';
import type { SpoolFs } from './types.js';
import { verifyRecording } from './verify.js';

describe('fail closed with the spool backlog over its bound', () => {
  it('verify does not call a recording that lost the outcome of a statement that ran intact and sealed', async () => {
    const dir = await tempDir('backlog-drop');
    const { c, fs } = countingFs();
    const rec = createRecorder({ spoolDir: dir, fs, spoolBound: 20_000, onAlert: () => undefined });
    const a = await rec.openSession(startInfo({ sessionId: 'ran' }));
    // Durable before it is forwarded: the gateway forwards it, PostgreSQL runs it.
    const seq = await a.statement(stmt('UPDATE accounts SET balance = 0'));

    // The disk fills. Another agent's statements are refused by the policy; their records
    // are queued (nothing runs) until the backlog passes the bound.
    c.failWrites = true;
    const b = await rec.openSession(startInfo({ sessionId: 'denied' })).catch(() => undefined);
    const other = b ?? a;
    for (let i = 0; i < 6; i++) {
      other.refused(
        stmt('SELECT ' + 'x'.repeat(8000), { decision: { kind: 'deny', reasons: ['no'] } }),
        {
          outcome: 'refused',
          duration_ms: 0,
        },
      );
      await new Promise((r) => setTimeout(r, 30));
    }
    // The UPDATE's answer comes back, and the client leaves.
    a.result(seq, { outcome: 'ok', duration_ms: 2, rows: 1000, command_tag: 'UPDATE 1000' });
    await a.end(totals({ statements: 1, allowed: 1, rows: 1000 })).catch(() => undefined);

    // The disk is freed: the spool recovers and the recorder closes cleanly.
    c.failWrites = false;
    await expect.poll(() => rec.healthy, { timeout: 5000 }).toBe(true);
    await rec.close();

    const ev = await lines(dir);
    const ran = ev.filter((e) => e.session_id === 'ran');
    const hasResult = ran.some((e) => e.type === 'statement_result' && e.statement_seq === seq);
    const gap = ev.some((e) => e.type === 'recording_gap');
    // What the UPDATE did is in the recording, or the recording says events were lost.
    expect({ hasResult, gap }).not.toEqual({ hasResult: false, gap: false });
    // A recording that lost events is not reported as intact and sealed without a word.
    const v = await verifyRecording(dirSource(dir));
    if (!hasResult) {
      expect(v.sealed).toBe(false);
      expect(v.gaps.reduce((n, g) => n + g.dropped, 0)).toBeGreaterThan(0);
    }
  });

  it('a spool slower than the load, not failing: the events dropped meanwhile are reported too', async () => {
    const dir = await tempDir('backlog-slow');
    let release!: () => void;
    const gate = { held: undefined as Promise<void> | undefined };
    const fs: SpoolFs = {
      ...nodeSpoolFs,
      async open(p, flags) {
        const f = await nodeSpoolFs.open(p, flags);
        return {
          ...f,
          write: async (d) => {
            if (gate.held) await gate.held;
            return f.write(d);
          },
          writeAt: async (d, pos) => {
            if (gate.held) await gate.held;
            return f.writeAt!(d, pos);
          },
        };
      },
    };
    const rec = createRecorder({ spoolDir: dir, fs, spoolBound: 20_000, onAlert: () => undefined });
    const a = await rec.openSession(startInfo({ sessionId: 'slow' }));
    gate.held = new Promise<void>((r) => (release = r));
    for (let i = 0; i < 6; i++)
      a.refused(
        stmt('SELECT ' + 'x'.repeat(8000), { decision: { kind: 'deny', reasons: ['no'] } }),
        {
          outcome: 'refused',
          duration_ms: 0,
        },
      );
    expect(rec.stats().dropped).toBeGreaterThan(0);
    gate.held = undefined;
    release();
    await expect.poll(() => rec.stats().pendingBytes).toBe(0);
    await a.end(totals({ statements: 6, denied: 6 }));
    await rec.close();
    const v = await verifyRecording(dirSource(dir));
    const kept = (await lines(dir)).filter(
      (e) => e.session_id === 'slow' && e.type === 'statement',
    );
    expect(kept.length).toBeLessThan(6);
    // Statements and whatever else was pushed meanwhile (a checkpoint).
    expect(v.gaps.reduce((n, g) => n + g.dropped, 0)).toBeGreaterThanOrEqual(6 - kept.length);
    expect(v.sealed).toBe(false);
  });
});
