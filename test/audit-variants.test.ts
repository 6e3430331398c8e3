// What an auditor sees in a session recording: every statement that reached PostgreSQL has
// its `statement` event (text, decision, parameters) written before it ran, in its session's
// chain; and `portcullis verify` reports every edit, deletion, reordering, truncation or
// splice of the recorded events, while a clean recording verifies as sealed.
// Real gateway, real PostgreSQL (side effects in a table tell what ran), real spool files.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealLine, sha256hex } from '../src/record/event.js';
import { createSigner } from '../src/record/sign.js';
import {
  createRecorder,
  dirSource,
  fileSink,
  verifyRecording,
  type RecordedEvent,
  type Recorder,
  type SpoolFs,
} from '../src/record/index.js';
import { createReader, timeline } from '../src/record/read.js';
import { formatTimeline } from '../src/record/replay.js';
import { splitLines } from '../src/record/segment.js';
import { nodeSpoolFs } from '../src/record/spool.js';
import { edKeys } from '../src/record/testkit.js';
import {
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { CLI } from './helpers/gateway-process.js';
import {
  RawClient,
  bind,
  bindRaw,
  close,
  copyData,
  copyDone,
  execute,
  firstError,
  flush,
  parse,
  query,
  sync,
  terminate,
} from './helpers/raw.js';
import { run } from './helpers/spawn.js';

const DB = 'audit_variants';
const KEYS = edKeys();
const OTHER_KEYS = edKeys();

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE t (id int PRIMARY KEY, note text);
     CREATE TABLE secrets (id int);
     INSERT INTO t VALUES (1, 'seed');`,
  );
});

// ---- helpers ---------------------------------------------------------------------------

/** A spool filesystem whose segment writes fail while `broken` is set. */
function faultyFs(): { fs: SpoolFs; fault: { broken: boolean } } {
  const fault = { broken: false };
  const boom = () => {
    const e = new Error('EIO: injected spool write failure') as NodeJS.ErrnoException;
    e.code = 'EIO';
    return e;
  };
  const fs: SpoolFs = {
    ...nodeSpoolFs,
    open: async (p, flags) => {
      const f = await nodeSpoolFs.open(p, flags);
      return {
        ...f,
        write: (d) => (fault.broken ? Promise.reject(boom()) : f.write(d)),
        writeAt: f.writeAt
          ? (d, pos) => (fault.broken ? Promise.reject(boom()) : f.writeAt!(d, pos))
          : undefined,
        writeSync: f.writeSync
          ? (d) => {
              if (fault.broken) throw boom();
              return f.writeSync!(d);
            }
          : undefined,
        datasync: () => (fault.broken ? Promise.reject(boom()) : f.datasync()),
      };
    },
  };
  return { fs, fault };
}

interface RecGateway {
  g: TestGateway;
  recorder: Recorder;
  base: string;
  spoolDir: string;
  sinkDir: string;
  fault: { broken: boolean };
  /** Stop the gateway and close the recorder (final checkpoint, seal, ship). */
  close(): Promise<void>;
}

async function recGateway(
  o: {
    durability?: 'fsync' | 'write' | 'off';
    failOpen?: boolean;
    segmentBytes?: number;
  } = {},
): Promise<RecGateway> {
  const base = mkdtempSync(join(tmpdir(), 'portcullis-auditvar-'));
  const spoolDir = join(base, 'spool');
  const sinkDir = join(base, 'sink');
  const { fs, fault } = faultyFs();
  const recorder = createRecorder({
    spoolDir,
    sinks: [fileSink({ dir: sinkDir })],
    durability: o.durability ?? 'fsync',
    failOpen: o.failOpen ?? false,
    checkpoint: { signingKey: KEYS.privateJwk, kid: 'k1', everyMs: 50, everyEvents: 1000 },
    segment: o.segmentBytes ? { maxBytes: o.segmentBytes } : undefined,
    fs,
    onAlert: () => undefined,
  });
  const g = await startTestGateway(
    DB,
    {
      policy: { files: ['test/policies/clients.rego'] },
      recording: { enabled: true, spoolDir, durability: o.durability ?? 'fsync' },
    },
    { recorder },
  );
  let closed = false;
  return {
    g,
    recorder,
    base,
    spoolDir,
    sinkDir,
    fault,
    close: async () => {
      if (closed) return;
      closed = true;
      await g.stop().catch(() => undefined);
      await recorder.close().catch(() => undefined);
    },
  };
}

/** A raw client logged in with its own token subject (one subject per scenario). */
async function rawAs(g: TestGateway, sub: string): Promise<RawClient> {
  const c = await RawClient.connect(g.port);
  await c.login(DB, await g.token(sub, ['agents']));
  return c;
}

/** Every event in the sink and the spool (sink copy first). */
async function allEvents(r: RecGateway): Promise<RecordedEvent[]> {
  return createReader([dirSource(r.sinkDir), dirSource(r.spoolDir)]).allEvents();
}

/** Statement events of one subject, in their session's order, joined with their results. */
async function statementsOf(r: RecGateway, sub: string) {
  const evs = (await allEvents(r)).filter((e) => e.sub === sub);
  const out: { ev: RecordedEvent; result?: RecordedEvent }[] = [];
  const bySession = new Map<string, RecordedEvent[]>();
  for (const e of evs) bySession.set(e.session_id, [...(bySession.get(e.session_id) ?? []), e]);
  for (const list of bySession.values())
    for (const t of timeline(list.sort((a, b) => a.seq - b.seq)))
      if (t.type === 'statement') out.push({ ev: t.event, result: t.result });
  return out;
}

async function idsInTable(): Promise<number[]> {
  const a = await adminClient(DB);
  const r = await a.query('SELECT id FROM t ORDER BY id');
  await a.end();
  return r.rows.map((x: { id: number }) => x.id);
}

async function noteOf(id: number): Promise<string | undefined> {
  const a = await adminClient(DB);
  const r = await a.query('SELECT note FROM t WHERE id = $1', [id]);
  await a.end();
  return (r.rows[0] as { note?: string } | undefined)?.note;
}

/** True when some statement event of `sub` names the id, in its SQL or its parameters. */
function mentions(evs: { ev: RecordedEvent }[], id: number): boolean {
  const re = new RegExp(`\\b${id}\\b`);
  return evs.some(
    ({ ev }) =>
      re.test(String(ev.sql)) ||
      (Array.isArray(ev.params) && (ev.params as unknown[]).some((p) => String(p) === `${id}`)),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the server answered a ReadyForQuery for each Sync/Query sent. */
async function readies(c: RawClient, n: number) {
  const all = [];
  for (let i = 0; i < n; i++) all.push(...(await c.until('Z')));
  return all;
}

/**
 * `portcullis verify` as an operator runs it, with a config file of its own in `dir` (no
 * development key next to it, so the key is only what --key gives).
 */
function cli(args: string[], dir: string) {
  const config = join(dir, 'gateway.config.json');
  writeFileSync(config, '{}');
  return run(CLI[0], [...CLI.slice(1), ...args, '--config', config], {
    cwd: process.cwd(),
    timeoutMs: 60_000,
  });
}

// ---- recording tampering helpers -----------------------------------------------------

type Line = { seg: string; text: string };

function readLines(dir: string): Line[] {
  const out: Line[] = [];
  for (const seg of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort())
    for (const { text } of splitLines(readFileSync(join(dir, seg))).lines) out.push({ seg, text });
  return out;
}

function writeLines(dir: string, lines: Line[]): void {
  const segs = new Map<string, string>();
  for (const n of readdirSync(dir).filter((x) => x.endsWith('.jsonl'))) segs.set(n, '');
  for (const l of lines) segs.set(l.seg, (segs.get(l.seg) ?? '') + l.text + '\n');
  for (const [n, text] of segs) writeFileSync(join(dir, n), text);
}

/** Re-serialize an event with a freshly computed hash (keys keep their order). */
function reseal(ev: Record<string, unknown>): string {
  const { hash: _h, ...rest } = ev;
  const json = JSON.stringify(rest);
  return sealLine(json.slice(0, -1)).line.trimEnd();
}

/**
 * After a session chain was rewritten: point every checkpoint at the new heads and re-chain
 * the gateway's events, signing each checkpoint with `sign` (or keeping its old, now wrong,
 * signature).
 */
function rechainGateway(lines: Line[], sign?: (payload: string) => string): Line[] {
  const heads = new Map<string, [number, string]>();
  let gwPrev: string | undefined;
  return lines.map((l) => {
    const ev = JSON.parse(l.text) as Record<string, unknown>;
    const id = ev.session_id as string;
    if (!id.startsWith('gateway:')) {
      heads.set(id, [ev.seq as number, ev.hash as string]);
      return l;
    }
    if (gwPrev) ev.prev_hash = gwPrev;
    let text: string;
    if (ev.type === 'checkpoint') {
      const h = ev.heads as Record<string, [number, string]>;
      for (const k of Object.keys(h)) if (heads.has(k)) h[k] = heads.get(k)!;
    }
    if (ev.type === 'checkpoint' && sign) {
      const { hash: _h, sig: _s, ...rest } = ev;
      const pre = JSON.stringify(rest).slice(0, -1);
      text = sealLine(pre + ',"sig":' + JSON.stringify(sign(sha256hex(pre)))).line.trimEnd();
    } else text = reseal(ev);
    gwPrev = (JSON.parse(text) as { hash: string }).hash;
    return { seg: l.seg, text };
  });
}

/**
 * Edit the events of one chain with `edit` and recompute that chain's hashes from there on,
 * as someone without the signing key would.
 */
function rewriteChain(
  lines: Line[],
  chain: string,
  edit: (ev: Record<string, unknown>) => void,
): Line[] {
  let prev: string | undefined;
  return lines.map((l) => {
    const ev = JSON.parse(l.text) as Record<string, unknown>;
    if (ev.session_id !== chain) return l;
    if (prev !== undefined) ev.prev_hash = prev;
    edit(ev);
    const text = reseal(ev);
    prev = (JSON.parse(text) as { hash: string }).hash;
    return { seg: l.seg, text };
  });
}

/** Index of the last line matching `pred` (-1 if none). */
function lastIndex(lines: Line[], pred: (l: Line) => boolean): number {
  for (let i = lines.length - 1; i >= 0; i--) if (pred(lines[i])) return i;
  return -1;
}

const verifyDir = (dirs: string[], key: Record<string, unknown> | undefined = KEYS.publicJwk) =>
  verifyRecording(
    dirs.map((d) => dirSource(d)),
    key ? { publicKey: key } : {},
  );

// ---- what reaches PostgreSQL is recorded ------------------------------------------------

describe('statements that reach PostgreSQL by every path are recorded', () => {
  let r: RecGateway;
  const copies: string[] = [];
  beforeAll(async () => {
    r = await recGateway({ segmentBytes: 48 * 1024 });
  });
  afterAll(async () => {
    await r?.close();
    for (const d of copies) rmSync(d, { recursive: true, force: true });
    if (r) rmSync(r.base, { recursive: true, force: true });
  });

  it('a pipelined extended batch ended by Flush, then Sync: each Execute is recorded with its parameters', async () => {
    const c = await rawAs(r.g, 'pipe-noflush');
    await c.write(
      Buffer.concat([
        parse('ins', 'INSERT INTO t VALUES ($1, $2)'),
        bind('', 'ins', ['101', 'pipe-a']),
        execute(''),
        bind('', 'ins', ['102', 'pipe-b']),
        execute(''),
        flush(),
      ]),
    );
    await sleep(100);
    await c.write(sync());
    const msgs = await readies(c, 1);
    expect(firstError(msgs)).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).toEqual(expect.arrayContaining([101, 102]));
    const evs = await statementsOf(r, 'pipe-noflush');
    expect(evs.map(({ ev }) => [ev.sql, ev.decision, ev.params, ev.protocol])).toEqual([
      ['INSERT INTO t VALUES ($1, $2)', 'allow', ['101', 'pipe-a'], 'extended'],
      ['INSERT INTO t VALUES ($1, $2)', 'allow', ['102', 'pipe-b'], 'extended'],
    ]);
  });

  it('an Execute of a portal bound in an earlier group is recorded with that portal’s parameters', async () => {
    const c = await rawAs(r.g, 'late-portal');
    await c.simple('BEGIN');
    await c.write(
      Buffer.concat([
        parse('lp', 'INSERT INTO t VALUES ($1, $2)'),
        bind('p1', 'lp', ['103', 'late']),
        sync(),
      ]),
    );
    await readies(c, 1);
    await c.write(Buffer.concat([execute('p1'), sync()]));
    expect(firstError(await readies(c, 1))).toBeUndefined();
    await c.simple('COMMIT');
    c.destroy();
    expect(await idsInTable()).toContain(103);
    const evs = await statementsOf(r, 'late-portal');
    const ins = evs.find(({ ev }) => /INSERT/.test(String(ev.sql)));
    expect(ins?.ev).toMatchObject({ decision: 'allow', params: ['103', 'late'] });
  });

  it('a SQL PREPARE run by protocol Bind/Execute is recorded as the prepared statement with its parameters', async () => {
    const c = await rawAs(r.g, 'sql-prepare');
    await c.simple(`PREPARE sp(int) AS INSERT INTO t VALUES ($1, 'sql-prep')`);
    await c.write(Buffer.concat([bind('', 'sp', ['104']), execute(''), sync()]));
    expect(firstError(await readies(c, 1))).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).toContain(104);
    const evs = await statementsOf(r, 'sql-prepare');
    const ran = evs.at(-1)!.ev;
    expect(ran).toMatchObject({ decision: 'allow', params: ['104'], command: 'INSERT' });
    expect(String(ran.sql)).toMatch(/INSERT INTO t/);
  });

  it('a protocol Execute of `EXECUTE q` after q was prepared again records what q now holds', async () => {
    const c = await rawAs(r.g, 're-prepare');
    await c.simple('PREPARE q AS SELECT 1');
    await c.write(Buffer.concat([parse('x', 'EXECUTE q'), sync()]));
    await readies(c, 1);
    await c.simple('DEALLOCATE q');
    await c.simple(`PREPARE q AS INSERT INTO t VALUES (105, 're-prepared')`);
    await c.write(Buffer.concat([bind('', 'x'), execute(''), sync()]));
    expect(firstError(await readies(c, 1))).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).toContain(105);
    const evs = await statementsOf(r, 're-prepare');
    const last = evs.at(-1)!.ev;
    expect(last.sql).toBe('EXECUTE q');
    expect(last.command).toBe('INSERT');
    expect(last.relations).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 't', access: 'write' })]),
    );
  });

  it('rows FETCHed from a SQL cursor by a later protocol Execute are recorded as a read of that cursor, not as a second DECLARE', async () => {
    const c = await rawAs(r.g, 'cursor-read');
    await c.simple('BEGIN');
    await c.simple('DECLARE cur CURSOR FOR SELECT id FROM t ORDER BY id');
    await c.write(Buffer.concat([execute('cur', 1), sync()]));
    const m = await readies(c, 1);
    expect(firstError(m)).toBeUndefined();
    await c.simple('FETCH 1 FROM cur');
    await c.simple('COMMIT');
    c.destroy();
    const evs = (await statementsOf(r, 'cursor-read')).map(({ ev }) => ev);
    expect(evs.map((e) => e.sql)).toHaveLength(5);
    const [, declare, protoRead, sqlFetch] = evs;
    expect(declare.sql).toMatch(/^DECLARE cur/);
    expect(sqlFetch.sql).toBe('FETCH 1 FROM cur');
    // The protocol read must be told apart from the DECLARE that opened the cursor.
    expect([protoRead.sql, protoRead.command]).not.toEqual([declare.sql, declare.command]);
  });

  it('COPY FROM STDIN: the COPY is recorded, and its rows land only after it', async () => {
    const c = await rawAs(r.g, 'copy-in');
    await c.write(query('COPY t (id, note) FROM STDIN'));
    const g = await c.next();
    expect(g?.type).toBe('G');
    await c.write(Buffer.concat([copyData('106\tcopied\n'), copyDone()]));
    expect(firstError(await c.until('Z'))).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).toContain(106);
    const evs = await statementsOf(r, 'copy-in');
    expect(evs.map(({ ev }) => [ev.sql, ev.decision])).toEqual([
      ['COPY t (id, note) FROM STDIN', 'allow'],
    ]);
    expect(evs[0].result).toMatchObject({ outcome: 'ok', rows: 1 });
  });

  it('a multi-statement Query with one denied statement: nothing runs, the denial is recorded, no allowed event claims the rest ran', async () => {
    const c = await rawAs(r.g, 'multi-deny');
    const m = await c.simple(`INSERT INTO t VALUES (107, 'multi'); SELECT * FROM secrets`);
    expect(firstError(m)?.C).toBe('42501');
    c.destroy();
    expect(await idsInTable()).not.toContain(107);
    const evs = await statementsOf(r, 'multi-deny');
    expect(evs.some(({ ev }) => ev.decision === 'deny' && /secrets/.test(String(ev.sql)))).toBe(
      true,
    );
    for (const { ev, result } of evs.filter(({ ev }) => ev.decision === 'allow'))
      expect(result?.outcome, String(ev.sql)).toBe('refused');
  });

  it('each statement of an allowed multi-statement Query is recorded with its own text (quotes, dollar quotes, semicolons)', async () => {
    const c = await rawAs(r.g, 'multi-allow');
    const m = await c.simple(
      `INSERT INTO t VALUES (108, 'a; b'); INSERT INTO t VALUES (109, $q$x;'y$q$)`,
    );
    expect(firstError(m)).toBeUndefined();
    c.destroy();
    const evs = await statementsOf(r, 'multi-allow');
    expect(evs.map(({ ev }) => [ev.sql, ev.index, ev.count])).toEqual([
      [`INSERT INTO t VALUES (108, 'a; b')`, 0, 2],
      [`INSERT INTO t VALUES (109, $q$x;'y$q$)`, 1, 2],
    ]);
  });

  it('a statement after BEGIN in the same Query is recorded as inside a transaction', async () => {
    const c = await rawAs(r.g, 'begin-same-query');
    const m = await c.simple(`BEGIN; INSERT INTO t VALUES (110, 'in-txn'); COMMIT`);
    expect(firstError(m)).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).toContain(110);
    const evs = await statementsOf(r, 'begin-same-query');
    const ins = evs.find(({ ev }) => /INSERT/.test(String(ev.sql)))!.ev;
    expect(ins.in_transaction).toBe(true);
  });

  it('a statement after BEGIN in the same extended group is recorded as inside a transaction', async () => {
    const c = await rawAs(r.g, 'begin-same-group');
    await c.write(
      Buffer.concat([
        parse('', 'BEGIN'),
        bind('', ''),
        execute(''),
        parse('', "INSERT INTO t VALUES (116, 'in-group-txn')"),
        bind('', ''),
        execute(''),
        parse('', 'COMMIT'),
        bind('', ''),
        execute(''),
        sync(),
      ]),
    );
    expect(firstError(await readies(c, 1))).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).toContain(116);
    const evs = await statementsOf(r, 'begin-same-group');
    expect(evs.map(({ ev }) => [String(ev.sql).split(' ')[0], ev.in_transaction])).toEqual([
      ['BEGIN', false],
      ['INSERT', true],
      ['COMMIT', true],
    ]);
  });

  it('a parameter sent in binary format is recorded so it cannot be confused with a text parameter', async () => {
    const c = await rawAs(r.g, 'binary-param');
    const int4 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    };
    await c.write(
      Buffer.concat([
        parse('bp', 'INSERT INTO t VALUES ($1, $2)', [23, 25]),
        // Binary: the note is the one byte "A".
        bindRaw('', 'bp', [1], [int4(111), Buffer.from('A')], []),
        execute(''),
        // Text: the note is the three characters \x41.
        bind('', 'bp', ['112', '\\x41']),
        execute(''),
        sync(),
      ]),
    );
    expect(firstError(await readies(c, 1))).toBeUndefined();
    c.destroy();
    expect(await noteOf(111)).toBe('A');
    expect(await noteOf(112)).toBe('\\x41');
    const evs = await statementsOf(r, 'binary-param');
    expect(evs).toHaveLength(2);
    // Two different values ran: the recording must not show the same parameter for both.
    // A binary one is recorded as \x and hex, with param_formats saying so.
    const shown = ({ ev }: (typeof evs)[number]) => [
      (ev.params as string[])[1],
      (ev.param_formats as number[] | undefined)?.[1] ?? 0,
    ];
    expect(shown(evs[0])).toEqual(['\\x41', 1]);
    expect(shown(evs[1])).toEqual(['\\x41', 0]);
  });

  it('a 1 MiB parameter and a 200 KB statement are recorded in full', async () => {
    const c = await rawAs(r.g, 'huge');
    const big = 'p'.repeat(1 << 20);
    const longSql = `INSERT INTO t VALUES (114, 'long' /* ${'c'.repeat(200_000)} */)`;
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO t VALUES ($1, $2)'),
        bind('', '', ['113', big]),
        execute(''),
        sync(),
      ]),
    );
    expect(firstError(await readies(c, 1))).toBeUndefined();
    expect(firstError(await c.simple(longSql))).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).toEqual(expect.arrayContaining([113, 114]));
    const evs = await statementsOf(r, 'huge');
    expect((evs[0].ev.params as string[])[1]).toBe(big);
    expect(evs[1].ev.sql).toBe(longSql);
  });

  it('comments, U& escapes and dollar quotes are recorded as sent', async () => {
    const c = await rawAs(r.g, 'lexical');
    const sql = `/* lead */ INSERT INTO t VALUES (115, U&'\\0041' || $d$;--$d$) -- tail`;
    expect(firstError(await c.simple(sql))).toBeUndefined();
    c.destroy();
    expect(await noteOf(115)).toBe('A;--');
    const evs = await statementsOf(r, 'lexical');
    expect(String(evs[0].ev.sql)).toContain(`INSERT INTO t VALUES (115, U&'\\0041' || $d$;--$d$)`);
  });

  it('a Query sent with Terminate right behind it is recorded if it ran', async () => {
    const c = await rawAs(r.g, 'terminate-behind');
    await c.write(Buffer.concat([query(`INSERT INTO t VALUES (116, 'then-X')`), terminate()]));
    await c.closedWithin(3000);
    await sleep(300);
    const evs = await statementsOf(r, 'terminate-behind');
    if ((await idsInTable()).includes(116)) expect(mentions(evs, 116)).toBe(true);
    expect(await idsInTable()).toContain(116);
  });

  it('statements sent with Terminate right behind them are recorded with their outcomes', async () => {
    const c = await rawAs(r.g, 'terminate-outcomes');
    await c.write(
      Buffer.concat([
        query(`SELECT pg_sleep(0.2); INSERT INTO t VALUES (131, 'then-X')`),
        parse('', 'INSERT INTO t VALUES ($1, $2)'),
        bind('', '', ['132', 'then-X']),
        execute(''),
        sync(),
        terminate(),
        // PostgreSQL reads nothing after a Terminate.
        query(`INSERT INTO t VALUES (133, 'after-X')`),
      ]),
    );
    await c.closedWithin(3000);
    await sleep(500);
    expect(await idsInTable()).toEqual(expect.arrayContaining([131, 132]));
    expect(await idsInTable()).not.toContain(133);
    const evs = await statementsOf(r, 'terminate-outcomes');
    expect(evs.map(({ result }) => [result?.outcome, result?.command_tag])).toEqual([
      ['ok', 'SELECT 1'],
      ['ok', 'INSERT 0 1'],
      ['ok', 'INSERT 0 1'],
    ]);
  });

  it('a statement run by a name that PostgreSQL cuts to 63 bytes is recorded as what ran', async () => {
    const c = await rawAs(r.g, 'long-names');
    const [a, b] = ['n'.repeat(63) + 'A', 'n'.repeat(63) + 'B'];
    for (const msgs of [
      [parse(a, 'SELECT 1')],
      // Upstream, closing `b` closes `a`, and the INSERT takes its name.
      [close('S', b), parse(b, `INSERT INTO t VALUES (119, 'long-name')`)],
      [bind('', a), execute('')],
    ]) {
      await c.write(Buffer.concat([...msgs, sync()]));
      expect(firstError(await c.until('Z'))).toBeUndefined();
    }
    c.destroy();
    expect(await idsInTable()).toContain(119);
    const evs = await statementsOf(r, 'long-names');
    expect(evs.at(-1)?.ev.sql).toBe(`INSERT INTO t VALUES (119, 'long-name')`);
    expect(evs.at(-1)?.result?.command_tag).toBe('INSERT 0 1');
  });

  it('SQL EXECUTE, FETCH and MOVE record the statement they run (a protocol Parse, a portal never Executed)', async () => {
    const c = await rawAs(r.g, 'runs');
    const ok = async (...msgs: Buffer[]) => {
      await c.write(Buffer.concat([...msgs, sync()]));
      expect(firstError(await c.until('Z'))).toBeUndefined();
    };
    const sql = async (text: string) => expect(firstError(await c.simple(text))).toBeUndefined();
    await sql(`INSERT INTO t VALUES (141, 'a'), (142, 'b'), (143, 'c')`);
    // A statement prepared by a protocol Parse, run by SQL EXECUTE: its text is in no Execute.
    await ok(parse('del', 'DELETE FROM t WHERE id = 141'));
    await sql('EXECUTE del');
    // Portals bound but never Executed, run by SQL FETCH and MOVE.
    await sql('BEGIN');
    await ok(
      parse('s', 'DELETE FROM t WHERE id = $1 RETURNING id'),
      bind('p', 's', ['142']),
      parse('u', 'UPDATE t SET note = $2 WHERE id = $1 RETURNING id'),
      bind('q', 'u', ['143', 'moved']),
    );
    await sql('FETCH ALL FROM p');
    await sql('MOVE ALL IN q');
    await sql('COMMIT');
    c.destroy();
    expect(await idsInTable()).not.toContain(141);
    expect(await idsInTable()).not.toContain(142);
    const evs = await statementsOf(r, 'runs');
    const by = (sql: string) => evs.find(({ ev }) => ev.sql === sql)?.ev.runs;
    expect(by('EXECUTE del')).toEqual({ sql: 'DELETE FROM t WHERE id = 141', name: 'del' });
    expect(by('FETCH ALL FROM p')).toEqual({
      sql: 'DELETE FROM t WHERE id = $1 RETURNING id',
      portal: 'p',
      params: ['142'],
    });
    expect(by('MOVE ALL IN q')).toEqual({
      sql: 'UPDATE t SET note = $2 WHERE id = $1 RETURNING id',
      portal: 'q',
      params: ['143', 'moved'],
    });
    // `replay` shows it under the statement.
    const events = await createReader([dirSource(r.sinkDir), dirSource(r.spoolDir)]).sessionEvents(
      evs[0].ev.session_id,
    );
    expect(formatTimeline(events!)).toContain('runs: DELETE FROM t WHERE id = 141');
  });

  it('statements undone by the failure of their implicit transaction are recorded as rolled back', async () => {
    const a = await adminClient(DB);
    await a.query(`CREATE TABLE IF NOT EXISTS parent (id int PRIMARY KEY);
                   CREATE TABLE IF NOT EXISTS child (id int PRIMARY KEY,
                     pid int REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`);
    await a.end();
    const c = await rawAs(r.g, 'rolled-back');
    // The foreign key is checked at commit, after the INSERT completed: the error comes at
    // the Sync, and the INSERT is undone.
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO child VALUES ($1, $2)'),
        bind('', '', ['1', '999']),
        execute(''),
        sync(),
      ]),
    );
    expect(firstError(await c.until('Z'))?.C).toBe('23503');
    // A later statement's error undoes the earlier ones of the same Query.
    expect(
      firstError(await c.simple(`INSERT INTO t VALUES (151, 'undone'); SELECT 1 / 0`))?.C,
    ).toBe('22012');
    // Inside a block nothing is undone yet (the block's ROLLBACK is recorded).
    expect(
      firstError(await c.simple(`BEGIN; INSERT INTO t VALUES (152, 'x'); SELECT 1 / 0`))?.C,
    ).toBe('22012');
    expect(firstError(await c.simple('ROLLBACK'))).toBeUndefined();
    c.destroy();
    expect(await idsInTable()).not.toContain(151);
    await sleep(300);
    const evs = (await allEvents(r)).filter((e) => e.sub === 'rolled-back');
    const seqOf = (sql: string) => evs.find((e) => e.type === 'statement' && e.sql === sql)?.seq;
    const rolled = evs.filter((e) => e.type === 'rolled_back');
    expect(rolled.map((e) => [e.statement_seqs, e.sqlstate])).toEqual([
      [[seqOf('INSERT INTO child VALUES ($1, $2)')], '23503'],
      [[seqOf(`INSERT INTO t VALUES (151, 'undone')`)], '22012'],
    ]);
  });

  it('a client that disconnects right after sending: what ran is recorded', async () => {
    const c = await rawAs(r.g, 'hangup');
    await c.write(
      Buffer.concat([
        query(`INSERT INTO t VALUES (117, 'hangup-q')`),
        parse('', 'INSERT INTO t VALUES ($1, $2)'),
        bind('', '', ['118', 'hangup-x']),
        execute(''),
        sync(),
      ]),
    );
    c.sock.end();
    await sleep(500);
    const ids = await idsInTable();
    const evs = await statementsOf(r, 'hangup');
    for (const id of [117, 118])
      if (ids.includes(id)) expect(mentions(evs, id), `${id}`).toBe(true);
  });

  it('`replay` shows a statement with terminal control bytes without letting them redraw the screen', async () => {
    const c = await rawAs(r.g, 'replay-escape');
    // Cursor up, erase line: on a terminal this would overwrite the line printed before.
    const sql = `SELECT 1 /* \u001b[1A\u001b[2K\u001b[32mALLOW harmless\u001b[0m */`;
    expect(firstError(await c.simple(sql))).toBeUndefined();
    c.destroy();
    const evs = await statementsOf(r, 'replay-escape');
    expect(evs[0].ev.sql).toBe(sql);
    const events = await createReader([dirSource(r.sinkDir), dirSource(r.spoolDir)]).sessionEvents(
      evs[0].ev.session_id,
    );
    const shown = formatTimeline(events!);
    expect(shown).toContain('SELECT 1');
    expect(shown).not.toContain('\u001b');
  });

  it('the statement event is in the spool file while the statement is still running', async () => {
    const c = await rawAs(r.g, 'write-ahead');
    await c.write(query(`SELECT pg_sleep(0.6), 'marker-write-ahead-119'`));
    await sleep(250);
    let spool = '';
    for (const n of readdirSync(r.spoolDir).filter((x) => x.endsWith('.jsonl')))
      spool += readFileSync(join(r.spoolDir, n), 'latin1');
    expect(spool).toContain('marker-write-ahead-119');
    await c.until('Z');
    c.destroy();
  });

  it('an error later in the Query rolls the first statement back; both statements are recorded', async () => {
    const c = await rawAs(r.g, 'implicit-rollback');
    const m = await c.simple(`INSERT INTO t VALUES (120, 'rolled'); SELECT 1/0`);
    expect(firstError(m)?.C).toBe('22012');
    c.destroy();
    expect(await idsInTable()).not.toContain(120);
    const evs = await statementsOf(r, 'implicit-rollback');
    expect(evs.map(({ ev }) => ev.sql)).toEqual([
      `INSERT INTO t VALUES (120, 'rolled')`,
      'SELECT 1/0',
    ]);
    expect(evs[1].result).toMatchObject({ outcome: 'error', sqlstate: '22012' });
  });

  it('an extended group failing at an unknown portal: the Executes before it are recorded', async () => {
    const c = await rawAs(r.g, 'unknown-portal');
    await c.simple('BEGIN');
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO t VALUES ($1, $2)'),
        bind('', '', ['121', 'before-unknown']),
        execute(''),
        execute('no_such_portal'),
        sync(),
      ]),
    );
    expect(firstError(await readies(c, 1))?.C).toBe('34000');
    await c.simple('ROLLBACK');
    c.destroy();
    const evs = await statementsOf(r, 'unknown-portal');
    expect(mentions(evs, 121)).toBe(true);
  });

  // ---- verify, on the recording made above ----------------------------------------------

  /** A fresh copy of the closed recording (sink), for one tampering. */
  function copy(): string {
    const d = mkdtempSync(join(tmpdir(), 'portcullis-auditvar-copy-'));
    copies.push(d);
    cpSync(r.sinkDir, d, { recursive: true, filter: (s) => !s.includes('.shipped') });
    return d;
  }
  const lastSegOf = (lines: Line[]) => lines.at(-1)!.seg;
  const sessionOf = (lines: Line[], sub: string) =>
    (JSON.parse(lines.find((l) => l.text.includes(`"sub":"${sub}"`))!.text) as RecordedEvent)
      .session_id;

  it('a clean recording over several segments verifies as intact and sealed (CLI exit 0)', async () => {
    await r.close();
    const segs = readdirSync(r.sinkDir).filter((n) => n.endsWith('.jsonl'));
    expect(segs.length).toBeGreaterThan(2);
    const keyFile = join(r.base, 'pub.json');
    writeFileSync(keyFile, JSON.stringify(KEYS.publicJwk));
    const v = await cli(['verify', '--dir', r.sinkDir, '--key', keyFile], r.base);
    expect(v.stdout).toContain('OK: every chain is intact and sealed');
    expect(v.code).toBe(0);
    // The sink and the spool together are just as clean.
    const both = await verifyDir([r.sinkDir, r.spoolDir]);
    expect(both.breaks).toEqual([]);
    expect(both.sealed).toBe(true);
  });

  it('editing a statement’s parameters and recomputing every later hash of its chain is a broken link', async () => {
    const d = copy();
    const lines = readLines(d);
    const sid = sessionOf(lines, 'late-portal');
    writeLines(
      d,
      rewriteChain(lines, sid, (ev) => {
        if (ev.type === 'statement' && Array.isArray(ev.params)) ev.params = ['999', 'forged'];
      }),
    );
    const v = await verifyDir([d]);
    expect(v.ok).toBe(false);
  });

  it('deleting every event of one session is a broken link', async () => {
    const d = copy();
    const lines = readLines(d);
    const sid = sessionOf(lines, 'multi-deny');
    writeLines(
      d,
      lines.filter((l) => !l.text.includes(`"session_id":"${sid}"`)),
    );
    expect((await verifyDir([d])).ok).toBe(false);
  });

  it('swapping the contents of two segments is a broken link', async () => {
    const d = copy();
    const segs = readdirSync(d)
      .filter((n) => n.endsWith('.jsonl'))
      .sort();
    const a = readFileSync(join(d, segs[0]));
    const b = readFileSync(join(d, segs[1]));
    writeFileSync(join(d, segs[0]), b);
    writeFileSync(join(d, segs[1]), a);
    expect((await verifyDir([d])).ok).toBe(false);
  });

  it('dropping the last segment is never reported as sealed', async () => {
    const d = copy();
    const segs = readdirSync(d)
      .filter((n) => n.endsWith('.jsonl'))
      .sort();
    rmSync(join(d, segs.at(-1)!));
    expect((await verifyDir([d])).sealed).toBe(false);
  });

  it('truncating at a line boundary to drop the final checkpoint is never reported as sealed', async () => {
    const d = copy();
    const lines = readLines(d);
    const cut = lastIndex(lines, (l) => l.text.includes('"type":"checkpoint"'));
    writeLines(d, lines.slice(0, cut));
    expect((await verifyDir([d])).sealed).toBe(false);
  });

  it('a checkpoint forged with another key is a broken link', async () => {
    const d = copy();
    const lines = readLines(d);
    const sid = sessionOf(lines, 'copy-in');
    const forged = rewriteChain(lines, sid, (ev) => {
      if (ev.type === 'statement') ev.sql = 'SELECT 1';
    });
    // Re-sign every checkpoint with a key that is not the gateway's.
    const signer = createSigner(OTHER_KEYS.privateJwk, 'k1');
    const out = rechainGateway(forged, (payload) => signer.sign(payload));
    writeLines(d, out);
    expect((await verifyDir([d])).ok).toBe(false);
  });

  it('a segment of another gateway instance spliced into the sequence is a broken link', async () => {
    const d = copy();
    const other = await recGateway();
    try {
      const c = await rawAs(other.g, 'other-instance');
      await c.simple('SELECT 1');
      c.destroy();
      await other.close();
      const mine = readdirSync(d)
        .filter((n) => n.endsWith('.jsonl'))
        .sort();
      const theirs = readdirSync(other.sinkDir).filter((n) => n.endsWith('.jsonl'));
      // Their segment, under the name of my last one.
      writeFileSync(join(d, mine.at(-1)!), readFileSync(join(other.sinkDir, theirs[0])));
      expect((await verifyDir([d])).ok).toBe(false);
    } finally {
      await other.close();
      rmSync(other.base, { recursive: true, force: true });
    }
  });

  it('a forged session inserted before the final checkpoint is a broken link, not an unsealed tail', async () => {
    const d = copy();
    const lines = readLines(d);
    const sid = sessionOf(lines, 'copy-in');
    // A complete fake session, its own valid chain, placed before the final checkpoint.
    const fake = rewriteChain(
      lines.filter((l) => l.text.includes(`"session_id":"${sid}"`)),
      sid,
      (ev) => {
        ev.session_id = 'forged-session-0001';
        if (ev.type === 'statement') ev.sql = `DELETE FROM t`;
      },
    );
    const cut = lastIndex(lines, (l) => l.text.includes('"final":true'));
    const seg = lines[cut].seg;
    writeLines(d, [
      ...lines.slice(0, cut),
      ...fake.map((l) => ({ seg, text: l.text })),
      ...lines.slice(cut),
    ]);
    const v = await verifyDir([d]);
    expect(v.ok).toBe(false);
  });

  it('a forged statement appended to an ended session after the final checkpoint is a broken link', async () => {
    const d = copy();
    const lines = readLines(d);
    const sid = sessionOf(lines, 'copy-in');
    const own = lines.filter((l) => l.text.includes(`"session_id":"${sid}"`));
    const last = JSON.parse(own.at(-1)!.text) as Record<string, unknown>;
    const stmt = JSON.parse(own.find((l) => l.text.includes('"type":"statement"'))!.text) as Record<
      string,
      unknown
    >;
    const extra = reseal({
      ...stmt,
      seq: (last.seq as number) + 1,
      prev_hash: last.hash,
      sql: 'DROP TABLE t',
    });
    writeLines(d, [...lines, { seg: lastSegOf(lines), text: extra }]);
    expect((await verifyDir([d])).ok).toBe(false);
  });

  it('a directory whose segments were all deleted is not reported as intact and sealed', async () => {
    const d = copy();
    for (const n of readdirSync(d).filter((x) => x.endsWith('.jsonl'))) rmSync(join(d, n));
    const v = await cli(['verify', '--dir', d], d);
    expect(v.stdout).not.toContain('OK: every chain is intact and sealed');
    expect(v.code).not.toBe(0);
  });

  it('two sources holding different copies of a segment: the tampered copy is reported', async () => {
    const good = copy();
    const bad = copy();
    const lines = readLines(bad);
    const i = lines.findIndex((l) => l.text.includes('"type":"statement"'));
    const ev = JSON.parse(lines[i].text) as Record<string, unknown>;
    ev.sql = 'SELECT edited';
    lines[i] = { seg: lines[i].seg, text: JSON.stringify(ev) };
    writeLines(bad, lines);
    expect((await verifyDir([bad])).ok).toBe(false);
    // The intact copy first, the edited one second: both are the recording.
    const v = await verifyDir([good, bad]);
    expect(v.ok).toBe(false);
  });

  it('without a public key, a recording rewritten end to end is not reported as intact and sealed', async () => {
    const d = copy();
    const lines = readLines(d);
    const sid = sessionOf(lines, 'copy-in');
    // Rewrite a session, then every checkpoint's heads and hash, with garbage signatures.
    const forged = rewriteChain(lines, sid, (ev) => {
      if (ev.type === 'statement') ev.sql = 'SELECT harmless';
    });
    const out = rechainGateway(forged);
    writeLines(d, out);
    const cwd = mkdtempSync(join(tmpdir(), 'portcullis-auditvar-nokey-'));
    copies.push(cwd);
    const v = await cli(['verify', '--dir', d], cwd);
    expect(v.stdout).not.toContain('OK: every chain is intact and sealed');
    expect(v.code).not.toBe(0);
  });
});

// ---- the spool fails mid-session ----------------------------------------------------------

describe('a spool write that fails mid-session', () => {
  it('fail closed: a statement refused with 58030 never appears in the recording as allowed and unanswered', async () => {
    const r = await recGateway({ durability: 'fsync', failOpen: false });
    try {
      const c = await rawAs(r.g, 'spool-fails-closed');
      expect(firstError(await c.simple(`INSERT INTO t VALUES (201, 'before')`))).toBeUndefined();
      r.fault.broken = true;
      const m = await c.simple(`INSERT INTO t VALUES (202, 'refused')`);
      expect(firstError(m)?.C).toBe('58030');
      r.fault.broken = false;
      await sleep(600); // the spool retries every 250 ms
      expect(firstError(await c.simple(`INSERT INTO t VALUES (203, 'after')`))).toBeUndefined();
      c.destroy();
      await r.close();
      expect(await idsInTable()).toEqual(expect.arrayContaining([201, 203]));
      expect(await idsInTable()).not.toContain(202);
      const evs = await statementsOf(r, 'spool-fails-closed');
      for (const { ev, result } of evs.filter(({ ev }) => /\b202\b/.test(String(ev.sql))))
        // Either not recorded, or recorded as refused: never an allowed statement with no outcome.
        expect(result?.outcome, JSON.stringify(ev.sql)).toBe('refused');
      expect(mentions(evs, 201) && mentions(evs, 203)).toBe(true);
      expect((await verifyDir([r.sinkDir])).sealed).toBe(true);
    } finally {
      await r.close();
      rmSync(r.base, { recursive: true, force: true });
    }
  });

  it('fail open: a statement run while the spool failed is recorded once it recovers, or a gap is', async () => {
    const r = await recGateway({ durability: 'fsync', failOpen: true });
    try {
      const c = await rawAs(r.g, 'spool-fails-open');
      r.fault.broken = true;
      expect(firstError(await c.simple(`INSERT INTO t VALUES (204, 'open')`))).toBeUndefined();
      r.fault.broken = false;
      await sleep(600);
      c.destroy();
      await r.close();
      expect(await idsInTable()).toContain(204);
      const evs = await statementsOf(r, 'spool-fails-open');
      const gap = (await allEvents(r)).some((e) => e.type === 'recording_gap');
      expect(mentions(evs, 204) || gap).toBe(true);
      expect((await verifyDir([r.sinkDir])).ok).toBe(true);
    } finally {
      await r.close();
      rmSync(r.base, { recursive: true, force: true });
    }
  });

  for (const durability of ['write', 'off'] as const)
    it(`durability '${durability}': every statement that ran is in the sealed recording`, async () => {
      const r = await recGateway({ durability });
      const id = durability === 'write' ? 205 : 206;
      try {
        const c = await rawAs(r.g, `durability-${durability}`);
        await c.write(
          Buffer.concat([
            parse('', 'INSERT INTO t VALUES ($1, $2)'),
            bind('', '', [String(id), durability]),
            execute(''),
            sync(),
          ]),
        );
        expect(firstError(await readies(c, 1))).toBeUndefined();
        c.destroy();
        await r.close();
        const evs = await statementsOf(r, `durability-${durability}`);
        expect(evs.map(({ ev }) => ev.params)).toEqual([[String(id), durability]]);
        expect((await verifyDir([r.sinkDir])).sealed).toBe(true);
      } finally {
        await r.close();
        rmSync(r.base, { recursive: true, force: true });
      }
    });
});
