// The recording CLI commands (replay, verify, policy replay) and what-if over a real recording.
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { policyReplayCommand, sinceTime } from '../cli/commands/policy-replay.js';
import { replayCommand } from '../cli/commands/replay.js';
import { verifyCommand } from '../cli/commands/verify.js';
import type { Decision, PolicyEngine, PolicyInput } from '../policy/types.js';
import { createReader } from './read.js';
import { createRecorder } from './recorder.js';
import { dirSource, fileSink } from './sinks/file.js';
import { edKeys, startInfo, stmt, tempDir, totals } from './testkit.js';
import { policyInputOf, whatIf } from './what-if.js';

const keys = edKeys();
let spool = '';
let sink = '';

function capture() {
  let text = '';
  return { out: (t: string) => void (text += t), text: () => text };
}

beforeAll(async () => {
  spool = await tempDir('cmd-spool');
  sink = await tempDir('cmd-sink');
  const rec = createRecorder({
    spoolDir: spool,
    sinks: [fileSink({ dir: sink })],
    checkpoint: { signingKey: keys.privateJwk, kid: 'k' },
  });
  const s = await rec.openSession(startInfo({ sessionId: 'cli-1' }));
  const a = await s.statement(stmt('SELECT * FROM orders WHERE id = $1'));
  s.result(a, { outcome: 'ok', duration_ms: 1.25, rows: 1, command_tag: 'SELECT 1' });
  const b = await s.statement(
    stmt('DELETE FROM orders', {
      command: 'DELETE',
      class: 'write',
      has_where: false,
      params: 'redacted',
      decision: { kind: 'deny', reasons: ['DELETE without WHERE'], hint: 'add a WHERE clause' },
    }),
  );
  s.result(b, { outcome: 'refused', duration_ms: 0 });
  const c = await s.statement(
    stmt('SELECT count(*) FROM customers', {
      relations: [{ schema: 'public', name: 'customers', kind: 'table', access: 'read' }],
    }),
  );
  s.result(c, { outcome: 'error', duration_ms: 3, sqlstate: '57014' });
  await s.end({
    statements: 3,
    allowed: 2,
    denied: 1,
    held: 0,
    errors: 1,
    rows: 1,
    duration_ms: 10,
    reason: 'client_terminate',
  });
  await rec.close();
  await writeFile(join(spool, 'pub.json'), JSON.stringify(keys.publicJwk));
});

describe('portcullis replay', () => {
  it('prints a timeline: time, identity, statement, decision, rows, duration', async () => {
    const c = capture();
    expect(await replayCommand(['cli-1', '--dir', sink], { out: c.out })).toBe(0);
    const text = c.text();
    expect(text).toMatch(/session cli-1 {2}alice \(jwt\) {2}agent=report-bot {2}on_behalf_of=bob/);
    expect(text).toMatch(
      /ALLOW +1 +1\.25 ms {2}SELECT \* FROM orders WHERE id = \$1 {2}params=\["42"\]/,
    );
    expect(text).toMatch(
      /alice via report-b.*DENY +- +- {2}DELETE FROM orders {2}params=\[redacted\]/,
    );
    expect(text).toMatch(/reasons: DELETE without WHERE/);
    expect(text).toMatch(/ALLOW\/error .*sqlstate 57014/s);
    expect(text).toMatch(/session_end .*reason=client_terminate/);
  });

  it('lists sessions and reports unknown ones', async () => {
    const c = capture();
    expect(
      await replayCommand(['--list', '--dir', sink, '--decision', 'deny'], { out: c.out }),
    ).toBe(0);
    expect(c.text()).toMatch(/cli-1 {2}alice {2}statements=3 allow=2 deny=1/);
    expect(await replayCommand(['nope', '--dir', sink], { out: capture().out })).toBe(1);
  });

  it('reads the config sinks and spool when no flags are given', async () => {
    const c = capture();
    const ctx = {
      out: c.out,
      config: { recording: { spoolDir: spool, sinks: [fileSink({ dir: sink })] } },
    };
    expect(await replayCommand(['cli-1'], ctx)).toBe(0);
    expect(c.text()).toMatch(/DELETE FROM orders/);
  });
});

describe('portcullis verify', () => {
  it('passes an intact recording and checks signatures with --key', async () => {
    const c = capture();
    expect(
      await verifyCommand(['--dir', sink, '--key', join(spool, 'pub.json')], { out: c.out }),
    ).toBe(0);
    expect(c.text()).toMatch(/signatures verified/);
    expect(c.text()).toMatch(/OK: every chain is intact and sealed/);
  });

  it('names the first broken link and exits 1', async () => {
    const d = await tempDir('cmd-tamper');
    await rm(d, { recursive: true });
    await cp(sink, d, { recursive: true });
    const seg = (await readdir(d)).filter((n) => n.endsWith('.jsonl'))[0];
    const text = await readFile(join(d, seg), 'utf8');
    await writeFile(join(d, seg), text.replace('DELETE FROM orders', 'SELECT 1 FROM orders'));
    const c = capture();
    expect(await verifyCommand(['--dir', d], { out: c.out, publicKey: keys.publicJwk })).toBe(1);
    expect(c.text()).toMatch(
      new RegExp(
        `BROKEN: first broken link: session cli-1 seq 4 in segment ${seg} at byte \\d+: event hash does not match`,
      ),
    );
  });

  it('exits 2 for an unsealed tail', async () => {
    const d = await tempDir('cmd-torn');
    await rm(d, { recursive: true });
    await cp(sink, d, { recursive: true });
    const seg = (await readdir(d)).filter((n) => n.endsWith('.jsonl'))[0];
    const text = await readFile(join(d, seg), 'utf8');
    await writeFile(join(d, seg), text.slice(0, text.length - 100));
    const c = capture();
    expect(await verifyCommand(['--dir', d], { out: c.out })).toBe(2);
    expect(c.text()).toMatch(
      /TORN: torn tail after seq 8 of cli-1 in segment \S+: \d+ bytes at offset \d+/,
    );
  });
});

/**
 * A stand-in engine: denies writes, and (when strict) reads of customers; `lockedOut` is
 * refused at login.
 */
function engine(strict: boolean, lockedOut?: string): PolicyEngine {
  return {
    version: strict ? 'strict' : 'lenient',
    readsVolatileInput: false,
    readsParams: false,
    connect: (input) =>
      input.identity.sub === lockedOut && input.session.database === 'app'
        ? { allowed: false, reason: `${lockedOut} is locked out` }
        : { allowed: true },
    decide(input: PolicyInput): Decision {
      const st = input.statement!;
      if (st.class === 'write') return { kind: 'deny', reasons: ['writes are denied'] };
      if (strict && st.relations.some((r) => r.name === 'customers'))
        return { kind: 'deny', reasons: ['customers is off limits'] };
      return { kind: 'allow', mask: {}, limits: {}, reasons: ['reads ok'] };
    },
  };
}

describe('policy replay', () => {
  it('rebuilds the policy input from recorded events', async () => {
    const events = await createReader([dirSource(sink)]).allEvents();
    const start = events.find((e) => e.type === 'session_start');
    const st = events.find((e) => e.type === 'statement' && e.sql === 'DELETE FROM orders')!;
    const input = policyInputOf(st, start);
    expect(input.identity).toMatchObject({
      sub: 'alice',
      groups: ['analysts'],
      agent: 'report-bot',
      method: 'jwt',
    });
    expect(input.session).toMatchObject({
      id: 'cli-1',
      database: 'app',
      target: 'primary',
      tls: true,
      application_name: 'psql',
    });
    expect(input.statement).toMatchObject({
      text: 'DELETE FROM orders',
      class: 'write',
      params: null,
      has_where: false,
    });
  });

  it('whatIf lists the decisions a candidate policy changes', async () => {
    const events = await createReader([dirSource(sink)]).allEvents();
    expect(whatIf(events, engine(false))).toEqual([]);
    const changes = whatIf(events, engine(true));
    expect(changes).toEqual([
      expect.objectContaining({
        session_id: 'cli-1',
        sql: 'SELECT count(*) FROM customers',
        before: 'allow',
        after: 'deny',
        reasons: ['customers is off limits'],
      }),
    ]);
  });

  it('whatIf decides logins again: a session the candidate refuses at login runs nothing', async () => {
    const events = await createReader([dirSource(sink)]).allEvents();
    const changes = whatIf(events, engine(false, 'alice'));
    const why = 'the login would be refused: alice is locked out';
    expect(changes[0]).toEqual(
      expect.objectContaining({
        kind: 'connect',
        session_id: 'cli-1',
        seq: 1,
        sub: 'alice',
        database: 'app',
        before: 'allow',
        after: 'deny',
        reasons: [why],
      }),
    );
    // Every statement it recorded, allowed or not, would not have run.
    const statements = events.filter((e) => e.type === 'statement');
    expect(changes.slice(1)).toEqual(
      statements
        .filter((e) => e.decision !== 'deny')
        .map((e) => expect.objectContaining({ kind: 'statement', seq: e.seq, after: 'deny' })),
    );
    expect(changes.slice(1).every((c) => c.reasons[0] === why)).toBe(true);
    const all = whatIf(events, engine(false, 'alice'), { all: true });
    expect(all.filter((c) => c.kind === 'statement')).toHaveLength(statements.length);
  });

  it('the command prints changes and exits 3 when some decisions change', async () => {
    const c = capture();
    const ctx = { out: c.out, engineFactory: (dir: string) => engine(dir === 'strict') };
    expect(
      await policyReplayCommand(
        ['replay', '--policy', 'strict', '--since', '2020-01-01T00:00:00Z', '--dir', sink],
        ctx,
      ),
    ).toBe(3);
    expect(c.text()).toMatch(/cli-1#\d+ {2}allow -> deny {2}SELECT count\(\*\) FROM customers/);
    expect(c.text()).toMatch(
      /3 statements and 1 login re-decided under policy strict; 1 would change/,
    );
    expect(
      await policyReplayCommand(['--policy', 'lenient', '--dir', sink], {
        ...ctx,
        out: capture().out,
      }),
    ).toBe(0);
    expect(
      await policyReplayCommand(['--policy', 'strict', '--since', '2999-01-01', '--dir', sink], {
        ...ctx,
        out: capture().out,
      }),
    ).toBe(0);
    expect(await policyReplayCommand(['--dir', sink], { out: capture().out })).toBe(2);
    // A duration back from now: the statements were recorded within the last day, not in
    // the last second.
    const day = capture();
    expect(
      await policyReplayCommand(['--policy', 'strict', '--since', '24h', '--dir', sink], {
        ...ctx,
        out: day.out,
      }),
    ).toBe(3);
    const bad = capture();
    expect(
      await policyReplayCommand(
        ['--policy', 'strict', '--since', '10 minutes ago', '--dir', sink],
        {
          ...ctx,
          out: bad.out,
        },
      ),
    ).toBe(2);
    expect(bad.text()).toMatch(/--since "10 minutes ago" is not a time/);
  });
});

describe('--since', () => {
  it('reads ISO times, epoch milliseconds and durations back from now', () => {
    const now = Date.parse('2026-11-23T12:00:00Z');
    expect(sinceTime('90s', now)).toBe(now - 90_000);
    expect(sinceTime('30m', now)).toBe(now - 1_800_000);
    expect(sinceTime('24h', now)).toBe(now - 86_400_000);
    expect(sinceTime('7d', now)).toBe(now - 7 * 86_400_000);
    expect(sinceTime('1795000000000', now)).toBe(1795000000000);
    expect(sinceTime('2026-11-01T09:00Z', now)).toBe(Date.parse('2026-11-01T09:00Z'));
    expect(sinceTime('yesterday', now)).toBeNaN();
  });
});

describe('policy replay of a session with pinned settings', () => {
  it('gives the candidate policy the settings pinned when the session was recorded', async () => {
    const dir = await tempDir('cmd-pinned');
    const rec = createRecorder({ spoolDir: join(dir, 'spool'), sinks: [fileSink({ dir })] });
    const pinned = { search_path: 'public', idle_in_transaction_session_timeout: '300000' };
    const s = await rec.openSession(startInfo({ sessionId: 'pin-1', pinned }));
    const sql = 'SET idle_in_transaction_session_timeout = 1000';
    const a = await s.statement(stmt(sql, { command: 'SET', class: 'session', relations: [] }));
    s.result(a, { outcome: 'ok', duration_ms: 0.5, command_tag: 'SET' });
    await s.end(totals({ statements: 1, allowed: 1 }));
    await rec.close();
    const events = await createReader([dirSource(dir)]).allEvents();
    const start = events.find((e) => e.type === 'session_start');
    const st = events.find((e) => e.type === 'statement')!;
    expect(policyInputOf(st, start).session.pinned).toEqual(pinned);
    // As the default policy does: a SET may lower the pinned idle timeout.
    const lowersOnly: PolicyEngine = {
      ...engine(false),
      decide: (input) =>
        Number(input.session.pinned?.idle_in_transaction_session_timeout) >= 1000
          ? { kind: 'allow', mask: {}, limits: {}, reasons: [] }
          : { kind: 'deny', reasons: ['raises the idle timeout'] },
    };
    expect(whatIf(events, lowersOnly)).toEqual([]);
  });
});

describe('text from agents in the commands output', () => {
  it('replay --list, policy replay and verify show control characters escaped', async () => {
    const dir = await tempDir('cmd-escapes');
    const rec = createRecorder({ spoolDir: join(dir, 'spool'), sinks: [fileSink({ dir })] });
    const sub = 'mallory\x1b[2K\rnobody';
    const s = await rec.openSession(
      startInfo({ sessionId: 'esc-1\x1b[8m', identity: { ...startInfo().identity, sub } }),
    );
    const sql = 'DELETE FROM orders /*\x1b[1A\rallow -> allow  SELECT 1 */';
    const a = await s.statement(stmt(sql, { command: 'DELETE', class: 'write' }));
    s.result(a, { outcome: 'refused', duration_ms: 0 });
    await rec.close();
    const list = capture();
    expect(await replayCommand(['--list', '--dir', dir], { out: list.out })).toBe(0);
    const changes = capture();
    const ctx = { out: changes.out, engineFactory: () => engine(false) };
    expect(await policyReplayCommand(['--policy', 'p', '--dir', dir], ctx)).toBe(3);
    // A broken link names its session.
    const seg = (await readdir(dir)).find((n) => n.endsWith('.jsonl'))!;
    const lines = (await readFile(join(dir, seg), 'utf8')).split('\n');
    await writeFile(
      join(dir, seg),
      lines.filter((l) => !l.includes('"type":"statement"')).join('\n'),
    );
    const verified = capture();
    expect(await verifyCommand(['--dir', dir], { out: verified.out })).toBe(1);
    for (const text of [list.text(), changes.text(), verified.text()]) {
      expect(text).not.toMatch(/[\x1b\r]/);
      expect(text).toContain('\\x1b');
    }
    expect(list.text()).toContain('mallory\\x1b[2K\\x0dnobody');
  });

  it('replay shows invisible and format characters escaped, and cuts long parameters', async () => {
    const dir = await tempDir('cmd-invisible');
    const rec = createRecorder({ spoolDir: join(dir, 'spool'), sinks: [fileSink({ dir })] });
    const s = await rec.openSession(
      startInfo({ sessionId: 'inv-1', application_name: 'psql\u200f\u2060' }),
    );
    const invisible = '\u200e\u200f\u061c\u200b\u2060\u00ad\u2800\u3164\u115f\u{e0041}\u00a0';
    const a = await s.statement({
      ...stmt(`SELECT 1 /*${invisible}*/`),
      params: ['\u2800'.repeat(400) + 'admin ALLOW SELECT 1'],
    });
    s.result(a, { outcome: 'ok', duration_ms: 1, rows: 1 });
    await rec.close();
    const shown = capture();
    expect(await replayCommand(['inv-1', '--dir', dir], { out: shown.out })).toBe(0);
    const text = shown.text();
    expect(text).not.toMatch(
      /[\u200e\u200f\u061c\u200b\u2060\u00ad\u2800\u3164\u115f\u00a0]|\u{e0041}/u,
    );
    for (const c of ['200e', '200f', '61c', '200b', '2060', '2800', '3164', '115f', 'e0041'])
      expect(text).toContain(`\\u{${c}}`);
    expect(text).toContain('\\xad');
    // A parameter is cut to the width like the statement: its tail does not reach the screen.
    expect(text).not.toContain('admin ALLOW SELECT 1');
  });
});
