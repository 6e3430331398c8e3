// Text from agents in `portcullis policy replay` and `replay --list` output: a newline in a
// field (a relation name written as a quoted identifier, quoted by the candidate policy's
// reason as policies.rego does; a token's sub) is shown escaped (\x0a) inside its line.
// Before, only the other control characters were: a newline started a line of its own,
// which could fake "(same)" entries and the summary line.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyReplayCommand } from '../cli/commands/policy-replay.js';
import { replayCommand } from '../cli/commands/replay.js';
import type { Decision, PolicyEngine, PolicyInput } from '../policy/types.js';
import { createRecorder } from './recorder.js';
import { fileSink } from './sinks/file.js';
import { startInfo, stmt, tempDir, totals } from './testkit.js';

/** Denies reads of any relation but `orders`, naming it as policies.rego does. */
const candidate: PolicyEngine = {
  version: 'candidate',
  readsVolatileInput: false,
  readsParams: false,
  connect: () => ({ allowed: true }),
  decide(input: PolicyInput): Decision {
    const bad = input.statement!.relations.find((r) => r.name !== 'orders');
    if (bad) return { kind: 'deny', reasons: [`reading ${bad.schema}.${bad.name} is not allowed`] };
    return { kind: 'allow', mask: {}, limits: {}, reasons: ['ok'] };
  },
};

const FAKE = '0 statements and 0 logins re-decided under policy candidate; 0 would change';

describe('text from agents in policy replay output', () => {
  it('a newline in a recorded relation name does not start a line of its own', async () => {
    const dir = await tempDir('nl-inject');
    const rec = createRecorder({ spoolDir: join(dir, 'spool'), sinks: [fileSink({ dir })] });
    const s = await rec.openSession(startInfo({ sessionId: 'nl-1' }));
    // What the sql stage records for SELECT * FROM "secrets\n\n<fake summary>".
    const name = `secrets\n\n${FAKE}`;
    const q = await s.statement(
      stmt(`SELECT * FROM "${name}"`, {
        relations: [{ schema: 'public', name, kind: 'table', access: 'read' }],
      }),
    );
    s.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
    await s.end(totals());
    await rec.close();
    let text = '';
    const code = await policyReplayCommand(['--policy', 'p', '--dir', dir], {
      out: (t) => void (text += t),
      engineFactory: () => candidate,
    });
    expect(code).toBe(3);
    // The recorded name must show as one escaped field, not as output lines of its own.
    expect(text.split('\n').filter((l) => l.startsWith(FAKE))).toEqual([]);
    expect(text).toContain('\\x0a');
  });

  it('replay --list: a newline in a recorded identity does not start a line of its own', async () => {
    const dir = await tempDir('nl-list');
    const rec = createRecorder({ spoolDir: join(dir, 'spool'), sinks: [fileSink({ dir })] });
    const fake =
      '2026-01-01T00:00:00.000Z  fake-session  nobody  statements=0 allow=0 deny=0 hold=0';
    const s = await rec.openSession(
      startInfo({
        sessionId: 'nl-2',
        identity: { ...startInfo().identity, sub: `mallory\n${fake}` },
      }),
    );
    await s.end(totals());
    await rec.close();
    let text = '';
    expect(await replayCommand(['--list', '--dir', dir], { out: (t) => void (text += t) })).toBe(0);
    expect(text.split('\n').filter((l) => l.startsWith(fake))).toEqual([]);
  });
});
