// `portcullis replay <id> --json` (and `replay --list --json`): what the text output
// escapes is written as JSON \u escapes. JSON.stringify escapes only C0 controls; before,
// C1 controls (U+009B is CSI) and bidirectional overrides (U+202E) reached the terminal raw.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayCommand } from '../cli/commands/replay.js';
import { createRecorder } from './recorder.js';
import { fileSink } from './sinks/file.js';
import { startInfo, stmt, tempDir, totals } from './testkit.js';

describe('replay --json', () => {
  it('does not write C1 controls or bidi overrides from recorded SQL raw', async () => {
    const dir = await tempDir('json-esc');
    const rec = createRecorder({ spoolDir: join(dir, 'spool'), sinks: [fileSink({ dir })] });
    const s = await rec.openSession(
      startInfo({ sessionId: 'j-1', application_name: 'psql\u202e' }),
    );
    const q = await s.statement(stmt('DROP TABLE orders /*\u009b2K\u202e1 TCELES*/'));
    s.result(q, { outcome: 'ok', duration_ms: 1, rows: 0, command_tag: 'DROP TABLE' });
    await s.end(totals());
    await rec.close();
    for (const args of [
      ['j-1', '--json'],
      ['--list', '--json'],
    ]) {
      let text = '';
      expect(await replayCommand([...args, '--dir', dir], { out: (t) => void (text += t) })).toBe(
        0,
      );
      expect(text).not.toMatch(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/);
    }
  });
});
