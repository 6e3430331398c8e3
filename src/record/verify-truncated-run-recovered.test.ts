// A run whose tail was cut back to one of its signed checkpoints while the gateway was
// stopped (the statements after it and the final checkpoint deleted) reads the same as a
// crash right after that checkpoint: once the next start recovers, verify says so (exit 3,
// RECOVERED UNSIGNED) and never calls the recording intact and sealed. Before, it did
// (exit 0), although signed checkpoints had covered the deleted statements.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyCommand } from '../cli/commands/verify.js';
import { createRecorder } from './recorder.js';
import { dirSource } from './sinks/file.js';
import { edKeys, startInfo, stmt, tempDir, totals } from './testkit.js';
import { verifyRecording } from './verify.js';

const keys = edKeys();

describe('verify after a recovery of a run cut at a checkpoint', () => {
  it('does not call the recording sealed when statements covered by later checkpoints were cut', async () => {
    const spool = await tempDir('cut-at-cp');
    const rec = createRecorder({
      spoolDir: spool,
      checkpoint: { signingKey: keys.privateJwk, kid: 'k', everyEvents: 3 },
    });
    const s = await rec.openSession(startInfo({ sessionId: 'victim' }));
    for (const sql of ['SELECT 1', 'SELECT 2', 'DROP TABLE orders', 'SELECT 3']) {
      const q = await s.statement(stmt(sql, { command: 'X' }));
      s.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'X' });
    }
    await s.end(totals());
    await rec.close();
    const [seg] = (await readdir(spool)).filter((n) => n.endsWith('.jsonl'));
    const lines = (await readFile(join(spool, seg), 'utf8')).split('\n').slice(0, -1);
    // Untouched, the run is sealed, and a signed checkpoint covers the DROP TABLE.
    expect((await verifyRecording(dirSource(spool), { publicKey: keys.publicJwk })).sealed).toBe(
      true,
    );
    const drop = lines.findIndex((l) => l.includes('DROP TABLE'));
    expect(lines.slice(drop).some((l) => /"type":"checkpoint".*"victim"/.test(l))).toBe(true);
    // Without the key: keep everything up to the last checkpoint before the DROP TABLE.
    let cut = -1;
    for (let i = 0; i < drop; i++) if (lines[i].includes('"type":"checkpoint"')) cut = i;
    expect(cut).toBeGreaterThan(0);
    await writeFile(join(spool, seg), lines.slice(0, cut + 1).join('\n') + '\n');
    // A routine restart and stop.
    await createRecorder({
      spoolDir: spool,
      checkpoint: { signingKey: keys.privateJwk, kid: 'k', everyEvents: 3 },
    }).close();
    const r = await verifyRecording(dirSource(spool), { publicKey: keys.publicJwk });
    // The DROP TABLE, its result and the session's end are gone; three signed checkpoints
    // (two periodic ones and the final) that covered them are gone with them.
    const after = (await readdir(spool)).filter((n) => n.endsWith('.jsonl')).sort();
    const all = (await Promise.all(after.map((n) => readFile(join(spool, n), 'utf8')))).join('');
    expect(all).not.toContain('DROP TABLE');
    let shown = '';
    const code = await verifyCommand(['--dir', spool], {
      out: (t) => void (shown += t),
      publicKey: keys.publicJwk,
    });
    // A run that stopped without its final checkpoint is not attested past its last
    // checkpoint: this must not read as "intact and sealed" (exit 0).
    expect(shown).not.toMatch(/OK: every chain is intact and sealed/);
    expect(r.sealed).toBe(false);
    expect(code).not.toBe(0);
  });
});
