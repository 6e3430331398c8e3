// Class variants of the wire-level security corpus cases (SEC-W*): the same attack written
// another way. Each case states what the user must see on the wire and what must (not) reach
// the database; after a hostile client, a fresh well-behaved client must still work. The
// expected behaviour follows what PostgreSQL itself does with the same bytes where the
// gateway should behave alike (checked against the embedded PostgreSQL of the test run).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { SignJWT, importJWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKey } from '../../src/auth/index.js';
import {
  adminClient,
  freshDatabase,
  gatewayClient,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js';
import {
  gatewayDir,
  startGatewayProcess,
  type GatewayProcess,
} from '../helpers/gateway-process.js';
import {
  RawClient,
  bind,
  bindRaw,
  cancelRequest,
  close,
  copyData,
  copyDone,
  copyFail,
  describe as describeMsg,
  execute,
  fields,
  firstError,
  flush,
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
} from '../helpers/raw.js';
import { testPg } from '../pg-env.js';

const DB = 'wv_wire';
const MiB = 1024 * 1024;
/** TLS on, 1 MiB message cap, 500 ms message timeout, 1.5 s authentication timeout. */
let g: TestGateway;
/** No TLS, listening on every address (for the non-loopback case), short timeouts. */
let gn: TestGateway;
/** Corpus policy P1 (only public.orders is readable). */
let gp: TestGateway;
/** Bad-token cases only: its failure limiter must not lock out the other gateways' canary. */
let ga: TestGateway;
/** Failed-login lockout. */
let gl: TestGateway;
/** At most 3 clients. */
let gm: TestGateway;
let certDir: string;
let admin: pg.Client;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE victims (id int); INSERT INTO victims SELECT generate_series(1, 10);
     CREATE TABLE orders (id int PRIMARY KEY, amount int);
     INSERT INTO orders SELECT i, i * 10 FROM generate_series(1, 3) i;
     CREATE TABLE hidden_stuff (id int);
     CREATE TABLE sink (v text);`,
  );
  certDir = mkdtempSync(join(tmpdir(), 'portcullis-wv-tls-'));
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
  const short = { jwt: { jwks: { dev: true as const } }, timeoutMs: 1500 };
  [g, gn, gp, ga, gl, gm] = await Promise.all([
    startTestGateway(DB, {
      listen: {
        host: '127.0.0.1',
        port: 0,
        tls: { cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') },
      },
      auth: short,
      session: { maxMessageBytes: MiB, messageTimeoutMs: 500 },
    }),
    startTestGateway(DB, {
      listen: { host: '0.0.0.0', port: 0 },
      auth: short,
      session: { messageTimeoutMs: 500 },
    }),
    startTestGateway(DB, { policy: { files: ['test/security/policies/p1.rego'] } }),
    startTestGateway(DB, { auth: short }),
    startTestGateway(DB, { auth: short }),
    startTestGateway(DB, { listen: { host: '127.0.0.1', port: 0, maxClients: 3 } }),
  ]);
  admin = await adminClient(DB);
});

/** A case that did damage must not make the next one fail: put the tables back. */
afterEach(async () => {
  if (!admin) return;
  await admin.query(
    `DO $$ BEGIN
       IF (SELECT count(*) FROM victims) <> 10 THEN
         DELETE FROM victims; INSERT INTO victims SELECT generate_series(1, 10);
       END IF;
     END $$;
     DELETE FROM sink;
     DELETE FROM orders WHERE id > 3;
     UPDATE orders SET amount = id * 10 WHERE amount <> id * 10;`,
  );
});

afterAll(async () => {
  await admin?.end();
  await Promise.all([g, gn, gp, ga, gl, gm].map((x) => x?.stop()));
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

// ---- helpers -------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh, well-behaved client connects and queries. */
async function canary(gw: TestGateway = g): Promise<void> {
  const c = await gatewayClient(gw, DB);
  const r = await c.query('SELECT count(*)::int AS n FROM victims');
  expect(r.rows[0].n).toBe(10);
  await c.end();
}

async function canaryP1(): Promise<void> {
  const c = await gatewayClient(gp, DB);
  const r = await c.query('SELECT count(*)::int AS n FROM orders');
  expect(r.rows[0].n).toBe(3);
  await c.end();
}

/** Raw clients of the current case: closed after it, even when an assertion failed. */
const opened = new Set<RawClient>();
function track(c: RawClient): RawClient {
  opened.add(c);
  return c;
}
afterEach(() => {
  for (const c of opened) c.destroy();
  opened.clear();
});

const loggedIn = async (gw: TestGateway = g): Promise<RawClient> => track(await rawLogin(gw, DB));
const fresh = async (gw: TestGateway = g): Promise<RawClient> =>
  track(await RawClient.connect(gw.port));

/** Everything until the server closes; the connection must be closed by then. */
async function expectClosed(c: RawClient, ms = 15_000): Promise<Message[]> {
  const got = await c.rest(ms);
  expect(c.ended).toBe(true);
  return got;
}

/** The client ends with a FATAL ErrorResponse (of `code`, when given), then the close. */
async function expectFatal(c: RawClient, code?: string, text?: RegExp): Promise<Message[]> {
  const ms = await expectClosed(c);
  const errs = ms.filter((m) => m.type === 'E').map(fields);
  expect(errs.length).toBeGreaterThanOrEqual(1);
  const last = errs.at(-1)!;
  expect(last.S).toBe('FATAL');
  if (code) expect(last.C).toBe(code);
  if (text) expect(last.M).toMatch(text);
  return ms;
}

/** A refusal during startup: a FATAL error, no authentication request, the close. */
async function expectStartupRefused(c: RawClient, code?: string): Promise<void> {
  const ms = await expectFatal(c, code);
  expect(ms.some((m) => m.type === 'R')).toBe(false);
}

/** Messages until the close or the deadline, whichever comes first (never throws). */
async function drain(c: RawClient, ms = 3000): Promise<Message[]> {
  const deadline = Date.now() + ms;
  const out: Message[] = [];
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return out;
    try {
      const m = await c.next(left);
      if (!m) return out;
      out.push(m);
    } catch {
      return out;
    }
  }
}

/** The one-byte answer to SSLRequest/GSSENCRequest, or undefined (close or timeout). */
async function answerByte(c: RawClient, ms = 1500): Promise<string | undefined> {
  try {
    return await c.byte(ms);
  } catch {
    return undefined;
  }
}

const types = (ms: Message[]) => ms.map((m) => m.type).join('');

async function victims(): Promise<number> {
  return (await admin.query('SELECT count(*)::int AS n FROM victims')).rows[0].n;
}

async function orders(): Promise<string> {
  const r = await admin.query(
    "SELECT string_agg(id || ':' || amount, ',' ORDER BY id) AS s FROM orders",
  );
  return r.rows[0].s;
}

async function sinkRows(): Promise<number> {
  return (await admin.query('SELECT count(*)::int AS n FROM sink')).rows[0].n;
}

/** A startup packet from raw parts (for layouts the `startup` builder cannot make). */
function rawStartup(body: Buffer, version = 3 << 16): Buffer {
  return untyped(i32(version), body);
}

/** Login with extra startup parameters; resolves with the messages up to ReadyForQuery. */
async function loginWith(
  gw: TestGateway,
  params: [string, string][],
): Promise<{ c: RawClient; ms: Message[] }> {
  const c = await fresh(gw);
  await c.write(startup([['user', 'agent-1'], ['database', DB], ...params]));
  const ms: Message[] = [];
  for (;;) {
    const m = await c.next();
    if (!m) return { c, ms };
    ms.push(m);
    if (m.type === 'R' || m.type === 'E') break;
  }
  if (ms.at(-1)?.type === 'R') {
    await c.write(password(await gw.token()));
    ms.push(...(await c.until('Z')));
  }
  return { c, ms };
}

/** SSLRequest, 'S', a TLS handshake: a RawClient over the TLS socket. */
async function tlsClient(port: number, preface: Buffer[] = []): Promise<RawClient> {
  return track(await RawClient.tls(port, { preface }));
}

/** Run a long statement on `c` and return its messages (started, not awaited). */
function sleeper(c: RawClient, seconds: number): Promise<Message[]> {
  return c.write(query(`SELECT pg_sleep(${seconds})`)).then(() => c.until('Z', 20_000));
}

function keyData(ms: Message[]): { pid: number; secret: number } {
  const k = ms.find((m) => m.type === 'K')!;
  return { pid: k.body.readInt32BE(0), secret: k.body.readInt32BE(4) };
}

async function sendCancel(port: number, packet: Buffer): Promise<RawClient> {
  const c = track(await RawClient.connect(port));
  await c.write(packet);
  return c;
}

// ---- wire-framing --------------------------------------------------------------------

describe('wire-framing variants', () => {
  it('SEC-WF-001/w1: Query with length exactly 4 (no body, no NUL): FATAL 08P01, closed', async () => {
    const c = await loggedIn();
    await c.write(msg('Q'));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('SEC-WF-001/w2: Parse with length 4 (a body type with no body): FATAL 08P01, closed', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([msg('P'), sync()]));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('SEC-WF-001/w3: Bind with length 5 (one body byte) after a Parse of a DELETE: FATAL, nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('', 'DELETE FROM victims'),
        msg('B', Buffer.from([0])),
        execute(),
        sync(),
      ]),
    );
    await expectFatal(c, '08P01');
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WF-004/w1: Execute with length 0x80000000 (INT32_MIN): FATAL 08P01', async () => {
    const c = await loggedIn();
    await c.write(Buffer.from([0x45, 0x80, 0, 0, 0]));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('SEC-WF-004/w2: a valid Parse of a DELETE then a Bind with negative length in the same write: FATAL, nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('', 'DELETE FROM victims'),
        Buffer.from([0x42, 0xff, 0xff, 0xff, 0xfe]),
      ]),
    );
    await expectFatal(c, '08P01');
    await sleep(200);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WF-004/w3: a Query header one byte over the 1 MiB cap: 54000 at once, before any body; with no body, closed at the message timeout', async () => {
    const c = await loggedIn();
    const t0 = Date.now();
    await c.write(Buffer.concat([Buffer.from('Q'), i32(MiB + 1)]));
    const refused = await c.until('Z');
    expect(Date.now() - t0).toBeLessThan(400);
    expect(fields(refused[0]).C).toBe('54000');
    expect(fields(refused[0]).M).toMatch(/over the gateway's limit of 1048576 bytes/);
    await expectFatal(c, '08P01', /incomplete message timed out/);
    await canary();
  });

  it('SEC-WF-004/w3b: a Describe header over the cap (a kind that is never large): FATAL 08P01 at once', async () => {
    const c = await loggedIn();
    const t0 = Date.now();
    await c.write(Buffer.concat([Buffer.from('D'), i32(MiB + 1)]));
    await expectFatal(c, '08P01', /exceeds the limit/);
    expect(Date.now() - t0).toBeLessThan(400);
    await canary();
  });

  it('SEC-WF-004/w4: a Query of exactly the 1 MiB cap is read whole and answered without a FATAL', async () => {
    const c = await loggedIn();
    // 'Q' + length (= MiB) + text + NUL: the text fills the message to exactly the cap.
    const text = 'SELECT 1 --' + 'x'.repeat(MiB - 4 - 1 - 'SELECT 1 --'.length);
    await c.write(query(text));
    const ms = await c.until('Z');
    expect(ms.at(-1)?.type).toBe('Z');
    const e = firstError(ms);
    // Either it runs, or it is refused as too large for the parser (an ERROR, not a FATAL).
    if (e) expect(e.S).toBe('ERROR');
    expect(rows(await c.simple('SELECT 2'))).toEqual([['2']]);
    c.destroy();
  });

  it('SEC-WF-007/w1: only a type byte, then silence: closed by the message timeout', async () => {
    const c = await loggedIn();
    await c.write(Buffer.from('Q'));
    await expectFatal(c, '08P01', /timed out/);
    await canary();
  });

  it('SEC-WF-007/w2: a DELETE trickled one byte per 100 ms: cut by the message timeout, never runs', async () => {
    const c = await loggedIn();
    const bytes = query('DELETE FROM victims WHERE id > 0');
    let sent = 0;
    const timer = setInterval(() => {
      if (c.ended || sent >= bytes.length) return clearInterval(timer);
      void c.write(bytes.subarray(sent, sent + 1));
      sent++;
    }, 100);
    await expectFatal(c, '08P01', /timed out/);
    clearInterval(timer);
    expect(sent).toBeLessThan(bytes.length);
    await sleep(200);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WF-007/w3: a Query split into one TCP write per byte (fast) is read and answered normally', async () => {
    const c = await loggedIn();
    c.sock.setNoDelay(true);
    const bytes = Buffer.concat([query("SELECT 'split' AS s"), sync()]);
    for (let i = 0; i < bytes.length; i++) await c.write(bytes.subarray(i, i + 1));
    const ms = await c.until('Z');
    expect(rows(ms)).toEqual([['split']]);
    // The trailing Sync gets its own ReadyForQuery.
    expect((await c.next())?.type).toBe('Z');
    c.destroy();
  });

  const backendOnly: [string, Buffer][] = [
    ['Z (ReadyForQuery)', msg('Z', Buffer.from('I'))],
    ['K (BackendKeyData)', msg('K', i32(1), i32(2))],
    ['1 (ParseComplete)', msg('1')],
    ['A (NotificationResponse)', msg('A', i32(1), Buffer.from('chan\0payload\0'))],
    ['v (NegotiateProtocolVersion)', msg('v', i32(0), i32(0))],
    ['p (PasswordMessage after login)', password('again')],
  ];
  backendOnly.forEach(([name, bytes], i) => {
    it(`SEC-WF-010/w${i + 1}: a client sends ${name}: FATAL 08P01, closed`, async () => {
      const c = await loggedIn();
      await c.write(bytes);
      await expectFatal(c, '08P01');
      await canary();
    });
  });

  it('SEC-WF-013/w1: a valid Query followed by garbage in the same write: FATAL 08P01 last, closed', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([query('SELECT 1'), randomBytes(4096)]));
    await expectClosed(c);
    await canary();
  });

  it('SEC-WF-013/w2: 64 KiB of zero bytes after login (type 0x00): FATAL 08P01', async () => {
    const c = await loggedIn();
    await c.write(Buffer.alloc(64 * 1024));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('SEC-WF-013/w3: an unknown type byte inside an extended batch (Parse DELETE, Bind, z, Execute, Sync): nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'DELETE FROM victims'), bind('', ''), msg('z'), execute(), sync()]),
    );
    await expectFatal(c, '08P01');
    await sleep(200);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WF-013/w4: a Sync-less batch (Parse/Bind/Execute DELETE) then disconnect: nothing is deleted', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([parse('', 'DELETE FROM victims'), bind('', ''), execute()]));
    await sleep(100);
    c.destroy();
    await sleep(500);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WF-013/w5: a Flush-ended batch (Parse/Bind/Execute DELETE, Flush) then disconnect: rolled back', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'DELETE FROM victims'), bind('', ''), execute(), flush()]),
    );
    // The DELETE runs in PostgreSQL's implicit transaction, which no Sync ever commits.
    await c.until('C', 5000);
    c.destroy();
    await sleep(500);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WF-013/w6: a Query with an embedded NUL (SELECT 1\\0DELETE ...): an 08P01 error, the DELETE never runs', async () => {
    const c = await loggedIn();
    await c.write(msg('Q', Buffer.from('SELECT 1\0DELETE FROM victims\0')));
    const ms = await c.rest(3000).catch(() => [] as Message[]);
    const e = firstError(ms);
    expect(e?.C).toBe('08P01');
    expect(rows(ms)).toEqual([]);
    c.destroy();
    await sleep(200);
    expect(await victims()).toBe(10);
    await canary();
  });
});

// ---- wire-startup --------------------------------------------------------------------

describe('wire-startup variants', () => {
  it('SEC-WS-001/w1: a startup packet of length 4 (00 00 00 04): FATAL 08P01', async () => {
    const c = await fresh();
    await c.write(Buffer.from([0, 0, 0, 4]));
    await expectStartupRefused(c, '08P01');
    await canary();
  });

  it('SEC-WS-001/w2: a startup packet of exactly 8 bytes (version only, no parameters): refused', async () => {
    const c = await fresh();
    await c.write(Buffer.from([0, 0, 0, 8, 0, 3, 0, 0]));
    await expectStartupRefused(c);
    await canary();
  });

  it('SEC-WS-001/w3: a startup header of 10001 bytes: FATAL 08P01 at once; exactly 10000 bytes logs in', async () => {
    const c = await fresh();
    await c.write(i32(10_001));
    await expectStartupRefused(c, '08P01');
    const fixed = startup({ user: 'agent-1', database: DB, application_name: '' }).length;
    const name = 'a'.repeat(10_000 - fixed);
    const ok = await fresh();
    const pkt = startup({ user: 'agent-1', database: DB, application_name: name });
    expect(pkt.length).toBe(10_000);
    await ok.write(pkt);
    expect((await ok.next())?.type).toBe('R');
    await ok.write(password(await g.token()));
    expect((await ok.until('Z')).at(-1)?.type).toBe('Z');
    ok.destroy();
  });

  it('SEC-WS-004/w1: protocol 3.0 with a _pq_ option: NegotiateProtocolVersion names it, the option is not used, login works', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB, '_pq_.evil': 'on' }));
    const v = await c.next();
    expect(v?.type).toBe('v');
    expect(v!.body.readInt32BE(0)).toBe(0);
    expect(v!.body.toString('utf8', 8, v!.body.length - 1)).toBe('_pq_.evil');
    expect((await c.next())?.type).toBe('R');
    await c.write(password(await g.token()));
    expect((await c.until('Z')).at(-1)?.type).toBe('Z');
    c.destroy();
  });

  it('SEC-WS-004/w2: protocol 3.65535: NegotiateProtocolVersion 3.0, then a normal login', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB }, 0xffff));
    const v = await c.next();
    expect(v?.type).toBe('v');
    expect(v!.body.readInt32BE(0)).toBe(0);
    expect((await c.next())?.type).toBe('R');
    c.destroy();
  });

  const badVersions: [string, number][] = [
    ['1.0', 1 << 16],
    ['4.0', 4 << 16],
    ['1234.5681 (next to the negotiation codes)', 80877105],
    ['0.0', 0],
  ];
  badVersions.forEach(([name, code], i) => {
    it(`SEC-WS-004/w${i + 3}: protocol ${name}: FATAL 0A000 before any authentication`, async () => {
      const c = await fresh();
      await c.write(rawStartup(Buffer.from('user\0agent-1\0database\0' + DB + '\0\0'), code));
      await expectStartupRefused(c, '0A000');
      await canary();
    });
  });

  it('SEC-WS-007/w1: only an upper-case DATABASE key (no database): refused 3D000, not defaulted', async () => {
    const c = await fresh();
    await c.write(
      startup([
        ['user', 'agent-1'],
        ['DATABASE', DB],
      ]),
    );
    await expectStartupRefused(c);
    await canary();
  });

  const refusedParams: [string, [string, string][]][] = [
    ['options=-c<TAB>search_path=evil', [['options', '-c\tsearch_path=evil']]],
    ['options=-crole=svc_admin', [['options', '-crole=svc_admin']]],
    ['options=-c ROLE=svc_admin (upper case)', [['options', '-c ROLE=svc_admin']]],
    [
      'options with a safe setting then a role',
      [['options', '-c application_name=x -c role=svc_admin']],
    ],
    [
      'options=--session-authorization=svc_admin',
      [['options', '--session-authorization=svc_admin']],
    ],
    ['options=-P (a backend switch: ignore_system_indexes)', [['options', '-P']]],
    ['options=-c row_security=off', [['options', '-c row_security=off']]],
    ['Role=svc_admin (key case)', [['Role', 'svc_admin']]],
    ['search_path=evil', [['search_path', 'evil']]],
    ['default_transaction_read_only=off', [['default_transaction_read_only', 'off']]],
    ['app.tenant_id=1 (a custom GUC read by RLS)', [['app.tenant_id', '1']]],
    ['replication=true', [['replication', 'true']]],
    ['replication=1', [['replication', '1']]],
    ['replication=yes', [['replication', 'yes']]],
    ['standard_conforming_strings=off (top-level key)', [['standard_conforming_strings', 'off']]],
    ['options=-c statement_timeout=0', [['options', '-c statement_timeout=0']]],
  ];
  refusedParams.forEach(([name, extra], i) => {
    it(`SEC-WS-010/w${i + 1}: startup with ${name}: refused with a FATAL before any password`, async () => {
      const c = await fresh();
      await c.write(startup([['user', 'agent-1'], ['database', DB], ...extra]));
      await expectStartupRefused(c);
      await canary();
    });
  });

  it('SEC-WS-013/w1: an escaped option (-c application_name=a\\ -c\\ role=x) never changes the role', async () => {
    const t = testPg();
    const { c, ms } = await loginWith(g, [
      ['options', '-c application_name=a\\ -c\\ role=pg_read_all_data'],
    ]);
    if (ms.at(-1)?.type === 'Z') {
      const r = rows(await c.simple('SELECT current_user, session_user'));
      expect(r).toEqual([[t.user, t.user]]);
    } else {
      expect(ms.some((m) => m.type === 'E')).toBe(true);
    }
    c.destroy();
  });

  it('SEC-WS-016/w1: client_encoding=SQL_ASCII is not applied: the session stays UTF8', async () => {
    const { c, ms } = await loginWith(g, [['client_encoding', 'SQL_ASCII']]);
    expect(ms.at(-1)?.type).toBe('Z');
    const enc = ms
      .filter((m) => m.type === 'S')
      .map((m) => m.body.toString('utf8').split('\0'))
      .find(([k]) => k === 'client_encoding');
    expect(enc?.[1]).toBe('UTF8');
    expect(rows(await c.simple('SHOW client_encoding'))).toEqual([['UTF8']]);
    c.destroy();
  });

  it("SEC-WS-016/w2: options=-c client_encoding=LATIN1 and the spelling 'utf-8' leave the session UTF8", async () => {
    for (const opt of ['-c client_encoding=LATIN1', '-c client-encoding=utf-8']) {
      const { c, ms } = await loginWith(g, [['options', opt]]);
      expect(ms.at(-1)?.type).toBe('Z');
      expect(rows(await c.simple('SHOW client_encoding'))).toEqual([['UTF8']]);
      c.destroy();
    }
  });

  it('SEC-WS-019/w1: a double NUL in the middle of the parameter list: FATAL 08P01', async () => {
    const c = await fresh();
    await c.write(rawStartup(Buffer.from(`user\0agent-1\0\0database\0${DB}\0\0`)));
    await expectStartupRefused(c, '08P01');
    await canary();
  });

  it('SEC-WS-019/w2: a trailing key without a value: FATAL 08P01', async () => {
    const c = await fresh();
    await c.write(rawStartup(Buffer.from(`user\0agent-1\0database\0${DB}\0lonely\0`)));
    await expectStartupRefused(c, '08P01');
    await canary();
  });

  it('SEC-WS-019/w3: database given twice with different values: refused', async () => {
    const c = await fresh();
    await c.write(
      startup([
        ['user', 'agent-1'],
        ['database', DB],
        ['database', 'postgres'],
      ]),
    );
    await expectStartupRefused(c, '08P01');
    await canary();
  });

  it('SEC-WS-019/w4: options given twice, the second setting a role: refused', async () => {
    const c = await fresh();
    await c.write(
      startup([
        ['user', 'agent-1'],
        ['database', DB],
        ['options', '-c application_name=x'],
        ['options', '-c role=svc_admin'],
      ]),
    );
    await expectStartupRefused(c);
    await canary();
  });

  it('SEC-WS-019/w5: about 900 distinct unknown keys in one packet: refused, no crash', async () => {
    const c = await fresh();
    const many: [string, string][] = Array.from({ length: 900 }, (_, i) => [`k${i}`, 'v']);
    await c.write(startup([['user', 'agent-1'], ['database', DB], ...many]));
    await expectStartupRefused(c);
    await canary();
  });

  it('SEC-WS-019/w6: a second StartupMessage after ReadyForQuery: FATAL 08P01', async () => {
    const c = await loggedIn();
    await c.write(startup({ user: 'svc_admin', database: 'postgres' }));
    await expectFatal(c, '08P01');
    await canary();
  });

  it('SEC-WS-019/w7: non-UTF-8 bytes in user and database: refused or a normal session, never a crash', async () => {
    const c = await fresh();
    const body = Buffer.concat([
      Buffer.from('user\0'),
      Buffer.from([0xff, 0xfe, 0x41, 0]),
      Buffer.from('database\0'),
      Buffer.from([0xc3, 0x28, 0]),
      Buffer.from([0]),
    ]);
    await c.write(rawStartup(body));
    const first = await c.next();
    if (first?.type === 'R') {
      await c.write(password(await g.token()));
      const ms = await c.until('Z');
      expect(['Z', 'E']).toContain(ms.at(-1)?.type);
    } else {
      expect(first?.type).toBe('E');
    }
    c.destroy();
    await canary();
  });
});

// ---- wire-tls ------------------------------------------------------------------------

describe('wire-tls variants', () => {
  it('SEC-WT-001/w1: without TLS configured, SSLRequest + Startup + Password + DELETE in one write: refused like PostgreSQL, nothing runs', async () => {
    const c = await fresh(gn);
    await c.write(
      Buffer.concat([
        sslRequest(),
        startup({ user: 'agent-1', database: DB }),
        password(await gn.token()),
        query('DELETE FROM victims'),
      ]),
    );
    // PostgreSQL answers 'N' and then "received unencrypted data after SSL request".
    expect(await c.byte()).toBe('N');
    const ms = await drain(c, 2000);
    expect(ms.some((m) => m.type === 'R')).toBe(false);
    const e = firstError(ms);
    expect(e?.C).toBe('08P01');
    c.destroy();
    await sleep(300);
    expect(await victims()).toBe(10);
    await canary(gn);
  });

  it('SEC-WT-001/w2: GSSENCRequest with a StartupMessage pipelined: 08P01, no authentication request', async () => {
    const c = await fresh();
    await c.write(Buffer.concat([gssencRequest(), startup({ user: 'agent-1', database: DB })]));
    // PostgreSQL answers 'N' and then "received unencrypted data after GSSAPI encryption request".
    expect(await c.byte()).toBe('N');
    const ms = await expectFatal(c, '08P01');
    expect(ms.some((m) => m.type === 'R')).toBe(false);
    await canary();
  });

  it('SEC-WT-004/w1: inside an established TLS session, SSLRequest again: FATAL 08P01', async () => {
    const c = await tlsClient(g.port);
    await c.write(sslRequest());
    await expectFatal(c, '08P01');
    await canary();
  });

  it('SEC-WT-004/w2: without TLS, a second SSLRequest after N: refused (PostgreSQL answers an error), not N again', async () => {
    const c = await fresh(gn);
    await c.write(sslRequest());
    expect(await c.byte()).toBe('N');
    await c.write(sslRequest());
    expect(await answerByte(c)).toBe('E');
    c.destroy();
    await canary(gn);
  });

  it('SEC-WT-004/w3: GSSENCRequest twice: the second is refused (PostgreSQL answers an error)', async () => {
    const c = await fresh();
    await c.write(gssencRequest());
    expect(await c.byte()).toBe('N');
    await c.write(gssencRequest());
    expect(await answerByte(c)).toBe('E');
    c.destroy();
    await canary();
  });

  it('SEC-WT-004/w4: GSSENCRequest (N) then SSLRequest (S): a normal login over TLS', async () => {
    const c = await tlsClient(g.port, [gssencRequest()]);
    await c.login(DB, await g.token());
    expect(rows(await c.simple('SELECT 4'))).toEqual([['4']]);
    c.destroy();
  });

  it('SEC-WT-007/w1: plaintext startup from a non-loopback address: FATAL 28000, no password asked', async () => {
    const addrs = Object.values((await import('node:os')).networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal)
      .map((a) => a!.address);
    expect(addrs.length).toBeGreaterThan(0);
    const c = track(await RawClient.connect(gn.port, addrs[0]));
    await c.write(startup({ user: 'agent-1', database: DB }));
    await expectStartupRefused(c, '28000');
    await canary(gn);
  });

  it('SEC-WT-007/w2: a direct TLS ClientHello without SSLRequest: closed promptly, no hang', async () => {
    const sock = tlsConnect({ host: '127.0.0.1', port: g.port, rejectUnauthorized: false });
    const outcome = await new Promise<string>((resolve) => {
      sock.once('secureConnect', () => resolve('connected'));
      sock.once('error', () => resolve('error'));
      sock.once('close', () => resolve('closed'));
      setTimeout(() => resolve('hang'), 5000);
    });
    sock.destroy();
    expect(['error', 'closed']).toContain(outcome);
    await canary();
  });
});

// ---- wire-cancel ---------------------------------------------------------------------

describe('wire-cancel variants', () => {
  it('SEC-WC-001/w1: CancelRequest of length 12 (no key): closed, nothing else', async () => {
    const c = await fresh();
    await c.write(untyped(i32(80877102), i32(1)));
    const ms = await expectClosed(c);
    expect(ms.some((m) => m.type === 'R' || m.type === 'K')).toBe(false);
    await canary();
  });

  it('SEC-WC-001/w2: a live session pid with a wrong key does not cancel; the right key does', async () => {
    const a = await fresh();
    const login = await a.login(DB, await g.token());
    const { pid, secret } = keyData(login);
    const running = sleeper(a, 1.5);
    await sleep(300);
    (await sendCancel(g.port, cancelRequest(pid, secret ^ 1))).destroy();
    const ms = await running;
    expect(firstError(ms)).toBeUndefined();
    const again = sleeper(a, 10);
    await sleep(300);
    (await sendCancel(g.port, cancelRequest(pid, secret))).destroy();
    expect(firstError(await again)?.C).toBe('57014');
    a.destroy();
  });

  it('SEC-WC-001/w3: the right pid and key with 4 extra bytes (length 20) does not cancel', async () => {
    const a = await fresh();
    const { pid, secret } = keyData(await a.login(DB, await g.token()));
    const running = sleeper(a, 1.5);
    await sleep(300);
    (
      await sendCancel(
        g.port,
        Buffer.concat([untyped(i32(80877102), i32(pid), i32(secret), i32(0))]),
      )
    ).destroy();
    expect(firstError(await running)).toBeUndefined();
    a.destroy();
  });

  it("SEC-WC-001/w4: the client's BackendKeyData is not the upstream backend's key", async () => {
    const a = await fresh();
    const login = await a.login(DB, await g.token());
    const { pid } = keyData(login);
    const r = rows(await a.simple('SELECT pg_backend_pid()'));
    expect(String(pid)).not.toBe(r[0][0]);
    a.destroy();
  });

  it('SEC-WC-001/w5: a CancelRequest packet sent as a message on an authenticated connection: FATAL 08P01, the other session is not cancelled', async () => {
    const victim = await fresh();
    const { pid, secret } = keyData(await victim.login(DB, await g.token()));
    const running = sleeper(victim, 1.5);
    await sleep(200);
    const c = await loggedIn();
    await c.write(cancelRequest(pid, secret));
    await expectFatal(c, '08P01');
    expect(firstError(await running)).toBeUndefined();
    victim.destroy();
  });

  it('SEC-WC-001/w6: a forged CancelRequest followed by a StartupMessage in the same write: closed, no login', async () => {
    const c = await fresh();
    await c.write(
      Buffer.concat([cancelRequest(1234, 5678), startup({ user: 'agent-1', database: DB })]),
    );
    const ms = await expectClosed(c);
    expect(ms.some((m) => m.type === 'R')).toBe(false);
    await canary();
  });

  it('SEC-WC-004/w1: 300 forged CancelRequests at once: the gateway keeps serving, and a real cancel works afterwards', async () => {
    const a = await fresh();
    const { pid, secret } = keyData(await a.login(DB, await g.token()));
    const flood = await Promise.all(
      Array.from({ length: 300 }, (_, i) => sendCancel(g.port, cancelRequest(pid, secret + i + 1))),
    );
    await Promise.all(flood.map((f) => f.closedWithin(10_000)));
    for (const f of flood) f.destroy();
    await canary();
    await sleep(1500);
    const running = sleeper(a, 10);
    await sleep(300);
    (await sendCancel(g.port, cancelRequest(pid, secret))).destroy();
    expect(firstError(await running)?.C).toBe('57014');
    a.destroy();
  });
});

// ---- wire-auth -----------------------------------------------------------------------

describe('wire-auth variants', () => {
  async function afterStartup(gw: TestGateway = ga): Promise<RawClient> {
    const c = await fresh(gw);
    await c.write(startup({ user: 'agent-1', database: DB }));
    expect((await c.next())?.type).toBe('R');
    return c;
  }

  /** Claims like the dev tokens', with overrides. */
  async function token(
    claims: Record<string, unknown>,
    alg = 'ES256',
    key?: CryptoKey | Uint8Array,
  ): Promise<string> {
    const dev = await loadOrCreateDevKey(ga.dataDir);
    const now = Math.floor(Date.now() / 1000);
    const k = key ?? ((await importJWK(dev.privateJwk, 'ES256')) as CryptoKey);
    return new SignJWT({
      sub: 'agent-1',
      groups: ['agents'],
      iss: DEV_ISSUER,
      aud: DEV_AUDIENCE,
      iat: now,
      exp: now + 600,
      ...claims,
    })
      .setProtectedHeader({ alg, kid: dev.kid, typ: 'JWT' })
      .sign(k);
  }

  async function expectLoginRefused(pw: Buffer | string): Promise<Message[]> {
    const c = await afterStartup();
    await c.write(typeof pw === 'string' ? password(pw) : pw);
    const ms = await expectFatal(c);
    expect(ms.some((m) => m.type === 'R')).toBe(false);
    const all = ms.map((m) => m.body.toString('latin1')).join('');
    if (typeof pw === 'string' && pw.length > 20) expect(all).not.toContain(pw.slice(-20));
    return ms;
  }

  it('SEC-WA-001/w1: a PasswordMessage without its NUL terminator: FATAL 08P01, no login', async () => {
    await expectLoginRefused(msg('p', Buffer.from(await ga.token())));
  });

  it('SEC-WA-001/w2: an empty password: FATAL 28P01', async () => {
    const ms = await expectLoginRefused('');
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('28P01');
  });

  it('SEC-WA-001/w3: a PasswordMessage header claiming 1 MB: FATAL 08P01 at once, before the body', async () => {
    const c = await afterStartup();
    const t0 = Date.now();
    await c.write(Buffer.concat([Buffer.from('p'), i32(MiB)]));
    await expectFatal(c, '08P01');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('SEC-WA-001/w4: a SASLInitialResponse when a cleartext password was asked: refused, no login', async () => {
    const data = Buffer.from('n,,n=,r=abcdefghijkl');
    await expectLoginRefused(msg('p', Buffer.from('SCRAM-SHA-256\0'), i32(data.length), data));
  });

  it('SEC-WA-001/w5: a JWT with alg none: 28P01', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const t = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'agent-1', groups: ['agents'], iss: DEV_ISSUER, aud: DEV_AUDIENCE, exp: now + 600 })}.`;
    const ms = await expectLoginRefused(t);
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('28P01');
  });

  it('SEC-WA-001/w6: a JWT signed HS256 with the public key as the secret: 28P01', async () => {
    const dev = await loadOrCreateDevKey(ga.dataDir);
    const secret = new TextEncoder().encode(JSON.stringify(dev.publicJwks.keys[0]));
    const ms = await expectLoginRefused(await token({}, 'HS256', secret));
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('28P01');
  });

  const badClaims: [string, Record<string, unknown>][] = [
    ['expired an hour ago', { exp: Math.floor(Date.now() / 1000) - 3600 }],
    ['the wrong audience', { aud: 'someone-else' }],
    ['the wrong issuer', { iss: 'https://evil.example' }],
    ['no exp', { exp: undefined }],
    ['nbf an hour ahead', { nbf: Math.floor(Date.now() / 1000) + 3600 }],
  ];
  badClaims.forEach(([name, claims], i) => {
    it(`SEC-WA-001/w${i + 7}: a JWT with ${name}: 28P01`, async () => {
      const ms = await expectLoginRefused(await token(claims));
      expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('28P01');
    });
  });

  it('SEC-WA-001/w12: a JWT with the trusted kid but signed by another key: 28P01', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ms = await expectLoginRefused(
      await token({}, 'ES256', privateKey as unknown as CryptoKey),
    );
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('28P01');
  });

  it('SEC-WA-004/w1: a second PasswordMessage pipelined behind a valid one: FATAL 08P01 after login, nothing else', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB }));
    expect((await c.next())?.type).toBe('R');
    await c.write(Buffer.concat([password(await g.token()), password(await g.token())]));
    const ms = await expectFatal(c, '08P01');
    expect(ms.filter((m) => m.type === 'R').length).toBeLessThanOrEqual(1);
    await canary();
  });

  it('SEC-WA-004/w2: a bad token with a DELETE pipelined behind it: 28P01, the DELETE never runs', async () => {
    const c = await afterStartup();
    await c.write(Buffer.concat([password('not-a-token'), query('DELETE FROM victims')]));
    await expectFatal(c, '28P01');
    await sleep(300);
    expect(await victims()).toBe(10);
  });

  it('SEC-WA-007/w1: after 25 wrong tokens from one address, wrong ones are refused as locked out (28P01), while a valid token still logs in', async () => {
    const bad: Message[][] = [];
    for (let i = 0; i < 25; i++) {
      const c = await afterStartup(gl);
      await c.write(password(`wrong.${i}.token`));
      bad.push(await c.rest());
    }
    const first = fields(bad[0].find((m) => m.type === 'E')!);
    expect(first.C).toBe('28P01');
    // Past the limit (20 a minute), a guess is refused as locked out.
    const last = fields(bad.at(-1)!.find((m) => m.type === 'E')!);
    expect(last.C).toBe('28P01');
    expect(last.M).toMatch(/too many .*logins.*try again in \d+ s/);
    // A token cannot be guessed: a valid one is not locked out by the failures of others.
    const c = await afterStartup(gl);
    await c.write(password(await gl.token()));
    const ms = await c.until('Z');
    expect(ms.at(-1)?.type).toBe('Z');
    c.destroy();
  });
});

// ---- wire-lifecycle ------------------------------------------------------------------

describe('wire-lifecycle variants', () => {
  it('SEC-WL-001/w1: Terminate, then a DELETE in a later write: closed, the DELETE never runs', async () => {
    const c = await loggedIn();
    await c.write(terminate());
    await sleep(20);
    await c.write(query('DELETE FROM victims'));
    await expectClosed(c);
    await sleep(300);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WL-001/w2: Terminate inside a transaction that deleted rows: rolled back', async () => {
    const c = await loggedIn();
    const ms = await c.simple('BEGIN; DELETE FROM victims');
    expect(firstError(ms)).toBeUndefined();
    await c.write(terminate());
    await expectClosed(c);
    await sleep(300);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WL-001/w3: Terminate in the middle of an extended batch (no Sync): nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'DELETE FROM victims'), bind('', ''), execute(), terminate()]),
    );
    await expectClosed(c);
    await sleep(300);
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WL-001/w4: Terminate during COPY FROM STDIN: the copied rows are not committed', async () => {
    const c = await loggedIn();
    await c.write(query('COPY sink FROM STDIN'));
    expect((await c.next())?.type).toBe('G');
    await c.write(Buffer.concat([copyData('a\nb\n'), terminate()]));
    await expectClosed(c);
    await sleep(300);
    expect(await sinkRows()).toBe(0);
    await canary();
  });

  it('SEC-WL-001/w5: half-close (FIN) right after a Query: the result still arrives, then the close (as PostgreSQL)', async () => {
    const c = await loggedIn();
    await c.write(query('SELECT 42'));
    c.sock.end();
    const ms = await c.rest(5000);
    expect(c.ended).toBe(true);
    expect(types(ms)).toBe('TDCZ');
    expect(rows(ms)).toEqual([['42']]);
    await canary();
  });

  it('SEC-WL-001/w6: the client closes in the middle of a large result: no session or upstream backend is left', async () => {
    const before = g.gw.sessions.size;
    const c = await loggedIn();
    await c.write(query("SELECT repeat('x', 1000) FROM generate_series(1, 100000)"));
    await c.next();
    c.destroy();
    await sleep(1500);
    expect(g.gw.sessions.size).toBeLessThanOrEqual(before);
    await canary();
  });
});

// ---- wire-extended -------------------------------------------------------------------

describe('wire-extended variants', () => {
  it('SEC-WE-001/w1: a named Parse of SELECT 1; DELETE ...: 42601, nothing runs, the session goes on', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('s1', 'SELECT 1; DELETE FROM victims'),
        bind('', 's1'),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('EZ');
    expect(firstError(ms)?.C).toBe('42601');
    expect(await victims()).toBe(10);
    expect(rows(await c.simple('SELECT 3'))).toEqual([['3']]);
    c.destroy();
  });

  it('SEC-WE-001/w2: the DELETE first and a Flush instead of Sync: refused, nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'DELETE FROM victims; SELECT 1'), bind('', ''), execute(), flush()]),
    );
    const e = await c.next();
    expect(e?.type).toBe('E');
    expect(fields(e!).C).toBe('42601');
    await c.write(sync());
    expect((await c.until('Z')).at(-1)?.type).toBe('Z');
    expect(await victims()).toBe(10);
    c.destroy();
  });

  it('SEC-WE-001/w3: under P1, a readable SELECT with a DELETE after a comment in one Parse: refused, orders intact', async () => {
    const c = track(await rawLogin(gp, DB));
    await c.write(
      Buffer.concat([
        parse('', 'SELECT * FROM orders /* ; */; DELETE FROM orders'),
        bind('', ''),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(firstError(ms)).toBeDefined();
    expect(rows(ms)).toEqual([]);
    expect(await orders()).toBe('1:10,2:20,3:30');
    c.destroy();
    await canaryP1();
  });

  it('SEC-WE-010/w1: Parse declaring 32767 parameter types with none present: an 08P01 error, nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        msg('P', Buffer.from('\0DELETE FROM victims\0'), Buffer.from([0x7f, 0xff])),
        sync(),
      ]),
    );
    const ms = await c.rest(3000).catch(() => [] as Message[]);
    expect(firstError(ms)?.C).toBe('08P01');
    c.destroy();
    expect(await victims()).toBe(10);
    await canary();
  });

  it('SEC-WE-010/w2: Bind declaring 65535 parameters (0xFFFF, read unsigned as PostgreSQL does) with none present: FATAL 08P01, nothing runs', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('', 'DELETE FROM victims'),
        msg(
          'B',
          Buffer.from('\0\0'),
          Buffer.from([0, 0]),
          Buffer.from([0xff, 0xff]),
          Buffer.from([0, 0]),
        ),
        execute(),
        sync(),
      ]),
    );
    await expectFatal(c, '08P01');
    expect(await victims()).toBe(10);
    await canary();
  });

  // A parameter of a reg* type is a catalog lookup done by PostgreSQL before the statement
  // runs: "relation does not exist" or not tells whether a hidden table exists.
  const regTypes: [string, number, string, string][] = [
    ['regclass (2205)', 2205, 'hidden_stuff', 'no_such_table_x'],
    ['regclass[] (2210)', 2210, '{hidden_stuff}', '{no_such_table_x}'],
    ['regrole (4096)', 4096, testPg().user, 'no_such_role_x'],
    ['regnamespace (4089)', 4089, 'pg_toast', 'no_such_schema_x'],
    ['regtype (2206)', 2206, 'int4', 'no_such_type_x'],
  ];
  regTypes.forEach(([name, oid, exists, missing], i) => {
    it(`SEC-WE-010/w${i + 3}: under P1, Parse('SELECT $1') with a ${name} parameter: refused, no existence oracle`, async () => {
      const seen: string[] = [];
      for (const value of [exists, missing]) {
        const c = track(await rawLogin(gp, DB));
        await c.write(
          Buffer.concat([parse('', 'SELECT $1', [oid]), bind('', '', [value]), execute(), sync()]),
        );
        const ms = await c.until('Z');
        expect(rows(ms)).toEqual([]);
        const e = firstError(ms);
        expect(e?.C).toBe('42501');
        seen.push(`${e?.C}|${(e?.M ?? '').replace(value, '')}`);
        c.destroy();
      }
      expect(seen[0]).toBe(seen[1]);
    });
  });

  it('SEC-WE-010/w8: under P1, a regclass parameter sent in binary (OID 1260, pg_authid): refused', async () => {
    const c = track(await rawLogin(gp, DB));
    await c.write(
      Buffer.concat([
        parse('', 'SELECT $1', [2205]),
        bindRaw('', '', [1], [i32(1260)], [0]),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(rows(ms)).toEqual([]);
    expect(firstError(ms)?.C).toBe('42501');
    c.destroy();
  });

  it('SEC-WE-013/w1: Bind to a statement name never parsed: 26000, the session goes on', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([bind('', 'never_parsed'), execute(), sync()]));
    const ms = await c.until('Z');
    expect(types(ms)).toBe('EZ');
    expect(firstError(ms)?.C).toBe('26000');
    expect(rows(await c.simple('SELECT 5'))).toEqual([['5']]);
    c.destroy();
  });

  it('SEC-WE-013/w2: Describe of an unknown portal: 34000, the session goes on', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([describeMsg('P', 'nope'), sync()]));
    const ms = await c.until('Z');
    expect(types(ms)).toBe('EZ');
    expect(firstError(ms)?.C).toBe('34000');
    expect(rows(await c.simple('SELECT 6'))).toEqual([['6']]);
    c.destroy();
  });

  it('SEC-WE-013/w3: Close of a statement, then Bind of it: 26000', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('s3', 'SELECT 1'), close('S', 's3'), bind('', 's3'), execute(), sync()]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('13EZ');
    expect(firstError(ms)?.C).toBe('26000');
    c.destroy();
  });

  it('SEC-WE-013/w4: a portal bound before its statement was closed still executes (as PostgreSQL)', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('s4', 'SELECT 7'),
        bind('p4', 's4'),
        close('S', 's4'),
        execute('p4'),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('123DCZ');
    expect(rows(ms)).toEqual([['7']]);
    c.destroy();
  });

  it('SEC-WE-013/w5: Execute with a row limit, another portal, then the first again: rows as PostgreSQL splits them', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('s5', 'SELECT generate_series(1, 5)'),
        bind('p1', 's5'),
        execute('p1', 2),
        bind('p2', 's5'),
        execute('p2', 0),
        execute('p1', 0),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    // Verified against PostgreSQL: 1 2 D D s 2 D D D D D C D D D C Z
    expect(types(ms)).toBe('12DDs2DDDDDCDDDCZ');
    expect(rows(ms).map((r) => r[0])).toEqual(['1', '2', '1', '2', '3', '4', '5', '3', '4', '5']);
    c.destroy();
  });

  it('SEC-WE-013/w6: Bind with more parameters than the statement has: 08P01 ERROR (not FATAL), the session goes on', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'SELECT $1::int'), bind('', '', ['1', '2']), execute(), sync()]),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('1EZ');
    expect(firstError(ms)).toMatchObject({ S: 'ERROR', C: '08P01' });
    expect(rows(await c.simple('SELECT 8'))).toEqual([['8']]);
    c.destroy();
  });

  it('SEC-WE-013/w7: a binary int4 parameter of 2 bytes: an ERROR, the session goes on', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('', 'SELECT $1::int4', [23]),
        bindRaw('', '', [1], [Buffer.from([0, 1])], []),
        execute(),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(firstError(ms)?.S).toBe('ERROR');
    expect(rows(ms)).toEqual([]);
    expect(rows(await c.simple('SELECT 9'))).toEqual([['9']]);
    c.destroy();
  });

  it('SEC-WE-013/w8: three result format codes for a one-column result: 08P01 ERROR, the session goes on', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'SELECT 1'), bindRaw('', '', [], [], [0, 0, 0]), execute(), sync()]),
    );
    const ms = await c.until('Z');
    expect(firstError(ms)).toMatchObject({ S: 'ERROR', C: '08P01' });
    expect(rows(await c.simple('SELECT 10'))).toEqual([['10']]);
    c.destroy();
  });

  it('SEC-WE-013/w9: an unknown result format code (7): 22023 ERROR, the session goes on', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([parse('', 'SELECT 1'), bindRaw('', '', [], [], [7]), execute(), sync()]),
    );
    const ms = await c.until('Z');
    expect(firstError(ms)?.C).toBe('22023');
    expect(rows(await c.simple('SELECT 11'))).toEqual([['11']]);
    c.destroy();
  });

  it('SEC-WE-013/w10: under P1, Bind/Execute of a name whose Parse (a DELETE) was refused: 26000, orders intact', async () => {
    const c = track(await rawLogin(gp, DB));
    await c.write(Buffer.concat([parse('d1', 'DELETE FROM orders'), sync()]));
    const first = await c.until('Z');
    expect(firstError(first)?.C).toBe('42501');
    await c.write(Buffer.concat([bind('', 'd1'), execute(), sync()]));
    const ms = await c.until('Z');
    expect(firstError(ms)?.C).toBe('26000');
    expect(await orders()).toBe('1:10,2:20,3:30');
    c.destroy();
    await canaryP1();
  });
});

// ---- wire-copy-fastpath --------------------------------------------------------------

describe('wire-copy-fastpath variants', () => {
  async function largeObjects(): Promise<number> {
    return (await admin.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0].n;
  }

  it('SEC-WP-001/w1: FunctionCall lo_creat (957) with a binary argument: 42501, no large object made', async () => {
    const before = await largeObjects();
    const c = await loggedIn();
    await c.write(
      msg(
        'F',
        i32(957),
        Buffer.from([0, 1, 0, 1]),
        Buffer.from([0, 1]),
        i32(4),
        i32(-1),
        Buffer.from([0, 1]),
      ),
    );
    const ms = await c.until('Z');
    expect(types(ms)).toBe('EZ');
    expect(firstError(ms)?.C).toBe('42501');
    expect(await largeObjects()).toBe(before);
    c.destroy();
  });

  it('SEC-WP-001/w2: FunctionCall pipelined behind a Sync-less Parse/Bind/Execute: refused, the session stays in step', async () => {
    const c = await loggedIn();
    await c.write(
      Buffer.concat([
        parse('', 'SELECT 1'),
        bind('', ''),
        execute(),
        functionCall(2078, ['search_path', 'evil, public', 'false']),
        sync(),
      ]),
    );
    const ms = await c.until('Z');
    expect(ms.some((m) => m.type === 'E' && fields(m).C === '42501')).toBe(true);
    await c.until('Z', 3000).catch(() => []);
    const sp = await c.simple("SELECT current_setting('search_path')");
    expect(rows(sp)).toEqual([['public']]);
    c.destroy();
  });

  it('SEC-WP-001/w3: FunctionCall with a truncated body: an error, never a crash; nothing runs', async () => {
    const c = await loggedIn();
    await c.write(msg('F', Buffer.from([0, 0, 0x08])));
    const ms = await c.until('Z', 5000).catch(() => [] as Message[]);
    expect(ms.some((m) => m.type === 'E')).toBe(true);
    c.destroy();
    await canary();
  });

  it('SEC-WP-001/w4: FunctionCall during COPY FROM STDIN: FATAL 08P01, the copied rows are not committed', async () => {
    const c = await loggedIn();
    await c.write(query('COPY sink FROM STDIN'));
    expect((await c.next())?.type).toBe('G');
    await c.write(Buffer.concat([copyData('x\n'), functionCall(957, ['-1'])]));
    await expectFatal(c, '08P01');
    await sleep(300);
    expect(await sinkRows()).toBe(0);
    await canary();
  });

  it('SEC-WP-004/w1: CopyDone outside COPY is ignored', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([copyDone(), query('SELECT 1')]));
    expect(types(await c.until('Z'))).toBe('TDCZ');
    c.destroy();
  });

  it('SEC-WP-004/w2: under P1, CopyData/CopyDone after a refused COPY FROM STDIN are dropped, orders intact', async () => {
    const c = track(await rawLogin(gp, DB));
    const ms = await c.simple('COPY orders FROM STDIN');
    expect(firstError(ms)?.C).toBe('42501');
    await c.write(
      Buffer.concat([copyData('99\t990\n'), copyDone(), query('SELECT count(*) FROM orders')]),
    );
    const r = await c.until('Z');
    expect(rows(r)).toEqual([['3']]);
    expect(await orders()).toBe('1:10,2:20,3:30');
    c.destroy();
    await canaryP1();
  });

  it('SEC-WP-004/w3: COPY FROM STDIN, CopyData, then a Query without CopyDone: an 08P01 error, nothing committed', async () => {
    const c = await loggedIn();
    await c.write(query('COPY sink FROM STDIN'));
    expect((await c.next())?.type).toBe('G');
    await c.write(Buffer.concat([copyData('y\n'), query('SELECT 1')]));
    const ms = await c.rest(5000).catch(() => [] as Message[]);
    expect(firstError(ms)?.C).toBe('08P01');
    c.destroy();
    await sleep(300);
    expect(await sinkRows()).toBe(0);
    await canary();
  });

  it('SEC-WP-007/w1: CopyFail with a 100 KB message outside COPY is ignored', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([copyFail('x'.repeat(100_000)), query('SELECT 1')]));
    expect(types(await c.until('Z'))).toBe('TDCZ');
    c.destroy();
  });

  it('SEC-WP-007/w2: CopyData of 900 KB outside COPY is ignored', async () => {
    const c = await loggedIn();
    await c.write(Buffer.concat([copyData(Buffer.alloc(900 * 1024, 0x41)), query('SELECT 1')]));
    expect(types(await c.until('Z'))).toBe('TDCZ');
    c.destroy();
  });
});

// ---- wire-resource -------------------------------------------------------------------

describe('wire-resource variants', () => {
  it('SEC-WX-001/w1: SSLRequest answered S, then no TLS handshake: closed by the authentication timeout', async () => {
    const c = await fresh();
    await c.write(sslRequest());
    expect(await c.byte()).toBe('S');
    expect(await c.closedWithin(8000)).toBe(true);
    await canary();
  });

  it('SEC-WX-001/w2: a StartupMessage and then no password: closed by the authentication timeout', async () => {
    const c = await fresh();
    await c.write(startup({ user: 'agent-1', database: DB }));
    expect((await c.next())?.type).toBe('R');
    const t0 = Date.now();
    const ms = await c.rest(10_000);
    expect(c.ended).toBe(true);
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(firstError(ms)?.C).toBe('08006');
  });

  it('SEC-WX-001/w3: over TLS, a startup sent one byte per 200 ms: closed by the authentication timeout', async () => {
    const c = await tlsClient(g.port);
    const bytes = startup({ user: 'agent-1', database: DB, application_name: 'slow-tls' });
    let sent = 0;
    const timer = setInterval(() => {
      if (c.ended || sent >= bytes.length) return clearInterval(timer);
      void c.write(bytes.subarray(sent, sent + 1));
      sent++;
    }, 200);
    expect(await c.closedWithin(10_000)).toBe(true);
    clearInterval(timer);
    expect(sent).toBeLessThan(bytes.length);
    await canary();
  });

  it('SEC-WX-001/w4: a startup split in three writes 100 ms apart (slow but honest) still logs in', async () => {
    const c = await fresh();
    const bytes = startup({ user: 'agent-1', database: DB });
    const third = Math.ceil(bytes.length / 3);
    for (let i = 0; i < 3; i++) {
      await c.write(bytes.subarray(i * third, (i + 1) * third));
      await sleep(100);
    }
    expect((await c.next())?.type).toBe('R');
    await c.write(password(await g.token()));
    expect((await c.until('Z')).at(-1)?.type).toBe('Z');
    c.destroy();
  });

  it('SEC-WX-004/w1: with maxClients 3, a fourth client gets 53300; once one leaves, a new one gets in', async () => {
    const held = await Promise.all([0, 1, 2].map(async () => track(await rawLogin(gm, DB))));
    const c = await fresh(gm);
    await c.write(startup({ user: 'agent-1', database: DB }));
    const first = await c.next();
    if (first?.type === 'R') await c.write(password(await gm.token()));
    const ms = first?.type === 'R' ? await c.rest() : [first!, ...(await c.rest())];
    expect(firstError(ms)?.C).toBe('53300');
    held[0].destroy();
    await sleep(500);
    await canary(gm);
    for (const h of held) h.destroy();
  });

  it('SEC-WX-007/w1: 20,000 named prepared statements: each answered or a clean error, the session usable', async () => {
    const c = await loggedIn(gn);
    const per = 2000;
    let errors = 0;
    for (let b = 0; b < 10; b++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < per; i++) parts.push(parse(`st_${b}_${i}`, 'SELECT 1'));
      parts.push(sync());
      await c.write(Buffer.concat(parts));
      const ms = await c.until('Z', 20_000);
      expect(ms.at(-1)?.type).toBe('Z');
      errors += ms.filter((m) => m.type === 'E').length;
      if (c.ended) break;
    }
    if (!c.ended) expect(rows(await c.simple('SELECT 12'))).toEqual([['12']]);
    expect(errors >= 0).toBe(true);
    c.destroy();
    await canary(gn);
  }, 60_000);

  it('SEC-WX-007/w2: a Query header claiming 100 MB with the default 16 MiB cap: 54000 at once, nothing of it held', async () => {
    const c = await loggedIn(gn);
    await c.write(Buffer.concat([Buffer.from('Q'), i32(100 * MiB)]));
    const refused = await c.until('Z');
    expect(fields(refused[0]).C).toBe('54000');
    // The body is dropped as it comes (here: never), and the session ends at the timeout.
    await expectFatal(c, '08P01', /incomplete message timed out/);
    await canary(gn);
  });

  it('SEC-WX-007/w2b: a header claiming 1 GiB (more than PostgreSQL reads): FATAL 08P01 at once', async () => {
    const c = await loggedIn(gn);
    await c.write(Buffer.concat([Buffer.from('Q'), i32(0x40000000)]));
    await expectFatal(c, '08P01', /exceeds the limit/);
    await canary(gn);
  });

  const deep: [string, string][] = [
    ['100,000 nested parentheses', 'SELECT ' + '('.repeat(100_000) + '1' + ')'.repeat(100_000)],
    [
      '5,000 nested scalar subqueries',
      'SELECT ' + '(SELECT '.repeat(5000) + '1' + ')'.repeat(5000),
    ],
    ['100,000 chained NOTs', 'SELECT ' + 'NOT '.repeat(100_000) + 'true'],
    ['10,000 nested ARRAY[...]', 'SELECT ' + 'ARRAY['.repeat(10_000) + '1' + ']'.repeat(10_000)],
    ['a statement of 1e6 tokens (1+1+...)', 'SELECT ' + '1+'.repeat(500_000) + '1'],
  ];
  deep.forEach(([name, sql], i) => {
    it(`SEC-WX-007/w${i + 3}: ${name}: an ERROR (not a crash or hang), the session and gateway go on`, async () => {
      const c = await loggedIn(gn);
      const t0 = Date.now();
      await c.write(query(sql));
      const ms = await c.until('Z', 30_000);
      expect(ms.at(-1)?.type).toBe('Z');
      expect(Date.now() - t0).toBeLessThan(30_000);
      const e = firstError(ms);
      if (e) expect(e.S).toBe('ERROR');
      expect(rows(await c.simple('SELECT 13'))).toEqual([['13']]);
      c.destroy();
      await canary(gn);
    }, 60_000);
  });

  it('SEC-WX-007/w8: 1,000,000 Describe messages without a Sync: the gateway does not buffer them without bound', async () => {
    const c = await loggedIn(gn);
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    const one = describeMsg('S', '');
    const chunk = Buffer.concat(Array.from({ length: 10_000 }, () => one));
    for (let i = 0; i < 100 && !c.ended; i++) await c.write(chunk);
    await sleep(1000);
    global.gc?.();
    const grown = process.memoryUsage().heapUsed - before;
    // PostgreSQL answers each Describe as it comes and keeps nothing; 7 MB of messages must
    // not turn into a held batch of a million entries, whether or not the session is cut
    // (regression: it held 600,000 of them, 280 MB, until the message timeout cut it).
    expect(grown).toBeLessThan(64 * MiB);
    c.destroy();
    await canary(gn);
  }, 60_000);
});

// ---- wire-backend (a fake upstream behind a gateway process) --------------------------

/**
 * A scripted PostgreSQL stand-in. The client's application_name (passed upstream by the
 * gateway) names the scenario. It records every password-type message it receives.
 */
interface FakeUpstream {
  port: number;
  server: Server;
  passwords: Buffer[];
  close(): Promise<void>;
}

function bmsg(type: string, ...parts: (Buffer | string)[]): Buffer {
  return msg(type, ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
}

const RFQ = bmsg('Z', 'I');
const rowDesc = bmsg(
  'T',
  Buffer.from([0, 1]),
  'x\0',
  i32(0),
  Buffer.from([0, 0]),
  i32(23),
  Buffer.from([0, 4]),
  i32(-1),
  Buffer.from([0, 0]),
);
const dataRow = bmsg('D', Buffer.from([0, 1]), i32(1), '1');
const selectOne = Buffer.concat([rowDesc, dataRow, bmsg('C', 'SELECT 1\0'), RFQ]);
const loginOk = Buffer.concat([
  bmsg('R', i32(0)),
  bmsg('S', 'server_version\0' + '16.0\0'),
  bmsg('S', 'client_encoding\0UTF8\0'),
  bmsg('S', 'standard_conforming_strings\0on\0'),
  bmsg('K', i32(4242), i32(99)),
  RFQ,
]);

function scramServerFirst(clientFirst: string, nonceExtra: string, iterations = 4096): string {
  const cnonce = /r=([^,]*)/.exec(clientFirst)?.[1] ?? '';
  return `r=${cnonce}${nonceExtra},s=${randomBytes(16).toString('base64')},i=${iterations}`;
}

function answerQuery(scenario: string, s: Socket): void {
  switch (scenario) {
    case 'err-sm':
      s.write(Buffer.concat([bmsg('E', 'SERROR\0', 'Mbroken upstream\0', '\0'), RFQ]));
      return;
    case 'err-noterm':
      s.write(Buffer.concat([bmsg('E', 'SERROR'), RFQ]));
      return;
    case 'ps-noterm':
      s.write(Buffer.concat([bmsg('S', 'application_name'), selectOne]));
      return;
    case 'mid-close':
      s.write(Buffer.concat([rowDesc, dataRow.subarray(0, 7)]));
      setTimeout(() => s.destroy(), 50);
      return;
    case 'unknown-type':
      s.write(
        Buffer.concat([rowDesc, bmsg('!', 'surprise'), dataRow, bmsg('C', 'SELECT 1\0'), RFQ]),
      );
      return;
    case 'ps-auth':
      s.write(
        Buffer.concat([
          bmsg('S', 'session_authorization\0postgres\0'),
          bmsg('S', 'is_superuser\0on\0'),
          selectOne,
        ]),
      );
      return;
    case 'ps-enc':
      s.write(Buffer.concat([bmsg('S', 'client_encoding\0SQL_ASCII\0'), selectOne]));
      return;
    case 'key-after-login':
      s.write(Buffer.concat([bmsg('K', i32(1), i32(2)), selectOne]));
      return;
    case 'short-length':
      s.write(Buffer.concat([rowDesc, Buffer.from([0x44, 0, 0, 0, 2])]));
      return;
    default:
      s.write(selectOne);
  }
}

async function startFakeUpstream(): Promise<FakeUpstream> {
  const passwords: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf = Buffer.alloc(0);
    let phase: 'startup' | 'auth' | 'ready' = 'startup';
    let scenario = 'normal';
    let step = 0;
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (phase === 'startup') {
          if (buf.length < 4) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          const parts = buf.toString('latin1', 8, len).split('\0');
          buf = buf.subarray(len);
          for (let i = 0; i + 1 < parts.length; i += 2)
            if (parts[i] === 'application_name') scenario = parts[i + 1];
          phase = 'auth';
          if (scenario === 'login-hang') return;
          if (scenario === 'login-error-sm') {
            s.end(bmsg('E', 'SFATAL\0', 'Minternal detail: upstream-secret-xyz\0', '\0'));
            return;
          }
          if (scenario === 'cleartext') {
            s.write(bmsg('R', i32(3)));
            continue;
          }
          if (scenario.startsWith('scram-')) {
            s.write(bmsg('R', i32(10), 'SCRAM-SHA-256\0\0'));
            continue;
          }
          s.write(loginOk);
          phase = 'ready';
          continue;
        }
        if (buf.length < 5) return;
        const type = String.fromCharCode(buf[0]);
        const len = buf.readInt32BE(1);
        if (buf.length < len + 1) return;
        const body = buf.subarray(5, len + 1);
        buf = buf.subarray(len + 1);
        if (phase === 'auth') {
          passwords.push(Buffer.from(body));
          if (scenario === 'cleartext') {
            s.write(loginOk);
            phase = 'ready';
            continue;
          }
          step++;
          if (step === 1) {
            const clientFirst = body.toString('latin1');
            const extra =
              scenario === 'scram-bignonce'
                ? 'x'.repeat(100_000)
                : scenario === 'scram-badnonce'
                  ? ''
                  : randomBytes(12).toString('base64');
            let first = scramServerFirst(
              clientFirst,
              extra,
              scenario === 'scram-iter' ? 2 ** 31 - 1 : 4096,
            );
            if (scenario === 'scram-badnonce')
              first = first.replace(/^r=[^,]*/, 'r=attackerchosennonce');
            s.write(bmsg('R', i32(11), first));
          } else if (scenario === 'scram-skipfinal') {
            s.write(loginOk);
            phase = 'ready';
          } else {
            // scram-badsig: a server signature that cannot be right.
            s.write(
              Buffer.concat([
                bmsg('R', i32(12), 'v=' + Buffer.alloc(32).toString('base64')),
                loginOk,
              ]),
            );
            phase = 'ready';
          }
          continue;
        }
        if (type === 'X') {
          s.end();
          return;
        }
        if (type === 'Q') answerQuery(scenario, s);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    passwords,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('wire-backend variants (fake upstream)', () => {
  let fake: FakeUpstream;
  let gb: GatewayProcess;
  let dir: string;
  const UPSTREAM_SECRET = 'fake-upstream-secret-7f3a';

  beforeAll(async () => {
    fake = await startFakeUpstream();
    dir = gatewayDir('fake', {
      upstream: {
        targets: {
          main: {
            host: '127.0.0.1',
            port: fake.port,
            database: 'fake',
            user: 'svc',
            password: { value: UPSTREAM_SECRET },
          },
        },
        connectTimeoutMs: 1500,
      },
      policy: { allowAll: true },
    });
    gb = await startGatewayProcess(dir);
  }, 120_000);

  afterAll(async () => {
    await gb?.terminate(5000);
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const alive = () => gb.running.child.exitCode === null && gb.running.child.signalCode === null;

  /** A case that killed the gateway process must not fail the next ones: start it again. */
  beforeEach(async () => {
    if (gb && !alive()) gb = await startGatewayProcess(dir);
  }, 120_000);

  afterEach(async (ctx) => {
    // A failed case may have killed the process: wait for its exit, and say why it died.
    if (ctx.task.result?.state === 'fail') await Promise.race([gb.running.done, sleep(1000)]);
    if (gb && !alive()) console.error(gb.output().stderr.split('\n').slice(-15).join('\n'));
  });

  /** Start a session whose upstream plays `scenario`; resolves with the login messages. */
  async function session(scenario: string): Promise<{ c: RawClient; ms: Message[] }> {
    const c = track(await RawClient.connect(gb.port));
    await c.write(startup({ user: 'agent-1', database: 'fake', application_name: scenario }));
    const r = await c.next();
    expect(r?.type).toBe('R');
    await c.write(password(await gb.token()));
    const ms = await c.until('Z', 10_000);
    return { c, ms };
  }

  /** A session on `scenario` sends SELECT 1; what comes back until the close or 'Z'. */
  async function queried(
    scenario: string,
    read: (c: RawClient) => Promise<Message[]>,
  ): Promise<{ c: RawClient; ms: Message[] }> {
    const { c } = await session(scenario);
    await c.write(query('SELECT 1'));
    return { c, ms: await read(c) };
  }

  /** The gateway process is alive and a normal session works. */
  async function backendCanary(): Promise<void> {
    expect(alive()).toBe(true);
    const { c, ms } = await session('normal');
    expect(ms.at(-1)?.type).toBe('Z');
    expect(rows(await c.simple('SELECT 1'))).toEqual([['1']]);
    c.destroy();
  }

  it('SEC-WB-001/w0: (control) a normal session through the fake upstream works', async () => {
    await backendCanary();
  });

  it('SEC-WB-001/w1: an ErrorResponse with only S and M: the client gets an error, the gateway survives', async () => {
    const { c } = await session('err-sm');
    const ms = await c.simple('SELECT 1');
    expect(ms.some((m) => m.type === 'E')).toBe(true);
    c.destroy();
    await backendCanary();
  });

  it('SEC-WB-001/w2: an ErrorResponse with no NUL terminator at all: the session fails closed, the gateway survives', async () => {
    const { c, ms } = await queried('err-noterm', (x) => drain(x, 2000));
    expect(ms.some((m) => m.type === 'E')).toBe(true);
    c.destroy();
    await sleep(300);
    await backendCanary();
  });

  it('SEC-WB-001/w3: a ParameterStatus with no NUL terminator: the session fails closed, the gateway survives', async () => {
    const { c, ms } = await queried('ps-noterm', (x) => drain(x, 2000));
    expect(ms.some((m) => m.type === 'E')).toBe(true);
    c.destroy();
    await sleep(300);
    await backendCanary();
  });

  it('SEC-WB-001/w4: the upstream closes in the middle of a DataRow: the client never gets bytes spliced into that row; the gateway survives', async () => {
    const { c } = await session('mid-close');
    const raw: Buffer[] = [];
    c.sock.on('data', (b: Buffer) => raw.push(b));
    await c.write(query('SELECT 1'));
    await c.closedWithin(5000);
    expect(c.ended).toBe(true);
    // Walk the bytes as a client does: every whole message must be well formed (a DataRow's
    // columns fill its body exactly); a message cut short may only be the very last bytes.
    const all = Buffer.concat(raw);
    let pos = 0;
    const seen: string[] = [];
    while (pos + 5 <= all.length) {
      const type = String.fromCharCode(all[pos]);
      const len = all.readInt32BE(pos + 1);
      if (pos + 1 + len > all.length) break;
      const body = all.subarray(pos + 5, pos + 1 + len);
      if (type === 'D') {
        let p = 2;
        for (let i = 0; i < body.readInt16BE(0); i++) {
          const n = body.readInt32BE(p);
          p += 4 + Math.max(0, n);
        }
        expect(p).toBe(body.length);
      }
      seen.push(type);
      pos += 1 + len;
    }
    expect(seen.every((t) => 'TDCZEN'.includes(t))).toBe(true);
    await backendCanary();
  });

  it('SEC-WB-001/w5: a backend message of unknown type: not relayed; the session fails closed', async () => {
    const { c, ms } = await queried('unknown-type', (x) => drain(x, 2000));
    expect(ms.some((m) => m.type === '!')).toBe(false);
    expect(c.ended).toBe(true);
    expect(ms.some((m) => m.type === 'E')).toBe(true);
    c.destroy();
    await backendCanary();
  });

  it('SEC-WB-001/w6: a backend message with length 2: the session fails closed (08006), the gateway survives', async () => {
    const { c, ms } = await queried('short-length', (x) => x.rest(5000));
    expect(c.ended).toBe(true);
    expect(firstError(ms)?.S).toBe('FATAL');
    await backendCanary();
  });

  it('SEC-WB-001/w7: a ParameterStatus changing client_encoding mid-session: the session is closed', async () => {
    const { c, ms } = await queried('ps-enc', (x) => x.rest(5000));
    expect(c.ended).toBe(true);
    expect(firstError(ms)?.S).toBe('FATAL');
    await backendCanary();
  });

  it('SEC-WB-001/w8: a ParameterStatus switching session_authorization/is_superuser mid-session: the session is closed', async () => {
    const { c, ms } = await queried('ps-auth', (x) => drain(x, 2000));
    const reported = ms
      .filter((m) => m.type === 'S')
      .map((m) => m.body.toString('utf8').split('\0')[0]);
    expect(reported).not.toContain('is_superuser');
    expect(c.ended).toBe(true);
    c.destroy();
    await backendCanary();
  });

  it('SEC-WB-001/w9: BackendKeyData after login: the session fails closed with 08006', async () => {
    const { c, ms } = await queried('key-after-login', (x) => x.rest(5000));
    expect(c.ended).toBe(true);
    expect(firstError(ms)?.C).toBe('08006');
    await backendCanary();
  });

  it("SEC-WB-001/w10: a login ErrorResponse with only S and M: the client gets 08006 without the upstream's text", async () => {
    const c = track(await RawClient.connect(gb.port));
    await c.write(
      startup({ user: 'agent-1', database: 'fake', application_name: 'login-error-sm' }),
    );
    expect((await c.next())?.type).toBe('R');
    await c.write(password(await gb.token()));
    const ms = await c.rest(10_000);
    expect(firstError(ms)?.C).toBe('08006');
    expect(ms.map((m) => m.body.toString('latin1')).join('')).not.toContain('upstream-secret-xyz');
    await backendCanary();
  });

  const scram: [string, string][] = [
    ['a 100 KB server nonce', 'scram-bignonce'],
    ['a server nonce that does not extend the client nonce', 'scram-badnonce'],
    ['an iteration count of 2^31-1', 'scram-iter'],
    ['a wrong server signature in SASLFinal', 'scram-badsig'],
    ['AuthenticationOk without SASLFinal', 'scram-skipfinal'],
  ];
  scram.forEach(([name, scenario], i) => {
    it(`SEC-WB-004/w${i + 1}: upstream SCRAM with ${name}: the login is refused (08006) promptly, the gateway survives`, async () => {
      const c = track(await RawClient.connect(gb.port));
      await c.write(startup({ user: 'agent-1', database: 'fake', application_name: scenario }));
      expect((await c.next())?.type).toBe('R');
      const t0 = Date.now();
      await c.write(password(await gb.token()));
      const ms = await c.rest(10_000);
      expect(c.ended).toBe(true);
      expect(ms.some((m) => m.type === 'Z')).toBe(false);
      expect(firstError(ms)?.C).toBe('08006');
      expect(Date.now() - t0).toBeLessThan(5000);
      await backendCanary();
    });
  });

  it('SEC-WB-004/w6: an upstream that never answers the startup: 08006 within the connect timeout', async () => {
    const c = track(await RawClient.connect(gb.port));
    await c.write(startup({ user: 'agent-1', database: 'fake', application_name: 'login-hang' }));
    expect((await c.next())?.type).toBe('R');
    const t0 = Date.now();
    await c.write(password(await gb.token()));
    const ms = await c.rest(10_000);
    expect(firstError(ms)?.C).toBe('08006');
    expect(Date.now() - t0).toBeLessThan(5000);
    await backendCanary();
  });

  it('SEC-WB-004/w7: an upstream that downgrades to a cleartext password over plaintext TCP does not get the credential', async () => {
    const before = fake.passwords.length;
    const c = track(await RawClient.connect(gb.port));
    await c.write(startup({ user: 'agent-1', database: 'fake', application_name: 'cleartext' }));
    expect((await c.next())?.type).toBe('R');
    await c.write(password(await gb.token()));
    await c.until('Z', 10_000).catch(() => []);
    c.destroy();
    const sent = fake.passwords.slice(before).map((b) => b.toString('latin1'));
    expect(sent.some((p) => p.includes(UPSTREAM_SECRET))).toBe(false);
    await backendCanary();
  });
});

// ---- afterwards ----------------------------------------------------------------------

describe('afterwards', () => {
  it('no client session and no upstream connection is left behind on the in-process gateways', async () => {
    const all = [g, gn, gp, ga, gl, gm];
    const deadline = Date.now() + 20_000;
    let backends = -1;
    while (Date.now() < deadline) {
      const sessions = all.reduce((n, x) => n + x.gw.sessions.size, 0);
      const r = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        [DB],
      );
      backends = r.rows[0].n;
      if (sessions === 0 && backends === 0) break;
      await sleep(250);
    }
    expect({ sessions: all.map((x) => x.gw.sessions.size), backends }).toEqual({
      sessions: all.map(() => 0),
      backends: 0,
    });
  }, 30_000);
});
