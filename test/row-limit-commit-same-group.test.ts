// A write cut at its row limit inside a transaction block, with the block's COMMIT (or
// PREPARE TRANSACTION) in the same Query string or extended group. PostgreSQL runs the
// COMMIT without waiting for the client: it commits the write before the gateway, reading
// the rows past the limit, closes the session. The client must be told it committed, and
// the recording must not read as a failed write.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Recorder } from '../src/record/index.js';
import { buildRecorder } from '../src/runtime/recording.js';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, fields, parse, sync, type Message } from './helpers/raw.js';

const DB = 'rt_txn_cut_commit';
const base = mkdtempSync(join(tmpdir(), 'rt-txn-cut-'));
const spool = join(base, 'spool');
let g: TestGateway;
let recorder: Recorder;
let admin: pg.Client;

// Everything is allowed, every result limited to 5 rows.
const POLICY = `package portcullis
import rego.v1
default allow := true
limits := {"max_rows": 5}
`;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int); GRANT ALL ON t TO PUBLIC');
  writeFileSync(join(base, 'p.rego'), POLICY);
  const recording = { enabled: true, spoolDir: spool, durability: 'fsync' as const, sinks: [] };
  recorder = (await buildRecorder(recording as never, base, '.data'))!;
  g = await startTestGateway(
    DB,
    { recording, policy: { files: [join(base, 'p.rego')] } } as never,
    { recorder },
  );
  admin = await adminClient(DB);
});
afterAll(async () => {
  await admin?.end();
  await g?.stop();
  await recorder?.close().catch(() => undefined);
});

function events(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(spool).filter((n) => n.endsWith('.jsonl')))
    for (const line of readFileSync(join(spool, f), 'utf8').split('\n'))
      if (line.startsWith('{')) out.push(JSON.parse(line) as Record<string, unknown>);
  return out;
}

async function resultOf(sql: string): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 50; i++) {
    const ev = events();
    const st = ev.filter((e) => e.type === 'statement' && e.sql === sql).at(-1);
    const r =
      st &&
      ev.find(
        (e) =>
          e.type === 'statement_result' &&
          e.session_id === st.session_id &&
          e.statement_seq === st.seq,
      );
    if (r) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
  return undefined;
}

const count = async (where: string): Promise<number> =>
  (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM t WHERE ${where}`)).rows[0].n;
const errors = (ms: Message[]) => ms.filter((m) => m.type === 'E').map((m) => fields(m));

describe('a write cut at its row limit, its COMMIT in the same Query string', () => {
  it('DELETE … RETURNING; COMMIT in a block: the client and the record are told it committed', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(100, 120) g');
    const c = await rawLogin(g, DB);
    expect(errors(await c.simple('BEGIN'))).toEqual([]);
    const del = 'DELETE FROM t WHERE id >= 100 RETURNING id';
    const ms = await c.simple(`${del}; COMMIT`);
    expect(await c.closedWithin(5000)).toBe(true);
    // PostgreSQL deleted the 21 rows and committed them.
    expect(await count('id >= 100')).toBe(0);
    const [e] = errors(ms);
    expect(e.C).toBe('54000');
    // As for a cut whose implicit transaction committed: the client must learn it committed…
    expect.soft(e.M).toContain('committed');
    // …and the record must not read as a failed (undone) DELETE.
    expect.soft(await resultOf(del)).toMatchObject({ outcome: 'ok', command_tag: 'DELETE 21' });
    // The session ends at the cut, before the COMMIT's answer is read: forwarded, maybe run.
    expect(['ok', 'unknown']).toContain((await resultOf('COMMIT'))?.outcome);
  });

  it('BEGIN; UPDATE … RETURNING; COMMIT as one string', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(200, 220) g');
    const c = await rawLogin(g, DB);
    const upd = 'UPDATE t SET id = id + 1000 WHERE id BETWEEN 200 AND 220 RETURNING id';
    const ms = await c.simple(`BEGIN; ${upd}; COMMIT`);
    expect(await c.closedWithin(5000)).toBe(true);
    expect(await count('id BETWEEN 1200 AND 1220')).toBe(21);
    const [e] = errors(ms);
    expect(e.C).toBe('54000');
    expect.soft(e.M).toContain('committed');
    expect.soft(await resultOf(upd)).toMatchObject({ outcome: 'ok', command_tag: 'UPDATE 21' });
  });

  it('the same in one extended group (DELETE … RETURNING, COMMIT, Sync) inside a block', async () => {
    await admin.query('INSERT INTO t SELECT g FROM generate_series(300, 320) g');
    const c = await rawLogin(g, DB);
    expect(errors(await c.simple('BEGIN'))).toEqual([]);
    const del = 'DELETE FROM t WHERE id BETWEEN 300 AND 320 RETURNING id';
    await c.write(
      Buffer.concat([
        parse('', del),
        bind('', ''),
        execute(),
        parse('', 'COMMIT'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z', 3000).catch(() => [] as Message[]);
    const all = [...ms];
    await c.closedWithin(3000);
    const n = await count('id BETWEEN 300 AND 320');
    const e = errors(all)[0];
    // Either the COMMIT was held back and the DELETE undone, or the client and the record
    // learn that it committed.
    if (n === 0) {
      expect.soft(e?.M).toContain('committed');
      expect.soft(await resultOf(del)).toMatchObject({ outcome: 'ok', command_tag: 'DELETE 21' });
    } else expect(n).toBe(21);
  });
});
