// Tamper tests: each edit of a recorded segment is caught and the first broken link named.
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sealLine } from './event.js';
import { createRecorder } from './recorder.js';
import { dirSource, fileSink } from './sinks/file.js';
import { edKeys, startInfo, stmt, tempDir, totals } from './testkit.js';
import { verifyRecording } from './verify.js';
import { verifyCommand } from '../cli/commands/verify.js';

const keys = edKeys();
let base = '';
let segs: string[] = [];

beforeAll(async () => {
  const spool = await tempDir('spool');
  base = await tempDir('sink');
  const rec = createRecorder({
    spoolDir: spool,
    sinks: [fileSink({ dir: base, rotateBytes: 6000 })],
    checkpoint: { signingKey: keys.privateJwk, kid: 't', everyEvents: 4 },
  });
  const a = await rec.openSession(startInfo({ sessionId: 'victim' }));
  const b = await rec.openSession(startInfo({ sessionId: 'bystander' }));
  for (let i = 0; i < 20; i++) {
    const q = await a.statement(stmt(`SELECT ${i} FROM orders`));
    a.result(q, { outcome: 'ok', duration_ms: 1, rows: i, command_tag: 'SELECT ' + i });
    await b.statement(stmt(`SELECT 'b${i}'`));
  }
  await a.end({
    statements: 20,
    allowed: 20,
    denied: 0,
    held: 0,
    errors: 0,
    rows: 0,
    duration_ms: 9,
    reason: 'client_terminate',
  });
  await b.end({
    statements: 20,
    allowed: 20,
    denied: 0,
    held: 0,
    errors: 0,
    rows: 0,
    duration_ms: 9,
    reason: 'client_terminate',
  });
  await rec.close();
  segs = (await readdir(base)).filter((n) => n.endsWith('.jsonl')).sort();
});

async function copy(): Promise<string> {
  const d = await tempDir('tamper');
  await rm(d, { recursive: true });
  await cp(base, d, { recursive: true });
  return d;
}
async function readLines(dir: string, seg: string): Promise<string[]> {
  return (await readFile(join(dir, seg), 'utf8')).split('\n').slice(0, -1);
}
async function writeLines(dir: string, seg: string, lines: string[], newline = true) {
  await writeFile(join(dir, seg), lines.join('\n') + (newline ? '\n' : ''));
}
/** The segment and line index of an event. */
async function find(dir: string, sessionId: string, seq: number) {
  for (const seg of segs) {
    const lines = await readLines(dir, seg);
    const i = lines.findIndex((l) => {
      const e = JSON.parse(l);
      return e.session_id === sessionId && e.seq === seq;
    });
    if (i >= 0) return { seg, lines, i };
  }
  throw new Error('not found');
}
const verify = (dir: string) => verifyRecording(dirSource(dir), { publicKey: keys.publicJwk });

describe('verify', () => {
  it('passes an untouched recording spread over several segments', async () => {
    expect(segs.length).toBeGreaterThanOrEqual(3);
    const r = await verify(base);
    expect(r.breaks).toEqual([]);
    expect(r.sealed).toBe(true);
    expect(r.signedCheckpoints).toBe(r.checkpoints);
    expect(r.chains).toBe(3);
  });

  it('catches an edited field', async () => {
    const d = await copy();
    const { seg, lines, i } = await find(d, 'victim', 10);
    lines[i] = lines[i].replace(/"sql":"[^"]*"/, '"sql":"SELECT 1"');
    await writeLines(d, seg, lines);
    const r = await verify(d);
    expect(r.ok).toBe(false);
    expect(r.breaks[0]).toMatchObject({ session_id: 'victim', seq: 10, segment: seg });
    expect(r.breaks[0].reason).toMatch(/edited/);
  });

  it('catches an edited field whose own hash was recomputed', async () => {
    const d = await copy();
    const { seg, lines, i } = await find(d, 'victim', 10);
    const prefix = lines[i]
      .replace(/"sql":"[^"]*"/, '"sql":"SELECT 1"')
      .replace(/,"hash":"[0-9a-f]{64}"\}$/, '');
    lines[i] = sealLine(prefix).line.trimEnd();
    await writeLines(d, seg, lines);
    const r = await verify(d);
    expect(r.breaks[0]).toMatchObject({ session_id: 'victim', seq: 11 });
    expect(r.breaks[0].reason).toMatch(/prev_hash does not match the hash of seq 10/);
  });

  it('catches a deleted event', async () => {
    const d = await copy();
    const { seg, lines, i } = await find(d, 'victim', 12);
    lines.splice(i, 1);
    await writeLines(d, seg, lines);
    const r = await verify(d);
    // Either the next event or a checkpoint covering seq 12 comes first in the file.
    expect(r.breaks[0]).toMatchObject({ session_id: 'victim', segment: seg });
    expect(r.breaks[0].reason).toMatch(
      /expected seq 12, found seq 13|covers seq 12, but the chain ends at seq 11/,
    );
  });

  it('catches two reordered events', async () => {
    const d = await copy();
    const { seg, lines, i } = await find(d, 'victim', 8);
    const j = lines.findIndex((l, k) => k > i && JSON.parse(l).session_id === 'victim');
    [lines[i], lines[j]] = [lines[j], lines[i]];
    await writeLines(d, seg, lines);
    const r = await verify(d);
    expect(r.breaks[0]).toMatchObject({ session_id: 'victim', seq: 9, segment: seg });
    expect(r.breaks[0].reason).toMatch(/expected seq 8, found seq 9/);
    expect(r.breaks[1]).toMatchObject({ session_id: 'victim', seq: 8 });
    expect(r.breaks[1].reason).toMatch(/out of order/);
  });

  it('reports a truncated tail precisely (final checkpoint and last events removed)', async () => {
    const d = await copy();
    const last = segs.at(-1)!;
    const lines = await readLines(d, last);
    const cut = lines.slice(0, -3);
    await writeLines(d, last, cut);
    const r = await verify(d);
    expect(r.sealed).toBe(false);
    const gw = r.unsealed.find((u) => u.session_id?.startsWith('gateway:'));
    expect(gw?.reason).toMatch(/^torn tail after seq \d+ in segment /);
    // Cutting mid-line leaves a torn line, named with its byte offset.
    await writeFile(join(d, last), lines.join('\n').slice(0, -50));
    const r2 = await verify(d);
    expect(r2.torn[0]).toMatchObject({ segment: last, acknowledged: false });
    expect(r2.torn[0].reason).toMatch(
      /torn tail after seq \d+ of .* in segment .*bytes at offset \d+/,
    );
    expect(r2.sealed).toBe(false);
  });

  it('catches truncation inside the recording (a sealed segment cut short)', async () => {
    const d = await copy();
    const lines = await readLines(d, segs[1]);
    await writeLines(d, segs[1], lines.slice(0, -4));
    const r = await verify(d);
    expect(r.ok).toBe(false);
    expect(r.breaks[0].segment).toBe(segs[2]);
  });

  it('catches a dropped segment', async () => {
    const d = await copy();
    await rm(join(d, segs[1]));
    const r = await verify(d);
    expect(r.ok).toBe(false);
    expect(r.breaks[0]).toMatchObject({ segment: segs[2] });
    expect(r.breaks[0].reason).toMatch(/segment 2 of instance .* is missing/);
  });

  it('catches a dropped first segment unless the recording is declared partial', async () => {
    const d = await copy();
    await rm(join(d, segs[0]));
    const r = await verify(d);
    expect(r.breaks[0]).toMatchObject({ segment: segs[1] });
    expect(r.breaks[0].reason).toMatch(/segments 1\.\.1 of instance \S+ are missing/);
    const p = await verifyRecording(dirSource(d), { publicKey: keys.publicJwk, partial: true });
    expect(p.breaks).toEqual([]);
    expect(p.warnings.join()).toMatch(/starts at segment/);
  });

  it('catches a whole session removed from the recording', async () => {
    const d = await copy();
    for (const seg of segs) {
      const lines = await readLines(d, seg);
      await writeLines(
        d,
        seg,
        lines.filter((l) => JSON.parse(l).session_id !== 'bystander'),
      );
    }
    const r = await verify(d);
    expect(r.breaks[0]).toMatchObject({ session_id: 'bystander' });
    expect(r.breaks[0].reason).toMatch(/no event of that chain precedes it/);
  });

  it('notices a dropped last segment as an unsealed tail', async () => {
    const d = await copy();
    await rm(join(d, segs.at(-1)!));
    const r = await verify(d);
    expect(r.sealed).toBe(false);
    expect(r.unsealed.length + r.breaks.length).toBeGreaterThan(0);
  });

  it('catches a forged checkpoint signature and an unsigned checkpoint', async () => {
    const d = await copy();
    const lines = await readLines(d, segs[0]);
    const i = lines.findIndex((l) => l.includes('"type":"checkpoint"'));
    const forged = lines[i]
      .replace(/"sig":"[^"]+"/, '"sig":null')
      .replace(/,"hash":"[0-9a-f]{64}"\}$/, '');
    lines[i] = sealLine(forged).line.trimEnd();
    await writeLines(d, segs[0], lines);
    const r = await verify(d);
    expect(r.breaks[0].reason).toMatch(/not signed/);
  });
});

describe('verify against a forger without the key', () => {
  it('catches a field added after a checkpoint signature (a tail cut at a checkpoint marked final)', async () => {
    const d = await copy();
    // The last checkpoint that is not the final one: cut the recording after it, and mark it
    // final where the signature does not reach (JSON.parse keeps the last "final").
    const checkpoint = (l: string) =>
      l.includes('"type":"checkpoint"') && l.includes('"final":false');
    let k = segs.length - 1;
    while (!(await readLines(d, segs[k])).some(checkpoint)) await rm(join(d, segs[k--]));
    const lines = await readLines(d, segs[k]);
    const i = lines.length - 1 - [...lines].reverse().findIndex(checkpoint);
    const prefix = lines[i].replace(/,"hash":"[0-9a-f]{64}"\}$/, '') + ',"final":true';
    await writeLines(d, segs[k], [...lines.slice(0, i), sealLine(prefix).line.trimEnd()]);
    const r = await verify(d);
    expect(r.sealed).toBe(false);
    expect(r.breaks[0].reason).toBe('checkpoint has content after its signature');
  });

  it('calls nothing sealed when the segments hold no event', async () => {
    const d = await copy();
    for (const seg of segs) await writeFile(join(d, seg), '');
    const r = await verify(d);
    expect(r.events).toBe(0);
    expect(r.sealed).toBe(false);
    await writeFile(join(d, segs[0]), Buffer.alloc(4096));
    expect((await verify(d)).sealed).toBe(false);
  });
});

describe('verify across restarts', () => {
  async function twoRuns() {
    const spool = await tempDir('runs');
    for (let run = 0; run < 2; run++) {
      const rec = createRecorder({ spoolDir: spool, checkpoint: { signingKey: keys.privateJwk } });
      const s = await rec.openSession(startInfo({ sessionId: 'run-' + run }));
      await s.statement(stmt());
      await s.end({
        statements: 1,
        allowed: 1,
        denied: 0,
        held: 0,
        errors: 0,
        rows: 0,
        duration_ms: 1,
        reason: 'x',
      });
      await rec.close();
    }
    return spool;
  }

  it('links runs: the gateway chain continues after a clean stop', async () => {
    const spool = await twoRuns();
    const names = (await readdir(spool)).filter((n) => n.endsWith('.jsonl')).sort();
    expect(names).toHaveLength(2);
    const second = JSON.parse((await readLines(spool, names[1]))[0]);
    expect(second).toMatchObject({
      type: 'segment_start',
      reason: 'start',
      prev_segment: names[0],
    });
    expect(second.seq).toBeGreaterThan(1);
    const r = await verify(spool);
    expect(r.breaks).toEqual([]);
    expect(r.sealed).toBe(true);
  });

  it("catches a run's final checkpoint cut off when a later run follows", async () => {
    const spool = await twoRuns();
    const names = (await readdir(spool)).filter((n) => n.endsWith('.jsonl')).sort();
    const lines = await readLines(spool, names[0]);
    await writeLines(spool, names[0], lines.slice(0, -1));
    const r = await verify(spool);
    expect(r.breaks[0]).toMatchObject({ segment: names[1] });
    expect(r.breaks[0].reason).toMatch(/expected seq|final checkpoint/);
  });
});

describe('verify after a recovery', () => {
  const recorder = (spool: string) =>
    createRecorder({
      spoolDir: spool,
      checkpoint: { signingKey: keys.privateJwk, everyEvents: 3 },
    });

  it('calls a run rewritten before the next start (checkpoints deleted, hashes recomputed) unsigned, not sealed', async () => {
    const spool = await tempDir('rewritten');
    const rec = recorder(spool);
    const s = await rec.openSession(startInfo({ sessionId: 'victim' }));
    for (const sql of ['DROP TABLE orders', 'SELECT 1', 'SELECT 2', 'SELECT 3']) {
      const q = await s.statement(stmt(sql, { command: 'X' }));
      s.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'X' });
    }
    await s.end(totals());
    await rec.close();
    const [seg] = (await readdir(spool)).filter((n) => n.endsWith('.jsonl'));
    // Without the key: every checkpoint goes, the DROP becomes a SELECT, every hash is
    // recomputed (the gateway chain's too).
    const prev = new Map<string, string>();
    const forged = (await readLines(spool, seg))
      .filter((l) => !l.includes('"type":"checkpoint"'))
      .map((l) => {
        const ev = JSON.parse(l) as { session_id: string };
        let prefix = l
          .replace(/,"hash":"[0-9a-f]{64}"\}$/, '')
          .replace('DROP TABLE', 'SELECT 0 FROM');
        const p = prev.get(ev.session_id);
        if (p) prefix = prefix.replace(/"prev_hash":"[0-9a-f]{64}"/, `"prev_hash":"${p}"`);
        const { line, hash } = sealLine(prefix);
        prev.set(ev.session_id, hash);
        return line.trimEnd();
      });
    await writeLines(spool, seg, forged);
    // A routine restart and stop seals what it finds with its own signed checkpoints.
    await recorder(spool).close();
    const r = await verify(spool);
    expect(r.breaks).toEqual([]);
    expect(r.unsealed).toEqual([]);
    expect(r.sealed).toBe(false);
    const victim = r.recovered.find((u) => u.session_id === 'victim');
    expect(victim).toMatchObject({ seq: 1, last_seq: 10, events: 10 });
    expect(victim!.reason).toMatch(/were never signed/);
    // The previous run's gateway events (its segment_start) are unsigned too.
    expect(r.recovered.some((u) => u.session_id?.startsWith('gateway:'))).toBe(true);
    let shown = '';
    const out = (t: string) => void (shown += t);
    expect(await verifyCommand(['--dir', spool], { out, publicKey: keys.publicJwk })).toBe(3);
    expect(shown).toMatch(/RECOVERED UNSIGNED: victim: seq 1\.\.10 \(10 events/);
  });

  it('catches bytes that are not UTF-8 (the same text as U+FFFD)', async () => {
    const spool = await tempDir('utf8');
    const rec = recorder(spool);
    const s = await rec.openSession(startInfo({ sessionId: 'u' }));
    await s.statement(stmt("SELECT 'x\uFFFDy' FROM orders"));
    await s.end(totals());
    await rec.close();
    expect((await verify(spool)).sealed).toBe(true);
    const [seg] = (await readdir(spool)).filter((n) => n.endsWith('.jsonl'));
    const b = await readFile(join(spool, seg));
    const i = b.indexOf(Buffer.from([0xef, 0xbf, 0xbd]));
    await writeFile(
      join(spool, seg),
      Buffer.concat([b.subarray(0, i), Buffer.from([0xff]), b.subarray(i + 3)]),
    );
    const r = await verify(spool);
    expect(r.breaks[0]?.reason).toBe('line is not valid UTF-8 (its bytes were changed)');
  });
});
