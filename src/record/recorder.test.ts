// Recorder: chains, checkpoints, group commit, fail closed / open, recovery from a torn tail.
import { readFileSync } from 'node:fs';
import { readFile, readdir, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compactVerify } from 'jose';
import { checkLine } from './event.js';
import { createRecorder } from './recorder.js';
import { createReader } from './read.js';
import { dirSource, fileSink } from './sinks/file.js';
import { nodeSpoolFs } from './spool.js';
import { dataEnd } from './segment.js';
import {
  alice,
  countingFs,
  edKeys,
  leaveDeadLock,
  lines,
  startInfo,
  stmt,
  tempDir,
} from './testkit.js';
import { RecordingUnavailable, type SpoolFs } from './types.js';
import { verifyRecording } from './verify.js';
import { createSigner, verifyKey } from './sign.js';

const totals = {
  statements: 1,
  allowed: 1,
  denied: 0,
  held: 0,
  errors: 0,
  rows: 1,
  duration_ms: 3,
  reason: 'client_terminate',
};

describe('recorder', () => {
  it('chains every event of a session and joins results by statement_seq', async () => {
    const dir = await tempDir();
    const rec = createRecorder({ spoolDir: dir });
    const s = await rec.openSession(startInfo({ sessionId: 's-1' }));
    const seq = await s.statement(stmt());
    s.result(seq, { outcome: 'ok', duration_ms: 1.5, rows: 1, command_tag: 'SELECT 1' });
    await s.event('mask_applied', { columns: ['email'], masker: 'hash' });
    await s.end(totals);
    await rec.close();
    const evs = (await lines(dir)).filter((e) => e.session_id === 's-1');
    expect(evs.map((e) => e.type)).toEqual([
      'session_start',
      'statement',
      'statement_result',
      'mask_applied',
      'session_end',
    ]);
    expect(evs.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    for (let i = 1; i < evs.length; i++) expect(evs[i].prev_hash).toBe(evs[i - 1].hash);
    for (const e of evs) {
      expect(e.sub).toBe('alice');
      expect(e.groups).toEqual(['analysts']);
      expect(e.agent).toBe('report-bot');
      expect(e.on_behalf_of).toBe('bob');
      expect(e.auth_method).toBe('jwt');
    }
    expect(evs[2].statement_seq).toBe(seq);
    expect(evs[1]).toMatchObject({ decision: 'allow', params: ['42'], policy_version: 'p1' });
    const report = await verifyRecording(dirSource(dir));
    expect(report.breaks).toEqual([]);
    expect(report.sealed).toBe(true);
  });

  it('signs checkpoints with the configured key (jose verifies them)', async () => {
    const dir = await tempDir();
    const k = edKeys();
    const rec = createRecorder({
      spoolDir: dir,
      checkpoint: { signingKey: k.privateJwk, kid: 'rec-1', everyEvents: 3 },
    });
    const s = await rec.openSession(startInfo());
    for (let i = 0; i < 7; i++) await s.statement(stmt());
    await s.end(totals);
    await rec.close();
    const raw = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));
    const text = await readFile(join(dir, raw[0]), 'utf8');
    const cps = text.split('\n').filter((l) => l.includes('"type":"checkpoint"'));
    expect(cps.length).toBeGreaterThanOrEqual(3);
    const last = JSON.parse(cps.at(-1)!);
    expect(last.final).toBe(true);
    const { protectedHeader } = await compactVerify(last.sig, verifyKey(k.publicJwk));
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', kid: 'rec-1' });
    for (const l of cps) expect(checkLine(l).ok).toBe(true);
    const report = await verifyRecording(dirSource(dir), { publicKey: k.publicJwk });
    expect(report.breaks).toEqual([]);
    expect(report.signedCheckpoints).toBe(cps.length);
    expect(report.sealed).toBe(true);
    // A different key: every checkpoint signature fails.
    const other = await verifyRecording(dirSource(dir), { publicKey: edKeys().publicJwk });
    expect(other.ok).toBe(false);
    expect(other.breaks[0].reason).toMatch(/signature invalid/);
  });

  it('signs with EC P-256 and PEM keys too', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const signer = createSigner(pem, 'k');
    expect(signer.alg).toBe('ES256');
    const jws = signer.sign('abc');
    const { payload } = await compactVerify(jws, verifyKey(signer.publicJwk));
    expect(new TextDecoder().decode(payload)).toBe('abc');
  });

  it('group-commits concurrent appends from many sessions: one write and one fdatasync', async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const rec = createRecorder({ spoolDir: dir, fs, syncMethod: 'fdatasync' });
    const sessions = await Promise.all(
      Array.from({ length: 8 }, (_, i) => rec.openSession(startInfo({ sessionId: 'g' + i }))),
    );
    const before = { ...c };
    const seqs = await Promise.all(
      sessions.flatMap((s) => Array.from({ length: 25 }, () => s.statement(stmt()))),
    );
    expect(seqs).toHaveLength(200);
    expect(c.writes - before.writes).toBe(1);
    expect(c.syncs - before.syncs).toBe(1);
    // While a batch is in flight, the next appends gather into the following batch.
    const b2 = { ...c };
    const first = sessions[0].statement(stmt());
    await new Promise((r) => setImmediate(r));
    const more = sessions.map((s) => s.statement(stmt()));
    await Promise.all([first, ...more]);
    expect(c.syncs - b2.syncs).toBeLessThanOrEqual(2);
    await rec.close();
    expect((await verifyRecording(dirSource(dir))).ok).toBe(true);
  });

  it('group-commits with O_DSYNC by default: one durable write per batch, no fdatasync', async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const flags: Array<string | number> = [];
    const rec = createRecorder({
      spoolDir: dir,
      fs: { ...fs, open: (p, f) => (flags.push(f), fs.open(p, f)) },
    });
    const sessions = await Promise.all(
      Array.from({ length: 8 }, (_, i) => rec.openSession(startInfo({ sessionId: 'd' + i }))),
    );
    const before = { ...c };
    await Promise.all(
      sessions.flatMap((s) => Array.from({ length: 25 }, () => s.statement(stmt()))),
    );
    expect(c.writes - before.writes).toBe(1);
    expect(c.syncs - before.syncs).toBe(0);
    const { constants } = await import('node:fs');
    expect(typeof flags[0] === 'number' && (flags[0] & constants.O_DSYNC) !== 0).toBe(true);
    await rec.close();
    expect((await verifyRecording(dirSource(dir))).ok).toBe(true);
  });

  it("'write' durability resolves without an fdatasync per batch", async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const rec = createRecorder({ spoolDir: dir, fs, durability: 'write', syncIntervalMs: 60_000 });
    const s = await rec.openSession(startInfo());
    const syncs = c.syncs;
    for (let i = 0; i < 10; i++) await s.statement(stmt());
    expect(c.syncs).toBe(syncs);
    expect(c.writes).toBeGreaterThanOrEqual(10);
    await rec.close();
  });

  it.each(['fsync', 'write'] as const)(
    "'%s' durability: a result rides along with the next statement's write",
    async (durability) => {
      const dir = await tempDir();
      const { c, fs } = countingFs();
      const rec = createRecorder({
        spoolDir: dir,
        fs,
        durability,
        syncIntervalMs: 60_000,
        checkpoint: { everyEvents: 1e9, everyMs: 1e9 },
      });
      const s = await rec.openSession(startInfo({ sessionId: 'lazy' }));
      const seq = await s.statement(stmt('SELECT 1'));
      const before = c.writes;
      s.result(seq, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
      // A turn later, as when the client's next statement arrives.
      await new Promise((r) => setImmediate(r));
      await s.statement(stmt('SELECT 2'));
      expect(c.writes - before).toBe(1);
      // A result with no statement after it is still written, shortly.
      s.result(seq + 2, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
      await expect
        .poll(async () => (await lines(dir)).filter((e) => e.type === 'statement_result').length)
        .toBe(2);
      await rec.close();
      expect((await verifyRecording(dirSource(dir))).breaks).toEqual([]);
    },
  );

  it("'write' durability writes the statements of a loop turn, every session's, in one write before their seqs come back", async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const rec = createRecorder({ spoolDir: dir, fs, durability: 'write', syncIntervalMs: 60_000 });
    const a = await rec.openSession(startInfo({ sessionId: 'wa' }));
    const b = await rec.openSession(startInfo({ sessionId: 'wb' }));
    await new Promise((r) => setImmediate(r));
    const before = { writes: c.writes, syncWrites: c.syncWrites };
    const ra = a.statements([stmt('SELECT 1'), stmt('SELECT 2')]);
    const rb = b.statements([stmt('SELECT 3')]);
    expect(Array.isArray(ra) || Array.isArray(rb)).toBe(false);
    const segment = join(
      dir,
      (await readdir(dir)).find((n) => n.endsWith('.jsonl'))!,
    );
    // Nothing is forwarded before its record is in the file: when the seqs come back, a
    // kill -9 loses nothing.
    const seen = await Promise.all(
      [ra, rb].map(async (r) => ({ seqs: await r, text: readFileSync(segment, 'utf8') })),
    );
    expect(seen.map((x) => x.seqs)).toEqual([[2, 3], [2]]);
    for (const x of seen) {
      for (const sql of ['SELECT 1', 'SELECT 2', 'SELECT 3']) expect(x.text).toContain(sql);
    }
    // One synchronous write, with no thread-pool hop, carried all three.
    expect(c.syncWrites - before.syncWrites).toBe(1);
    expect(c.writes - before.writes).toBe(1);
    await rec.close();
  });

  it.each(['fsync', 'write', 'off'] as const)(
    "'%s' durability: lines longer than the spool's buffer and multi-byte text are written whole and verify",
    async (durability) => {
      const dir = await tempDir();
      const rec = createRecorder({ spoolDir: dir, durability, syncIntervalMs: 60_000 });
      const a = await rec.openSession(startInfo({ sessionId: 'big-a' }));
      const b = await rec.openSession(startInfo({ sessionId: 'big-b' }));
      // The segment is open ('off' opens it a turn after its first line).
      await new Promise((r) => setTimeout(r, 20));
      const sqls = [
        "SELECT 'h\u00e9llo \u20ac \u{1F600}'",
        "SELECT '" + 'x'.repeat(300_000) + "'",
        "SELECT '" + '\u20ac'.repeat(100_000) + "'",
        'SELECT 1',
      ];
      // One loop turn's lines, both sessions', far more than one buffer holds.
      const written = await Promise.all(
        [...sqls, ...sqls].map((sql, i) => {
          const s = i % 2 ? b : a;
          return s
            .statement(stmt(sql, { params: ['\u00fc'.repeat(i * 1000)] }))
            .then((seq) =>
              s.result(seq, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' }),
            );
        }),
      );
      expect(written).toHaveLength(8);
      await rec.close();
      const evs = (await lines(dir)).filter((e) => e.type === 'statement');
      expect(evs.map((e) => [e.session_id, e.sql, e.params])).toEqual(
        [...sqls, ...sqls].map((sql, i) => [
          i % 2 ? 'big-b' : 'big-a',
          sql,
          ['\u00fc'.repeat(i * 1000)],
        ]),
      );
      const report = await verifyRecording(dirSource(dir));
      expect(report.breaks).toEqual([]);
      expect(report.sealed).toBe(true);
    },
  );

  it("'write' durability fails closed when the synchronous write fails, and recovers", async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const rec = createRecorder({
      spoolDir: dir,
      fs,
      durability: 'write',
      syncIntervalMs: 60_000,
      onAlert: () => undefined,
    });
    const s = await rec.openSession(startInfo({ sessionId: 'wf' }));
    await s.statements([stmt('SELECT 1')]);
    c.failWrites = true;
    const failed = s.statements([stmt('SELECT 2')]);
    expect(Array.isArray(failed)).toBe(false);
    await expect(failed).rejects.toBeInstanceOf(RecordingUnavailable);
    c.failWrites = false;
    await expect.poll(() => rec.healthy, { timeout: 5000 }).toBe(true);
    await s.statement(stmt('SELECT 3'));
    await rec.close();
    const evs = (await lines(dir)).filter((e) => e.session_id === 'wf');
    expect(evs.map((e) => e.sql).filter(Boolean)).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
    expect((await verifyRecording(dirSource(dir))).breaks).toEqual([]);
  });

  it('fails closed when the spool cannot be written, and recovers', async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const alerts: string[] = [];
    const rec = createRecorder({ spoolDir: dir, fs, onAlert: (m) => alerts.push(m) });
    const s = await rec.openSession(startInfo({ sessionId: 'fc' }));
    await s.statement(stmt());
    c.failWrites = true;
    await expect(s.statement(stmt('SELECT 2'))).rejects.toBeInstanceOf(RecordingUnavailable);
    expect(rec.healthy).toBe(false);
    await expect(s.statement(stmt('SELECT 3'))).rejects.toBeInstanceOf(RecordingUnavailable);
    expect(alerts.some((a) => /refused/.test(a))).toBe(true);
    c.failWrites = false;
    await expect.poll(() => rec.healthy, { timeout: 5000 }).toBe(true);
    await s.statement(stmt('SELECT 4'));
    await rec.close();
    const evs = (await lines(dir)).filter((e) => e.session_id === 'fc');
    // The refused statement's record is kept (it was decided), the gated one never assigned a seq.
    expect(evs.map((e) => e.sql).filter(Boolean)).toEqual([
      'SELECT * FROM orders WHERE id = $1',
      'SELECT 2',
      'SELECT 4',
    ]);
    const report = await verifyRecording(dirSource(dir));
    expect(report.breaks).toEqual([]);
  });

  it('fails closed when the spool path is a file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    const rec = createRecorder({ spoolDir: file, onAlert: () => undefined });
    await expect(rec.openSession(startInfo())).rejects.toBeInstanceOf(RecordingUnavailable);
    expect(rec.healthy).toBe(false);
    await rec.close();
  });

  it('fails open when configured: statements resolve, a loud alert is raised', async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const alerts: string[] = [];
    const rec = createRecorder({
      spoolDir: dir,
      fs,
      failOpen: true,
      onAlert: (m) => alerts.push(m),
    });
    const s = await rec.openSession(startInfo());
    c.failWrites = true;
    await expect(s.statement(stmt('SELECT 2'))).resolves.toBeTypeOf('number');
    await expect(s.statement(stmt('SELECT 3'))).resolves.toBeTypeOf('number');
    expect(alerts.some((a) => /fail-open.*UNRECORDED/.test(a))).toBe(true);
    c.failWrites = false;
    await expect.poll(() => rec.healthy, { timeout: 5000 }).toBe(true);
    await rec.close();
    expect((await verifyRecording(dirSource(dir))).ok).toBe(true);
  });

  it('reports unhealthy when the unshipped backlog passes the spool bound', async () => {
    const dir = await tempDir();
    const never = { name: 'down', put: async () => Promise.reject(new Error('down')) };
    const rec = createRecorder({
      spoolDir: dir,
      sinks: [never],
      spoolBound: 4000,
      segment: { maxBytes: 1500 },
      retry: { minMs: 10_000 },
      onAlert: () => undefined,
    });
    const s = await rec.openSession(startInfo());
    let refused = 0;
    for (let i = 0; i < 20; i++) await s.statement(stmt()).catch(() => refused++);
    expect(refused).toBeGreaterThan(0);
    expect(rec.healthy).toBe(false);
  });

  it('recovers from a torn last line: keeps it, records it, continues in a new segment', async () => {
    const dir = await tempDir();
    const k = edKeys();
    const rec = createRecorder({
      spoolDir: dir,
      checkpoint: { signingKey: k.privateJwk, everyEvents: 2 },
    });
    const s = await rec.openSession(startInfo({ sessionId: 'torn' }));
    for (let i = 0; i < 5; i++) await s.statement(stmt('SELECT ' + i));
    // Simulate a crash: no close(); the last line half written. The segment is zero-filled
    // ahead of its data, so a torn write leaves the line's head followed by NULs.
    const seg = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'))[0];
    const bytes = await readFile(join(dir, seg));
    const end = dataEnd(bytes);
    expect(bytes.length).toBeGreaterThan(end);
    bytes.fill(0, end - 40, end);
    await writeFile(join(dir, seg), bytes);
    leaveDeadLock(dir);
    const size = end;
    const before = await verifyRecording(dirSource(dir), { publicKey: k.publicJwk });
    expect(before.torn).toHaveLength(1);
    expect(before.torn[0].reason).toMatch(
      new RegExp(`torn tail after seq \\d+ of .* in segment ${seg}`),
    );
    expect(before.sealed).toBe(false);

    const alerts: Array<[string, Record<string, unknown>]> = [];
    const rec2 = createRecorder({
      spoolDir: dir,
      checkpoint: { signingKey: k.privateJwk },
      onAlert: (m, f) => alerts.push([m, f]),
    });
    const s2 = await rec2.openSession(startInfo({ sessionId: 'after' }));
    await s2.statement(stmt());
    await s2.end(totals);
    await rec2.close();
    expect(alerts.find(([m]) => /unclean/.test(m))?.[1]).toMatchObject({
      torn: { segment: seg },
      interrupted_sessions: ['torn'],
    });
    const segs = (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort();
    expect(segs).toHaveLength(2);
    expect((await stat(join(dir, seg))).size).toBe(size - 40);
    const after = await verifyRecording(dirSource(dir), { publicKey: k.publicJwk });
    expect(after.breaks).toEqual([]);
    expect(after.torn).toHaveLength(1);
    expect(after.torn[0].acknowledged).toBe(true);
    // A run that ended without its final checkpoint is never sealed: a crash reads the
    // same as a tail cut back to a checkpoint (see verify-truncated-run-recovered.test.ts).
    expect(after.sealed).toBe(false);
    expect(after.recovered.map((u) => u.reason)).toEqual([
      expect.stringMatching(/ended without its final checkpoint/),
    ]);
  });

  it('rejects reserved event types and identity stays on gateway events', async () => {
    const dir = await tempDir();
    const rec = createRecorder({ spoolDir: dir });
    const s = await rec.openSession(startInfo());
    await expect(s.event('checkpoint', {})).rejects.toThrow(/reserved/);
    await expect(rec.gatewayEvent('checkpoint', {})).rejects.toThrow(/reserved/);
    await rec.gatewayEvent('auth_failure', {
      sub: 'mallory',
      client_addr: '10.0.0.9',
      reason: 'expired token',
    });
    await rec.gatewayEvent('config_reload', { version: 'abc', ok: true });
    await rec.close();
    const evs = await lines(dir);
    expect(evs.find((e) => e.type === 'auth_failure')).toMatchObject({
      sub: 'mallory',
      groups: [],
      agent: null,
      client_addr: '10.0.0.9',
    });
    expect(evs.find((e) => e.type === 'config_reload')).toMatchObject({
      sub: null,
      version: 'abc',
    });
    void alice;
  });

  it('rotates segments by size; verify follows chains across segments', async () => {
    const dir = await tempDir();
    const out = await tempDir('out');
    const rec = createRecorder({
      spoolDir: dir,
      sinks: [fileSink({ dir: out, rotateBytes: 3000 })],
    });
    const s = await rec.openSession(startInfo());
    for (let i = 0; i < 30; i++) await s.statement(stmt());
    await s.end(totals);
    await rec.close();
    const segs = (await readdir(out)).filter((n) => n.endsWith('.jsonl'));
    expect(segs.length).toBeGreaterThan(5);
    const report = await verifyRecording(dirSource(out));
    expect(report.breaks).toEqual([]);
    expect(report.sealed).toBe(true);
    // The spool keeps only the newest segments once every sink has them.
    expect((await readdir(dir)).filter((n) => n.endsWith('.jsonl')).length).toBeLessThanOrEqual(2);
  });
});

describe('zero fill of the active segment', () => {
  it('fills ahead of the data, readers stop at the fill, and sealing cuts it', async () => {
    const dir = await tempDir();
    const k = edKeys();
    const { c, fs } = countingFs();
    const rec = createRecorder({ spoolDir: dir, fs, checkpoint: { signingKey: k.privateJwk } });
    const s = await rec.openSession(startInfo({ sessionId: 'filled' }));
    for (let i = 0; i < 10; i++) await s.statement(stmt('SELECT ' + i));
    const seg = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'))[0];
    await expect.poll(async () => (await stat(join(dir, seg))).size).toBeGreaterThan(1 << 20);
    expect(c.fills).toBeGreaterThan(0);
    // The live spool reads as its data: every statement, nothing torn, no break.
    const live = await verifyRecording(dirSource(dir), { publicKey: k.publicJwk });
    expect(live.breaks).toEqual([]);
    expect(live.torn).toEqual([]);
    const events = (await createReader([dirSource(dir)]).sessionEvents('filled')) ?? [];
    expect(events.filter((e) => e.type === 'statement')).toHaveLength(10);
    await s.end(totals);
    await rec.close();
    const bytes = await readFile(join(dir, seg));
    expect(bytes.at(-1)).toBe(10);
    expect(bytes.includes(0)).toBe(false);
    const sealed = await verifyRecording(dirSource(dir), { publicKey: k.publicJwk });
    expect(sealed.sealed).toBe(true);
  });

  it('goes on without the fill when it cannot be written', async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    c.failFills = true;
    const rec = createRecorder({ spoolDir: dir, fs, onAlert: () => undefined });
    const s = await rec.openSession(startInfo({ sessionId: 'nofill' }));
    for (let i = 0; i < 10; i++) await s.statement(stmt('SELECT ' + i));
    expect(rec.healthy).toBe(true);
    await s.end(totals);
    await rec.close();
    const sqls = (await lines(dir)).filter((e) => e.sql).map((e) => e.sql);
    expect(sqls).toEqual(Array.from({ length: 10 }, (_, i) => 'SELECT ' + i));
    expect((await verifyRecording(dirSource(dir))).breaks).toEqual([]);
  });

  it('cuts the fill a crashed run left, and never a byte of its lines', async () => {
    const dir = await tempDir();
    const rec = createRecorder({ spoolDir: dir });
    const s = await rec.openSession(startInfo({ sessionId: 'crashed' }));
    for (let i = 0; i < 5; i++) await s.statement(stmt('SELECT ' + i));
    // No close(): the segment keeps its fill, as after kill -9.
    const seg = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'))[0];
    await expect.poll(async () => (await stat(join(dir, seg))).size).toBeGreaterThan(1 << 20);
    const end = dataEnd(await readFile(join(dir, seg)));
    leaveDeadLock(dir);
    const rec2 = createRecorder({ spoolDir: dir, onAlert: () => undefined });
    await rec2.openSession(startInfo({ sessionId: 'next' }));
    await rec2.close();
    const bytes = await readFile(join(dir, seg));
    expect(bytes.length).toBe(end);
    expect(bytes.at(-1)).toBe(10);
    const report = await verifyRecording(dirSource(dir));
    expect(report.breaks).toEqual([]);
    expect(report.torn).toEqual([]);
  });
});

describe('recorder after close', () => {
  it('refuses new events instead of writing after the final checkpoint', async () => {
    const dir = await tempDir();
    const rec = createRecorder({ spoolDir: dir });
    const s = await rec.openSession(startInfo());
    await rec.close();
    await expect(s.statement(stmt())).rejects.toBeInstanceOf(RecordingUnavailable);
    s.result(1, { outcome: 'ok', duration_ms: 1 });
    await expect(rec.openSession(startInfo())).rejects.toBeInstanceOf(RecordingUnavailable);
    await new Promise((r) => setTimeout(r, 20));
    const report = await verifyRecording(dirSource(dir));
    expect(report.breaks).toEqual([]);
    expect(report.sealed).toBe(true);
  });
});

describe('spool failures on a real file system', () => {
  it('refuses statements when the spool directory is replaced by a file, and recovers', async () => {
    const { rm, mkdir } = await import('node:fs/promises');
    const dir = await tempDir();
    const spool = join(dir, 'spool');
    const rec = createRecorder({
      spoolDir: spool,
      segment: { maxBytes: 2500 },
      onAlert: () => undefined,
    });
    const s = await rec.openSession(startInfo({ sessionId: 'fsfail' }));
    await s.statement(stmt());
    await rm(spool, { recursive: true });
    await writeFile(spool, 'not a directory');
    let refused = 0;
    for (let i = 0; i < 20 && !refused; i++) await s.statement(stmt()).catch(() => refused++);
    expect(refused).toBe(1);
    expect(rec.healthy).toBe(false);
    await expect(s.statement(stmt())).rejects.toBeInstanceOf(RecordingUnavailable);
    await rm(spool);
    await mkdir(spool);
    await expect.poll(() => rec.healthy, { timeout: 5000 }).toBe(true);
    await expect(s.statement(stmt('SELECT after'))).resolves.toBeTypeOf('number');
    await rec.close();
    const evs = await lines(spool);
    expect(evs.some((e) => e.sql === 'SELECT after')).toBe(true);
  });

  it('rewrites a batch whose fdatasync failed instead of duplicating it', async () => {
    const dir = await tempDir();
    let failSync = false;
    const fs: SpoolFs = {
      ...nodeSpoolFs,
      async open(p, flags) {
        const f = await nodeSpoolFs.open(p, flags);
        return {
          write: (d) => f.write(d),
          datasync: async () => {
            if (failSync) throw Object.assign(new Error('EIO: injected fsync'), { code: 'EIO' });
            return f.datasync();
          },
          truncate: (n) => f.truncate(n),
          close: () => f.close(),
        };
      },
    };
    const rec = createRecorder({
      spoolDir: dir,
      fs,
      syncMethod: 'fdatasync',
      onAlert: () => undefined,
    });
    const s = await rec.openSession(startInfo({ sessionId: 'syncfail' }));
    await s.statement(stmt('SELECT 1'));
    failSync = true;
    await expect(s.statement(stmt('SELECT 2'))).rejects.toBeInstanceOf(RecordingUnavailable);
    failSync = false;
    await expect.poll(() => rec.healthy, { timeout: 5000 }).toBe(true);
    await s.statement(stmt('SELECT 3'));
    await rec.close();
    const sqls = (await lines(dir))
      .filter((e) => e.session_id === 'syncfail' && e.sql)
      .map((e) => e.sql);
    expect(sqls).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
    const r = await verifyRecording(dirSource(dir));
    expect(r.breaks).toEqual([]);
  });
});

describe('close on a broken spool (regression: close waited forever)', () => {
  it('gives up on unwritable events after its drain timeout and resolves', async () => {
    const dir = await tempDir();
    const { c, fs } = countingFs();
    const alerts: string[] = [];
    const rec = createRecorder({ spoolDir: dir, fs, onAlert: (m) => alerts.push(m) });
    const s = await rec.openSession(startInfo());
    c.failWrites = true;
    await expect(s.statement(stmt())).rejects.toBeInstanceOf(RecordingUnavailable);
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await rec.close();
    } finally {
      clearInterval(keepAlive);
    }
    expect(alerts).toContain('recorder closed with unwritten events');
  }, 20_000);
});
