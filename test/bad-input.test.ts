// Hostile and broken clients at the wire level (raw sockets). After each case a fresh client
// must still connect and query (the canary), and the gateway must not run what it should not.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { setLogSink } from '../src/util/logger.js';
import {
  gatewayClient,
  rawLogin,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import {
  RawClient,
  bind,
  bindRaw,
  copyData,
  execute,
  fields,
  firstError,
  functionCall,
  gssencRequest,
  msg,
  parse,
  password,
  query,
  rows,
  sslRequest,
  startup,
  sync,
  terminate,
  untyped,
  type Message,
  i32,
} from './helpers/raw.js';

const DB = 'dp_bad_input';
const MiB = 1024 * 1024;
/** Main gateway: TLS on, 1 MiB message cap, 500 ms message timeout. */
let g: TestGateway;
/** Second gateway: no TLS, a short (2 s) authentication timeout. */
let gt: TestGateway;
/** Third gateway: no TLS, default timeouts. */
let gn: TestGateway;
/** Fourth gateway: no TLS, 1 MiB message cap, default timeouts. */
let gb: TestGateway;
let certDir: string;
let admin: pg.Client;

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE victims (id int); INSERT INTO victims SELECT generate_series(1, 10);',
  );
  certDir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
    ],
    { stdio: 'ignore' },
  );
  g = await startTestGateway(DB, {
    listen: {
      host: '127.0.0.1',
      port: 0,
      tls: { cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') },
    },
    session: { maxMessageBytes: MiB, messageTimeoutMs: 500 },
  });
  gt = await startTestGateway(DB, { auth: { jwt: { jwks: { dev: true } }, timeoutMs: 2000 } });
  gn = await startTestGateway(DB);
  gb = await startTestGateway(DB, { session: { maxMessageBytes: MiB } });
  admin = await adminClient(DB);
});
afterAll(async () => {
  await admin?.end();
  await g?.stop();
  await gt?.stop();
  await gn?.stop();
  await gb?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

/** A fresh, well-behaved client connects and queries. */
async function canary(gw: TestGateway = g): Promise<void> {
  const c = await gatewayClient(gw, DB);
  const r = await c.query('SELECT count(*)::int AS n FROM victims');
  expect(r.rows[0].n).toBe(10);
  await c.end();
}

const loggedIn = (gw: TestGateway = g): Promise<RawClient> => rawLogin(gw, DB);

async function fresh(gw: TestGateway = g): Promise<RawClient> {
  return RawClient.connect(gw.port);
}

/** The client ends with one FATAL ErrorResponse of `code`, then the connection closes. */
async function expectFatal(c: RawClient, code: string, text?: string | RegExp): Promise<void> {
  const ms = await c.rest(20_000);
  expect(c.ended).toBe(true);
  const errs = ms.filter((m) => m.type === 'E').map(fields);
  expect(errs.length).toBeGreaterThanOrEqual(1);
  const last = errs.at(-1)!;
  expect(last.S).toBe('FATAL');
  expect(last.C).toBe(code);
  if (text) expect(last.M).toMatch(text);
}

/** The server closes within the time (with or without an error first). */
async function expectClosed(c: RawClient, ms = 20_000): Promise<Message[]> {
  const got = await c.rest(ms);
  expect(c.ended).toBe(true);
  return got;
}

async function victims(): Promise<number> {
  return (await admin.query('SELECT count(*)::int AS n FROM victims')).rows[0].n;
}

describe('framing after login', () => {
  it('a truncated message followed by a close leaves no trace', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([Buffer.from('Q'), i32(100), Buffer.from('SELECT 1; ')]));
    c.destroy();
    await canary();
  });

  it('length below 4 (51 00 00 00 03): FATAL 08P01, closed', async () => {
    const c = await loggedIn();
    await c.write(Buffer.from([0x51, 0, 0, 0, 3]));
    await expectFatal(c, '08P01', /invalid message length/);
    await canary();
  });

  it('negative length (51 FF FF FF FF): FATAL 08P01, closed', async () => {
    const c = await loggedIn();
    await c.write(Buffer.from([0x51, 0xff, 0xff, 0xff, 0xff]));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('a Query claiming 2 MiB with a 1 MiB cap: 54000 before the body is sent; the body is dropped, the session goes on', async () => {
    const c = await loggedIn(gb);
    await c.write(Buffer.concat([Buffer.from('Q'), i32(2 * MiB + 4)]));
    const refused = await c.until('Z');
    expect(refused.map((m) => m.type).join('')).toBe('EZ');
    expect(fields(refused[0]).C).toBe('54000');
    expect(fields(refused[0]).M).toBe(
      `a message of ${2 * MiB + 5} bytes is over the gateway's limit of ${MiB} bytes`,
    );
    // The body, a statement that would have emptied the table, never runs.
    const body = Buffer.alloc(2 * MiB, 0x20);
    body.write('DELETE FROM victims;');
    body[body.length - 1] = 0;
    for (let i = 0; i < body.length; i += 256 << 10)
      await c.write(body.subarray(i, i + (256 << 10)));
    expect(rows(await c.simple('SELECT count(*) FROM victims'))).toEqual([['10']]);
    c.destroy();
    await canary(gb);
  });

  it('a Bind over the cap in a pipelined group: the group fails with 54000 at its Sync, the next one runs', async () => {
    const c = await loggedIn(gb);
    const big = bind('', 's', ['x'.repeat(MiB + 100)]);
    await c.write(
      Buffer.concat([
        parse('s', 'INSERT INTO victims VALUES ($1::text::int * 0 + 99)'),
        big,
        execute(),
        sync(),
        parse('', 'SELECT count(*) FROM victims'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    // The Parse before it runs, as it would before any error in the group.
    const first = await c.until('Z');
    expect(first.map((m) => m.type).join('')).toBe('1EZ');
    expect(fields(first[1]).C).toBe('54000');
    const second = await c.until('Z');
    expect(rows(second)).toEqual([['10']]);
    c.destroy();
  });

  it('CopyData over the cap: the COPY fails (57014 naming the limit), the rest of its data is dropped, the session goes on', async () => {
    const c = await loggedIn(gb);
    await c.simple('CREATE TEMP TABLE copied (id int)');
    await c.write(query('COPY copied FROM STDIN'));
    await c.until('G');
    await c.write(
      Buffer.concat([
        copyData('11\n'),
        copyData('12\n'.repeat(400_000)),
        copyData('13\n'),
        msg('c'),
      ]),
    );
    const ms = await c.until('Z');
    const err = fields(ms.find((m) => m.type === 'E')!);
    expect(err.C).toBe('57014');
    expect(err.M).toMatch(/over the gateway's limit of 1048576 bytes \(session\.maxMessageBytes\)/);
    expect(rows(await c.simple('SELECT count(*) FROM copied'))).toEqual([['0']]);
    c.destroy();
  });

  it('a Query claiming 1 GiB or more (more than PostgreSQL reads): FATAL 08P01', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([Buffer.from('Q'), i32(0x40000000)]));
    await expectFatal(c, '08P01', /exceeds the limit/);
    await canary();
  });

  it('a message of a small kind (Describe) over the cap: FATAL 08P01 before the body is sent', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([Buffer.from('D'), i32(2 * MiB)]));
    await expectFatal(c, '08P01', /exceeds the limit/);
    await canary();
  });

  it('an unknown message type after login: FATAL 08P01', async () => {
    const c = await loggedIn();
    await c.write(msg('z'));
    await expectFatal(c, '08P01', /unexpected message type/);
    await canary();
  });

  it('regression: an unknown message type claiming a long body is refused at its type byte, not at the message timeout', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([Buffer.from('z'), i32(512 * 1024)]));
    await expectFatal(c, '08P01', /unexpected message type 0x7a/);
    await canary();
  });

  it("a backend-only message ('T' RowDescription) from the client: FATAL 08P01", async () => {
    const c = await loggedIn();
    const field = Buffer.concat([
      Buffer.from('x\0'),
      i32(0),
      Buffer.from([0, 0]),
      i32(23),
      Buffer.from([0, 4]),
      i32(-1),
      Buffer.from([0, 0]),
    ]);
    await c.write(msg('T', Buffer.from([0, 1]), field));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('1 MiB of random bytes after login: closed, canary fine', async () => {
    const c = await loggedIn();
    await c.write(randomBytes(MiB));
    await expectClosed(c);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('a truncated message then silence: closed by the message timeout', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([Buffer.from('Q'), i32(100), Buffer.from('0123456789')]));
    await expectFatal(c, '08P01', /incomplete message timed out/);
    await canary();
  });
});

describe('startup phase', () => {
  it('garbage bytes before startup: closed', async () => {
    const c = await fresh();
    await c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const ms = await expectClosed(c);
    for (const m of ms) expect(m.type).toBe('E');
    await canary();
  });

  it('an oversized startup packet (> 10000 bytes): FATAL 08P01', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB, application_name: 'a'.repeat(20_000) }));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('a startup packet shorter than 8 bytes (00 00 00 07 00 03 00 00): closed', async () => {
    const c = await fresh();
    await c.write(Buffer.from([0, 0, 0, 7, 0, 3, 0, 0]));
    await expectFatal(c, '08P01', /invalid message length/);
    await canary();
  });

  it('a PasswordMessage as the first message: closed without a login', async () => {
    const c = await fresh();
    await c.write(Buffer.from([0x70, 0, 0, 0, 0x0b, ...Buffer.from('secret\0')]));
    const ms = await expectClosed(c);
    expect(ms.some((m) => m.type === 'R')).toBe(false);
    await canary();
  });

  it('regression: a second StartupMessage instead of the password is refused at once (08P01), not by the authentication timeout', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB }));
    expect((await c.next())?.type).toBe('R');
    await c.write(startup({ user: 'svc_admin', database: DB }));
    await expectFatal(c, '08P01', /expected a password message/);
    await canary();
  });

  it('a startup packet without its final terminator: FATAL 08P01', async () => {
    const c = await fresh();
    const body = Buffer.concat([i32(3 << 16), Buffer.from(`user\0agent-1\0database\0${DB}\0`)]);
    await c.write(untyped(body));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('an unsupported major protocol version: FATAL 0A000', async () => {
    const c = await fresh();
    await c.write(untyped(i32(2 << 16), Buffer.from(`user\0agent-1\0\0`)));
    await expectFatal(c, '0A000');
    await canary();
  });

  it('protocol 3.2: NegotiateProtocolVersion (3.0), then a normal login', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB }, 2));
    const v = await c.next();
    expect(v?.type).toBe('v');
    expect(v!.body.readInt32BE(0)).toBe(0);
    const r = await c.next();
    expect(r?.type).toBe('R');
    await c.write(password(await g.token()));
    const ms = await c.until('Z');
    expect(ms.at(-1)?.type).toBe('Z');
    expect(rows(await c.simple('SELECT 32'))).toEqual([['32']]);
    c.destroy();
  });

  it('protocol 3.2 with a _pq_ option: the option is reported unsupported', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB, '_pq_.foo': 'bar' }, 2));
    const v = await c.next();
    expect(v?.type).toBe('v');
    expect(v!.body.readInt32BE(4)).toBe(1);
    expect(v!.body.toString('utf8', 8, v!.body.length - 1)).toBe('_pq_.foo');
    expect((await c.next())?.type).toBe('R');
    c.destroy();
  });

  const refusedParams: [string, [string, string][], string][] = [
    ['options=-c role=x', [['options', '-c role=x']], '42501'],
    ['role=x', [['role', 'x']], '42501'],
    [
      'options=-c standard_conforming_strings=off',
      [['options', '-c standard_conforming_strings=off']],
      '42501',
    ],
    ['options=--search_path=evil', [['options', '--search_path=evil']], '42501'],
    ['session_authorization=x', [['session_authorization', 'x']], '42501'],
    ['replication=database', [['replication', 'database']], '42501'],
  ];
  for (const [name, extra, code] of refusedParams) {
    it(`startup with ${name}: refused with an ErrorResponse before any password`, async () => {
      const c = await fresh();
      await c.write(startup([['user', 'agent-1'], ['database', DB], ...extra]));
      await expectFatal(c, code);
      await canary();
    });
  }

  it('startup with an empty database: refused (3D000), not defaulted to the user name', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: '' }));
    await expectFatal(c, '3D000');
    const d = await fresh();
    await d.write(startup({ user: 'agent-1' }));
    await expectFatal(d, '3D000');
  });

  for (const how of ['TimeZone', 'options']) {
    it(`startup with an invalid TimeZone (${how === 'options' ? 'in options' : 'as a parameter'}): the client is told which setting, the log never quotes it`, async () => {
      const value = 'Not/A_Zone-' + 'x'.repeat(4000);
      const extra: Record<string, string> =
        how === 'options' ? { options: `-c TimeZone=${value}` } : { TimeZone: value };
      const logs: string[] = [];
      setLogSink((l) => logs.push(l));
      try {
        const c = await fresh();
        await c.write(startup({ user: 'agent-1', database: DB, ...extra }));
        expect((await c.next())?.type).toBe('R');
        await c.write(password(await g.token()));
        // PostgreSQL's own answer to a bad startup setting: FATAL 22023.
        await expectFatal(c, '22023', /startup parameter "TimeZone"/);
      } finally {
        setLogSink((l) => process.stderr.write(l + '\n'));
      }
      expect(logs.join('\n')).toContain('upstream refused a startup setting');
      expect(logs.join('\n')).not.toContain('Not/A_Zone');
      await canary();
    });
  }

  it('startup with duplicate keys: refused', async () => {
    const c = await fresh();
    await c.write(
      startup([
        ['user', 'agent-1'],
        ['database', DB],
        ['user', 'svc_admin'],
      ]),
    );
    await expectFatal(c, '08P01', /duplicate/);
    await canary();
  });
});

describe('TLS and GSS negotiation', () => {
  it('bytes pipelined right after SSLRequest: no S, "received unencrypted data after SSL request"', async () => {
    const c = await fresh();
    await c.write(
      Buffer.concat([
        sslRequest(),
        startup({ user: 'agent-1', database: DB }),
        query('DELETE FROM victims'),
      ]),
    );
    // Had the gateway answered 'S', the first byte would be 'S', not an ErrorResponse.
    const ms = await c.rest();
    expect(c.ended).toBe(true);
    expect(ms.map((m) => m.type)).toEqual(['E']);
    expect(fields(ms[0]).C).toBe('08P01');
    expect(fields(ms[0]).M).toBe('received unencrypted data after SSL request');
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SSLRequest with TLS configured: S, then a full login over TLS', async () => {
    const c = await RawClient.tls(g.port);
    await c.login(DB, await g.token());
    expect(rows(await c.simple('SELECT 7'))).toEqual([['7']]);
    c.destroy();
  });

  it('node pg with ssl reaches the database through the TLS listener', async () => {
    const c = await gatewayClient(g, DB, { pg: { ssl: { rejectUnauthorized: false } } });
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await c.end();
  });

  it('SSLRequest without TLS configured: N, then a plaintext login on the same socket', async () => {
    const c = await fresh(gn);
    await c.write(sslRequest());
    expect(await c.byte()).toBe('N');
    await c.login(DB, await gn.token());
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });

  it('GSSENCRequest: N, then a plaintext login on the same socket', async () => {
    const c = await fresh();
    await c.write(gssencRequest());
    expect(await c.byte()).toBe('N');
    await c.login(DB, await g.token());
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });
});

describe('messages after login', () => {
  it('Terminate followed by a Query in one write: the Query never runs', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([terminate(), query('DELETE FROM victims')]));
    await expectClosed(c);
    // Give a forwarded DELETE every chance to have happened before checking.
    await new Promise((r) => setTimeout(r, 500));
    expect(await victims()).toBe(10);
    await canary();
  });

  it('FunctionCall: ErrorResponse 42501, the session stays usable', async () => {
    const c = await loggedIn();
    // OID 2078 is set_config(text, text, bool).
    await c.write(functionCall(2078, ['search_path', 'evil, public', 'false']));
    const ms = await c.until('Z');
    expect(ms.map((m) => m.type).join('')).toBe('EZ');
    expect(fields(ms[0]).C).toBe('42501');
    const sp = await c.simple("SELECT current_setting('search_path')");
    expect(rows(sp)).toEqual([['public']]);
    c.destroy();
  });

  it('a Bind whose format count does not match its parameters: an ERROR, as PostgreSQL answers; the session goes on', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('', 'SELECT $1::int AS n'),
        bindRaw('', '', [0, 0], [Buffer.from('1')], []),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(ms.filter((m) => m.type === 'E').map((m) => [fields(m).S, fields(m).C])).toEqual([
      ['ERROR', '08P01'],
    ]);
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  });

  it('CopyData outside COPY is ignored', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([copyData('1\t2\n'), query('SELECT 1')]));
    const ms = await c.until('Z');
    expect(ms.map((m) => m.type).join('')).toBe('TDCZ');
    c.destroy();
  });

  it('Execute without Bind: an error, then the session is usable', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([execute('', 0), sync()]));
    const ms = await c.until('Z');
    expect(ms.map((m) => m.type).join('')).toBe('EZ');
    expect(fields(ms[0]).C).toBe('34000');
    expect(rows(await c.simple('SELECT 2'))).toEqual([['2']]);
    c.destroy();
  });

  it('Parse with two statements: refused with 42601, nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'SELECT 1; DELETE FROM victims'), bind('', ''), execute(), sync()]),
    );
    const ms = await c.until('Z');
    expect(ms.map((m) => m.type).join('')).toBe('EZ');
    expect(fields(ms[0]).C).toBe('42601');
    expect(await victims()).toBe(10);
    expect(rows(await c.simple('SELECT 3'))).toEqual([['3']]);
    c.destroy();
  });
});

describe('resource exhaustion', () => {
  it('a short statement whose names × tables would take seconds to analyse is refused (54001) at once', async () => {
    // 2,000 tables and 2,000 unqualified names, 34 KB: each name is a candidate column of
    // every table (17 s of analysis and 4 million facts, on the thread every client shares).
    const n = 2000;
    const sql =
      `SELECT 1 FROM ${Array.from({ length: n }, (_, i) => `t${i}`).join(', ')} WHERE ` +
      Array.from({ length: n }, (_, i) => `a${i} = 1`).join(' AND ');
    const c = await loggedIn();
    const err = firstError(await c.simple(sql));
    expect(err?.C).toBe('54001');
    expect(err?.M).toMatch(/too complex/);
    c.destroy();
    await canary(g);
  });

  it('a slow startup (1 byte per 100 ms) is closed by the authentication timeout', async () => {
    const c = await fresh(gt);
    const bytes = startup({ user: 'agent-1', database: DB, application_name: 'slowloris' });
    let sent = 0;
    const timer = setInterval(() => {
      if (c.ended || sent >= bytes.length) return clearInterval(timer);
      void c.write(bytes.subarray(sent, sent + 1));
      sent++;
    }, 100);
    const ms = await c.rest(30_000);
    clearInterval(timer);
    expect(c.ended).toBe(true);
    expect(sent).toBeLessThan(bytes.length);
    const err = ms.find((m) => m.type === 'E');
    if (err) expect(fields(err).M).toMatch(/timed out/);
    await canary(gt);
  });

  it('500 half-open connections: a canary works meanwhile, then all are closed by the auth timeout', async () => {
    const socks = await Promise.all(Array.from({ length: 500 }, () => RawClient.connect(gt.port)));
    await canary(gt);
    const closed = await Promise.all(socks.map((s) => s.closedWithin(60_000)));
    expect(closed.filter((x) => !x)).toHaveLength(0);
    await canary(gt);
  }, 120_000);

  it('a client that stops reading a large result: the gateway stops reading upstream, then delivers everything', async () => {
    const c = await loggedIn();
    c.sock.pause();
    await c.write(query("SELECT repeat('x', 1000) FROM generate_series(1, 200000)"));
    // The upstream backend ends up blocked writing to the gateway.
    const deadline = Date.now() + 60_000;
    let waiting = '';
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const r = await admin.query(
        "SELECT wait_event FROM pg_stat_activity WHERE query LIKE 'SELECT repeat(%' AND state = 'active' AND pid <> pg_backend_pid()",
      );
      waiting = r.rows[0]?.wait_event ?? '';
      if (waiting === 'ClientWrite') break;
    }
    expect(waiting).toBe('ClientWrite');
    // Still blocked a little later: nothing is buffered without bound meanwhile.
    await new Promise((r) => setTimeout(r, 2000));
    const again = await admin.query(
      "SELECT wait_event FROM pg_stat_activity WHERE query LIKE 'SELECT repeat(%' AND state = 'active' AND pid <> pg_backend_pid()",
    );
    expect(again.rows[0]?.wait_event).toBe('ClientWrite');
    c.sock.resume();
    let dataRows = 0;
    let complete = '';
    for (;;) {
      const m = await c.next(60_000);
      if (!m) break;
      if (m.type === 'D') dataRows++;
      else if (m.type === 'C') complete = m.body.toString('utf8', 0, m.body.length - 1);
      else if (m.type === 'Z') break;
    }
    expect(dataRows).toBe(200_000);
    expect(complete).toBe('SELECT 200000');
    c.destroy();
    await canary();
  }, 180_000);

  it('100,000 pipelined Query messages without reading: backpressured or cut, canary fine', async () => {
    const c = await loggedIn();
    c.sock.pause();
    const one = query('SELECT 1');
    const all = Buffer.concat(Array.from({ length: 100_000 }, () => one));
    void c.write(all);
    await new Promise((r) => setTimeout(r, 3000));
    await canary();
    c.sock.resume();
    let ready = 0;
    for (;;) {
      const m = await c.next(60_000);
      if (!m) break;
      if (m.type === 'Z' && ++ready === 100_000) break;
      if (m.type === 'E') expect(fields(m).S).toBe('FATAL');
    }
    // Either every query was answered in order, or the session was cut cleanly.
    expect(ready === 100_000 || c.ended).toBe(true);
    c.destroy();
    await canary();
  }, 240_000);

  it('afterwards no client session and no upstream connection is left behind', async () => {
    const deadline = Date.now() + 60_000;
    let sessions = -1;
    let backends = -1;
    while (Date.now() < deadline) {
      sessions = g.gw.sessions.size + gt.gw.sessions.size + gn.gw.sessions.size;
      const r = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        [DB],
      );
      backends = r.rows[0].n;
      if (sessions === 0 && backends === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(sessions).toBe(0);
    expect(backends).toBe(0);
  }, 90_000);
});
