// COPY through the gateway at the protocol level: COPY IN and OUT with the simple protocol,
// CopyFail, and COPY issued with the extended protocol the way libpq does it (a Sync after
// Execute that the server ignores in copy-in mode, then another after CopyDone).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Recorder } from '../src/record/types.js';
import { buildRecorder } from '../src/runtime/recording.js';
import {
  rawLogin,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  RawClient,
  bind,
  copyData,
  describe as describeMsg,
  execute,
  errorsOf,
  fields,
  flush,
  msg,
  parse,
  query,
  rows,
  sync,
  tag,
  type Message,
} from './helpers/raw.js';

const DB = 'dp_copy';
let g: TestGateway;
let admin: pg.Client;

const copyDone = () => msg('c');
const copyFail = (why: string) => msg('f', Buffer.from(why + '\0'));
const types = (ms: Message[]) => ms.map((m) => m.type).join('');

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE t (id int, name text)');
  g = await startTestGateway(DB);
  admin = await adminClient(DB);
});
afterAll(async () => {
  await admin?.end();
  await g?.stop();
});

const raw = (): Promise<RawClient> => rawLogin(g, DB);

async function count(where = 'true'): Promise<number> {
  return (await admin.query(`SELECT count(*)::int AS n FROM t WHERE ${where}`)).rows[0].n;
}

describe('COPY at the protocol level', () => {
  it('data sent behind a COPY belongs to the latest COPY sent, not to an earlier one that failed to start', async () => {
    const c = await raw();
    // All in one write: the first COPY fails (no such table) before the CopyDone is read,
    // and PostgreSQL reads that CopyDone as the second COPY's end.
    await c.write(
      Buffer.concat([
        query('COPY nosuch FROM STDIN'),
        query('COPY t FROM STDIN'),
        copyDone(),
        parse('', 'COPY t FROM STDIN'),
        bind('', ''),
        execute(),
        copyDone(),
        query('COPY (SELECT 42) TO STDOUT'),
        sync(),
      ]),
    );
    const first = await c.until('Z');
    expect(errorsOf(first).map(([, code]) => code)).toEqual(['42P01']);
    const second = await c.until('Z');
    expect(types(second)).toBe('GCZ');
    // The extended COPY, then the Query's COPY TO (which runs after it), then the Sync.
    const third = await c.until('Z');
    expect(errorsOf(third)).toEqual([]);
    expect(types(third)).toBe('12GCHdcCZ');
    expect(types(await c.until('Z'))).toBe('Z');
    // Before, the CopyDone went to the failed COPY: 08P01 and the session closed.
    expect(c.ended).toBe(false);
    c.destroy();
  });

  it('simple COPY FROM STDIN: CopyInResponse, data, CopyDone, CommandComplete', async () => {
    const c = await raw();
    await c.write(query('COPY t FROM STDIN'));
    expect((await c.next())?.type).toBe('G');
    await c.write(
      Buffer.concat([copyData('1\tone\n2\ttwo\n'), copyData('3\tthree\n'), copyDone()]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('CZ');
    expect(tag(ms[0])).toBe('COPY 3');
    expect(await count()).toBe(3);
    c.destroy();
  });

  it('CopyFail aborts the COPY: nothing loaded, the session goes on', async () => {
    const c = await raw();
    await c.write(query('COPY t FROM STDIN'));
    expect((await c.next())?.type).toBe('G');
    await c.write(Buffer.concat([copyData('10\tten\n'), copyFail('client gave up')]));
    const ms = await c.until('Z');
    expect(types(ms)).toBe('EZ');
    expect(fields(ms[0]).M).toContain('client gave up');
    expect(await count('id = 10')).toBe(0);
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });

  it('COPY TO STDOUT streams CopyData rows', async () => {
    const c = await raw();
    const ms = await c.simple('COPY (SELECT id, name FROM t ORDER BY id) TO STDOUT');
    expect(types(ms)).toBe('HdddcCZ');
    expect(
      ms
        .filter((m) => m.type === 'd')
        .map((m) => m.body.toString())
        .join(''),
    ).toBe('1\tone\n2\ttwo\n3\tthree\n');
    c.destroy();
  });

  it('regression: extended-protocol COPY FROM STDIN, libpq style, keeps the session in step (the server ignores a Sync in copy-in mode)', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', 'COPY t FROM STDIN'),
        bind('', ''),
        describeMsg('P', ''),
        execute(),
        sync(),
      ]),
    );
    const head = [await c.next(), await c.next(), await c.next(), await c.next()];
    expect(head.map((m) => m?.type).join('')).toBe('12nG');
    await c.write(Buffer.concat([copyData('20\ttwenty\n'), copyDone(), sync()]));
    const ms = await c.until('Z');
    expect(types(ms)).toBe('CZ');
    expect(tag(ms[0])).toBe('COPY 1');
    expect(await count('id = 20')).toBe(1);
    // The session is in step afterwards: each request gets exactly its own answer, and a
    // refused statement gets the gateway's error, not the upstream's error for the marker.
    const after = await c.simple('SELECT 42');
    expect(types(after)).toBe('TDCZ');
    expect(rows(after)).toEqual([['42']]);
    const refused = await c.simple('SELEC broken');
    expect(types(refused)).toBe('EZ');
    expect(fields(refused[0]).C).toBe('42601');
    expect(fields(refused[0]).M).not.toContain('portcullis');
    expect(fields(refused[0]).M).toContain('SELEC');
    // Nothing is left pending in the session: a graceful stop closes it at once.
    const busy = [...g.gw.sessions].filter((s) => !s.idle());
    expect(busy).toHaveLength(0);
    c.destroy();
  });

  it('regression: COPY FROM STDIN after a SET in the same query string does not wait forever', async () => {
    const c = await raw();
    await c.write(query("SET client_encoding = 'UTF8'; COPY t FROM STDIN"));
    const head = await c.until('G');
    expect(head.at(-1)?.type).toBe('G');
    await c.write(Buffer.concat([copyData('30\tthirty\n'), copyDone()]));
    const ms = await c.until('Z');
    expect(ms.map((m) => m.type)).toContain('C');
    expect(ms.at(-1)?.type).toBe('Z');
    expect(await count('id = 30')).toBe(1);
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });

  // asyncpg sends the rows right behind the COPY statement, without waiting for the
  // CopyInResponse; the server reads them in order, so the gateway must forward them.
  it('regression: COPY data sent before the CopyInResponse reaches the table (simple protocol)', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        query('COPY t FROM STDIN'),
        copyData('40\tforty\n'),
        copyData('41\tforty-one\n'),
        copyDone(),
      ]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('GCZ');
    expect(tag(ms[1])).toBe('COPY 2');
    expect(await count('id IN (40, 41)')).toBe(2);
    expect(rows(await c.simple('SELECT 43'))).toEqual([['43']]);
    c.destroy();
  });

  it('regression: COPY data and the closing Sync sent before the CopyInResponse (extended protocol) keep the session in step', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([
        parse('', 'COPY t FROM STDIN'),
        bind('', ''),
        execute(),
        sync(),
        copyData('50\tfifty\n'),
        copyDone(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('12GCZ');
    expect(tag(ms[3])).toBe('COPY 1');
    expect(await count('id = 50')).toBe(1);
    const after = await c.simple('SELECT 51');
    expect(types(after)).toBe('TDCZ');
    expect(rows(after)).toEqual([['51']]);
    expect([...g.gw.sessions].filter((s) => !s.idle())).toHaveLength(0);
    c.destroy();
  });

  it('early COPY data of a COPY that fails upstream is ignored there, as without the gateway', async () => {
    const c = await raw();
    await c.write(
      Buffer.concat([query('COPY missing_table FROM STDIN'), copyData('1\n'), copyDone()]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('EZ');
    expect(fields(ms[0]).C).toBe('42P01');
    expect(rows(await c.simple('SELECT 52'))).toEqual([['52']]);
    c.destroy();
  });

  it('COPY data with no COPY sent is dropped: the statement after it runs normally', async () => {
    const c = await raw();
    await c.write(Buffer.concat([copyData('60\tsixty\n'), copyDone(), query('SELECT 61')]));
    const ms = await c.until('Z');
    expect(rows(ms)).toEqual([['61']]);
    expect(await count('id = 60')).toBe(0);
    c.destroy();
  });

  it('a client that ends its connection before its COPY starts leaves no COPY running upstream', async () => {
    const c = await raw();
    // The COPY waits behind a statement, and the client half-closes before it starts:
    // PostgreSQL would wait for data that cannot come.
    await c.write(
      Buffer.concat([
        query("SELECT pg_sleep(0.3), 'copy-fin' AS marker"),
        query('COPY t FROM STDIN'),
      ]),
    );
    c.end();
    expect(await c.closedWithin(5000)).toBe(true);
    const running = async () =>
      (
        await admin.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'COPY t FROM STDIN' AND state = 'active'",
        )
      ).rows[0].n;
    const deadline = Date.now() + 5000;
    while ((await running()) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await running()).toBe(0);
  });

  it('with write-ahead recording, a COPY sent after an earlier part of its group failed is skipped, not waited for', async () => {
    const base = mkdtempSync(join(tmpdir(), 'copy-rec-'));
    const recording = {
      enabled: true,
      spoolDir: join(base, 'spool'),
      durability: 'fsync',
      sinks: [],
    };
    const real = (await buildRecorder(recording as never, base, '.data'))!;
    // A slow disk: each write-ahead record takes 100 ms to be durable, so the first part's
    // error comes while the COPY part waits for its record.
    const slow: Recorder = {
      ...real,
      stats: () => real.stats(),
      get healthy() {
        return real.healthy;
      },
      gatewayEvent: (t, f) => real.gatewayEvent(t, f),
      close: () => real.close(),
      openSession: async (info) => {
        const r = await real.openSession(info);
        return new Proxy(r, {
          get(target, prop, recv) {
            if (prop !== 'statements') return Reflect.get(target, prop, recv);
            return (evs: never[]) => {
              const w = target.statements(evs);
              return new Promise((res) => setTimeout(() => res(w), 100));
            };
          },
        });
      },
    };
    const gr = await startTestGateway(DB, { recording } as never, { recorder: slow });
    try {
      const c = await rawLogin(gr, DB);
      // The COPY part waits for its durable record while the first part's error comes;
      // PostgreSQL then skips it up to the Sync.
      await c.write(
        Buffer.concat([
          parse('', 'SELECT 1 / 0'),
          bind('', ''),
          execute(),
          flush(),
          parse('', 'COPY t FROM STDIN'),
          bind('', ''),
          execute(),
          flush(),
          sync(),
        ]),
      );
      const ms = await c.until('Z', 5000);
      expect(types(ms)).toBe('1EZ');
      expect(fields(ms[1]).C).toBe('22012');
      expect(rows(await c.simple('SELECT 5'))).toEqual([['5']]);
      c.destroy();
    } finally {
      await gr.stop();
      await real.close().catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('a statement sent in the middle of COPY FROM STDIN ends the session (08P01); the COPY loads nothing', async () => {
    const c = await raw();
    await c.write(query('COPY t FROM STDIN'));
    expect((await c.next())?.type).toBe('G');
    await c.write(Buffer.concat([copyData('70\tseventy\n'), query('SELECT 1')]));
    const ms = await c.rest();
    // As from PostgreSQL: an ERROR for the message, then a FATAL.
    expect(errorsOf(ms)).toEqual([
      ['ERROR', '08P01'],
      ['FATAL', '08P01'],
    ]);
    expect(await c.closedWithin(5000)).toBe(true);
    expect(await count('id = 70')).toBe(0);
    const d = await raw();
    expect(rows(await d.simple('SELECT 71'))).toEqual([['71']]);
    d.destroy();
  });
});
