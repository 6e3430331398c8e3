// Every recorded statement gets an outcome, also when the client leaves while its record is
// being made durable (write-ahead) or while PostgreSQL runs it: an auditor can tell what
// never ran from what may have run.
// Extended-protocol statements run in an implicit transaction that only a Sync commits. A
// client that gets an INSERT's CommandComplete (after a Flush) and then leaves, without ever
// sending Sync (a reset or a clean Terminate), has its INSERT undone by PostgreSQL. Before,
// the recording said the INSERT completed `ok` with 1 row, outside any transaction, with no
// `rolled_back` event: it read as a committed write that is not in the table.
// A statement's recorded duration_ms is its own: from when PostgreSQL could start it (the
// statement before it in its group, or the group before it, answered) to its answer. Before,
// it was counted from when its whole group (a multi-statement Query, or pipelined extended
// messages) was forwarded: `SELECT 42` behind `SELECT pg_sleep(0.5)` in one Query was
// recorded as taking half a second, and an auditor could not tell which statement was slow.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordedGateway, type RecordedGateway } from './helpers/recorded.js';
import { adminClient, freshDatabase, type TestGateway } from './helpers/gateway.js';
import {
  RawClient,
  bind,
  execute,
  extendedStep,
  flush,
  functionCall,
  msg,
  parse,
  query,
  sync,
  terminate,
} from './helpers/raw.js';

const DB = 'recording_outcomes';
let rec: RecordedGateway;
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE w (id int)');
  rec = await startRecordedGateway(DB);
  g = rec.g;
});
afterAll(async () => {
  await rec?.stop();
});

const events = () => rec.events();

describe('a client that resets right after sending a statement', () => {
  it('leaves every statement recorded with an outcome that matches what PostgreSQL did', async () => {
    const tok = await g.token('etl', ['writers']);
    const N = 60;
    for (let i = 0; i < N; i++) {
      const c = await RawClient.connect(g.port);
      await c.login(DB, tok);
      c.sock.write(query(`INSERT INTO w SELECT ${i} FROM pg_sleep(${(i % 3) * 0.02})`));
      await new Promise((r) => setTimeout(r, i % 4));
      c.sock.resetAndDestroy();
    }
    const admin = await adminClient(DB);
    // The last sessions end (and record session_end) once their upstream is closed.
    for (let t = 0; t < 100 && g.gw.sessions.size > 0; t++)
      await new Promise((r) => setTimeout(r, 50));
    const inTable = new Set(
      (await admin.query<{ id: number }>('SELECT id FROM w')).rows.map((r) => r.id),
    );
    await admin.end();
    await new Promise((r) => setTimeout(r, 300));

    const ev = events();
    const results = new Map(
      ev
        .filter((e) => e.type === 'statement_result')
        .map((e) => [`${String(e.session_id)}/${String(e.statement_seq)}`, e.outcome]),
    );
    const statements = ev.filter((e) => e.type === 'statement');
    expect(statements.length).toBeGreaterThan(0);
    const byOutcome: Record<string, number> = {};
    for (const s of statements) {
      const id = Number(/SELECT (\d+)/.exec(String(s.sql))![1]);
      const outcome = results.get(`${String(s.session_id)}/${String(s.seq)}`);
      expect(outcome, `statement ${id} has an outcome`).toBeDefined();
      byOutcome[String(outcome)] = (byOutcome[String(outcome)] ?? 0) + 1;
      // What did not run is not in the table; what is in the table did not read as not run.
      if (outcome === 'cancelled' || outcome === 'refused') expect(inTable.has(id)).toBe(false);
      if (inTable.has(id)) expect(['ok', 'unknown', 'error']).toContain(outcome);
    }
    // Every row in the table was recorded.
    const recorded = new Set(statements.map((s) => Number(/SELECT (\d+)/.exec(String(s.sql))![1])));
    for (const id of inTable) expect(recorded.has(id)).toBe(true);
    // Each session's chain is closed after its statements' outcomes.
    const ends = ev.filter((e) => e.type === 'session_end');
    expect(ends.length).toBe(N);
    for (const s of statements) {
      const end = ends.find((e) => e.session_id === s.session_id)!;
      const r = ev.find(
        (e) =>
          e.type === 'statement_result' &&
          e.session_id === s.session_id &&
          e.statement_seq === s.seq,
      )!;
      expect(Number(r.seq)).toBeLessThan(Number(end.seq));
    }
  }, 60_000);
});

describe('what is refused before it reads as a statement', () => {
  it('a FunctionCall and a Query that is not UTF-8 are recorded as refused', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('odd-client', ['agents']));
    const notUtf8 = Buffer.concat([
      Buffer.from("SELECT 'caf"),
      Buffer.from([0xe9]),
      Buffer.from("'\0"),
    ]);
    // Gone at once: the session ends while the refusals' lines are being made durable.
    await c.write(
      Buffer.concat([
        functionCall(2078, ['search_path', 'evil, public', 'false']),
        msg('Q', notUtf8),
      ]),
    );
    c.sock.resetAndDestroy();
    await rec.ended('odd-client');
    const ev = events().filter((e) => e.sub === 'odd-client');
    const statements = ev.filter((e) => e.type === 'statement');
    expect(statements.map((s) => [s.sql, s.decision, s.reasons])).toEqual([
      [
        'FunctionCall (function OID 2078)',
        'deny',
        ['the fast-path FunctionCall is refused: it names no SQL to decide on'],
      ],
      ["SELECT 'caf\ufffd'", 'deny', ['query text is not valid UTF-8']],
    ]);
    const results = ev.filter((e) => e.type === 'statement_result');
    expect(results.map((r) => r.outcome)).toEqual(['refused', 'refused']);
    // Each outcome comes before the session's end.
    const end = ev.find((e) => e.type === 'session_end')!;
    for (const r of results) expect(Number(r.seq)).toBeLessThan(Number(end.seq));
  });

  it('a large refused statement is recorded by its start, length and SHA-256', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('big-refusal', ['agents']));
    const text = 'SELEC ' + 'x'.repeat(200_000);
    await c.write(query(text));
    await c.until('Z');
    c.destroy();
    await rec.ended('big-refusal');
    const st = events().find((e) => e.sub === 'big-refusal' && e.type === 'statement')!;
    const sha = createHash('sha256').update(text).digest('hex');
    expect(st.sql).toBe(
      `${text.slice(0, 8192)}\n[refused text cut: ${text.length} bytes in all, sha256 ${sha}]`,
    );
  });

  it('a portal suspended at its row count is recorded with rows unknown, not 0', async () => {
    const c = await RawClient.connect(g.port);
    await c.login(DB, await g.token('suspender', ['agents']));
    await c.simple('BEGIN');
    await c.write(
      Buffer.concat([
        parse('s', 'SELECT g FROM generate_series(1, 5) g'),
        bind('p', 's'),
        execute('p', 2),
        execute('p', 0),
        sync(),
      ]),
    );
    await c.until('Z');
    await c.simple('COMMIT');
    c.destroy();
    await rec.ended('suspender');
    const ev = events().filter((e) => e.sub === 'suspender');
    const reads = ev.filter(
      (e) => e.type === 'statement' && String(e.sql).includes('generate_series'),
    );
    const rowsOf = (st: Record<string, unknown>) =>
      ev.find((e) => e.type === 'statement_result' && e.statement_seq === st.seq)?.rows;
    expect(reads.map(rowsOf)).toEqual([null, 3]);
  });
});

async function ids(): Promise<number[]> {
  const admin = await adminClient(DB);
  const rows = (await admin.query<{ id: number }>('SELECT id FROM w')).rows.map((r) => r.id);
  await admin.end();
  return rows;
}

describe('an extended INSERT answered after a Flush, the client leaving before any Sync', () => {
  for (const [sub, id, leave] of [
    ['unsynced-reset', 1001, 'reset'],
    ['unsynced-terminate', 1002, 'terminate'],
  ] as const) {
    it(`(${leave}) is recorded as undone, not as a completed write`, async () => {
      const c = await RawClient.connect(g.port);
      await c.login(DB, await g.token(sub, ['agents']));
      await c.write(
        Buffer.concat([
          parse('', `INSERT INTO w VALUES (${id})`),
          bind('', ''),
          execute(''),
          flush(),
        ]),
      );
      await c.until('C'); // INSERT 0 1
      if (leave === 'terminate') await c.write(terminate());
      c.destroy();
      await rec.ended(sub);

      // PostgreSQL discarded the implicit transaction: the row is not there.
      expect(await ids()).not.toContain(id);

      const ev = rec.events().filter((e) => e.sub === sub);
      const st = ev.find(
        (e) => e.type === 'statement' && String(e.sql).includes(`VALUES (${id})`),
      )!;
      expect(st).toBeDefined();
      const result = ev.find((e) => e.type === 'statement_result' && e.statement_seq === st.seq);
      const undone = ev.some(
        (e) =>
          e.type === 'rolled_back' &&
          Array.isArray(e.statement_seqs) &&
          (e.statement_seqs as number[]).includes(Number(st.seq)),
      );
      // The auditor can tell the INSERT's change did not stay: a rolled_back event names it,
      // or its outcome is not a plain `ok`.
      expect(undone || result?.outcome !== 'ok', JSON.stringify(result)).toBe(true);
    });
  }
});

/**
 * Send `bytes` as `sub`, read `answers` ReadyForQuery, and return each recorded statement's
 * duration_ms by its text once the session has ended.
 */
async function durations(sub: string, bytes: Buffer, answers = 1): Promise<Record<string, number>> {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token(sub, ['agents']));
  await c.write(bytes);
  for (let i = 0; i < answers; i++) await c.until('Z');
  c.destroy();
  await rec.ended(sub);
  const ev = rec.events().filter((e) => e.sub === sub);
  const out: Record<string, number> = {};
  for (const st of ev.filter((e) => e.type === 'statement')) {
    const r = ev.find((e) => e.type === 'statement_result' && e.statement_seq === st.seq);
    out[String(st.sql)] = Number(r?.duration_ms);
  }
  return out;
}

describe('duration_ms of a statement queued behind a slow one', () => {
  it('in one Query: the fast statement is not recorded as slow', async () => {
    const d = await durations('dur-simple', query('SELECT pg_sleep(0.5); SELECT 42'));
    expect(d['SELECT pg_sleep(0.5)']).toBeGreaterThanOrEqual(450);
    expect(d['SELECT 42']).toBeLessThan(200);
  });

  it('pipelined extended: the fast statement is not recorded as slow', async () => {
    const d = await durations(
      'dur-ext',
      Buffer.concat([
        ...extendedStep('SELECT pg_sleep(0.5)'),
        ...extendedStep('SELECT 43'),
        sync(),
      ]),
    );
    expect(d['SELECT pg_sleep(0.5)']).toBeGreaterThanOrEqual(450);
    expect(d['SELECT 43']).toBeLessThan(200);
  });

  it('pipelined in a later group: the fast statement is not recorded as slow', async () => {
    const d = await durations(
      'dur-groups',
      Buffer.concat([
        ...extendedStep('SELECT pg_sleep(0.5)'),
        sync(),
        ...extendedStep('SELECT 44'),
        sync(),
      ]),
      2,
    );
    expect(d['SELECT pg_sleep(0.5)']).toBeGreaterThanOrEqual(450);
    expect(d['SELECT 44']).toBeLessThan(200);
  });
});
