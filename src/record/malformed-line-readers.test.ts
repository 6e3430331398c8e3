// A line that is valid JSON but no event (`null`, or an object whose session_id is not a
// string) is skipped by every reader (GET /sessions, GET /sessions/:id, `portcullis
// replay`) and named by `verify` as a broken link. Before, readers threw (GET /sessions
// answered 500) and so did verify, for a line with its own hash but no session_id.
// A line that passes the readers' event check but whose other fields have unexpected types
// (an appended or edited line, which `verify` names) must not stop `portcullis replay` from
// showing the rest of the session either. Before, `"reasons":"no"` or `"groups":null` made
// replay throw a TypeError and show nothing.
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sessionsRoutes } from '../admin/sessions.js';
import { replayCommand } from '../cli/commands/replay.js';
import { sealLine } from './event.js';
import { createReader } from './read.js';
import { createRecorder } from './recorder.js';
import { dirSource } from './sinks/file.js';
import { edKeys, startInfo, stmt, tempDir, totals } from './testkit.js';
import { verifyRecording } from './verify.js';

const keys = edKeys();

async function recording(): Promise<{ dir: string; seg: string }> {
  const dir = await tempDir('malformed');
  const rec = createRecorder({
    spoolDir: dir,
    checkpoint: { signingKey: keys.privateJwk, kid: 'k' },
  });
  const s = await rec.openSession(startInfo({ sessionId: 'm-1' }));
  const q = await s.statement(stmt('SELECT 1'));
  s.result(q, { outcome: 'ok', duration_ms: 1, rows: 1, command_tag: 'SELECT 1' });
  await s.end(totals());
  await rec.close();
  const [seg] = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));
  return { dir, seg };
}

describe('a line that is JSON but no event', () => {
  for (const line of ['null', '{"v":1,"type":"statement","session_id":7,"seq":1}']) {
    it(`readers skip it (${line.slice(0, 20)})`, async () => {
      const { dir, seg } = await recording();
      await appendFile(join(dir, seg), line + '\n');
      const app = sessionsRoutes(createReader([dirSource(dir)]));
      const list = await app.request('/sessions');
      expect(list.status).toBe(200);
      expect((await list.json()).sessions.map((s: { session_id: string }) => s.session_id)).toEqual(
        ['m-1'],
      );
      const one = await app.request('/sessions/m-1');
      expect(one.status).toBe(200);
      let shown = '';
      expect(await replayCommand(['m-1', '--dir', dir], { out: (t) => void (shown += t) })).toBe(0);
      expect(shown).toContain('SELECT 1');
    });
  }

  it('verify names it as a broken link instead of throwing', async () => {
    const { dir, seg } = await recording();
    // A line whose own hash is right, but with no session_id.
    await appendFile(join(dir, seg), sealLine('{"v":1,"type":"statement","seq":1').line);
    const r = await verifyRecording(dirSource(dir), { publicKey: keys.publicJwk });
    expect(r.ok).toBe(false);
  });
});

const head = '"v":1,"session_id":"m-1","ts":"2026-01-01T00:00:00.000Z","prev_hash":"0"';
const lines = [
  // a statement whose reasons are a string, not a list
  `{${head},"type":"statement","seq":50,"sql":"SELECT 2","decision":"deny","reasons":"no","hash":"x"}`,
  // an event sorting first whose groups are null
  `{${head},"type":"note","seq":0,"groups":null,"hash":"x"}`,
];

describe('an event-shaped line with fields of unexpected types', () => {
  for (const line of lines) {
    it(`replay still shows the session (${line.slice(line.indexOf('"type"'), line.indexOf('"type"') + 30)})`, async () => {
      const { dir, seg } = await recording();
      await appendFile(join(dir, seg), line + '\n');
      // verify names it (it is no event the recorder wrote)
      const v = await verifyRecording(dirSource(dir), { publicKey: keys.publicJwk });
      expect(v.ok).toBe(false);
      const app = sessionsRoutes(createReader([dirSource(dir)]));
      expect((await app.request('/sessions/m-1')).status).toBe(200);
      let shown = '';
      let code: number | undefined;
      let thrown: unknown;
      try {
        code = await replayCommand(['m-1', '--dir', dir], { out: (t) => void (shown += t) });
      } catch (e) {
        thrown = e;
      }
      expect(thrown, String(thrown)).toBeUndefined();
      expect(code).toBe(0);
      expect(shown).toContain('SELECT 1');
    });
  }
});
