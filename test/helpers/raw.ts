// A tiny raw v3 protocol client for tests: naive message builders written independently of
// src/wire, and a socket reader that yields backend messages (or single bytes, for the
// answer to SSLRequest/GSSENCRequest).
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

// ---- builders ------------------------------------------------------------------------

function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function i16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

/** A count as PostgreSQL reads it: unsigned, up to 65,535. */
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** A typed message: type byte, Int32 length (counting itself), body. */
export function msg(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type, 'latin1'), i32(body.length + 4), body]);
}

/** A startup-phase packet: Int32 length, then the body. */
export function untyped(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([i32(body.length + 4), body]);
}

export function startup(params: Record<string, string> | [string, string][], minor = 0): Buffer {
  const pairs = Array.isArray(params) ? params : Object.entries(params);
  return untyped(
    i32((3 << 16) | minor),
    ...pairs.flatMap(([k, v]) => [cstr(k), cstr(v)]),
    Buffer.from([0]),
  );
}

export const sslRequest = (): Buffer => untyped(i32(80877103));
export const gssencRequest = (): Buffer => untyped(i32(80877104));
export const cancelRequest = (pid: number, secret: number): Buffer =>
  untyped(i32(80877102), i32(pid), i32(secret));

export const password = (p: string): Buffer => msg('p', cstr(p));
export const query = (sql: string): Buffer => msg('Q', cstr(sql));
export const parse = (name: string, sql: string, types: number[] = []): Buffer =>
  msg('P', cstr(name), cstr(sql), u16(types.length), ...types.map(i32));

/** Bind with text parameters and text results. */
export function bind(portal: string, statement: string, params: (string | null)[] = []): Buffer {
  const values = params.map((p) => {
    if (p === null) return i32(-1);
    const v = Buffer.from(p, 'utf8');
    return Buffer.concat([i32(v.length), v]);
  });
  return msg('B', cstr(portal), cstr(statement), u16(0), u16(params.length), ...values, u16(0));
}

export const execute = (portal = '', maxRows = 0): Buffer => msg('E', cstr(portal), i32(maxRows));
export const describe = (kind: 'S' | 'P', name: string): Buffer =>
  msg('D', Buffer.from(kind), cstr(name));
export const sync = (): Buffer => msg('S');
export const flush = (): Buffer => msg('H');
export const terminate = (): Buffer => msg('X');
export const copyData = (data: string | Buffer): Buffer =>
  msg('d', typeof data === 'string' ? Buffer.from(data) : data);
export const copyDone = (): Buffer => msg('c');
export const copyFail = (reason: string): Buffer => msg('f', cstr(reason));
export const close = (kind: 'S' | 'P', name: string): Buffer =>
  msg('C', Buffer.from(kind), cstr(name));
/** Bind with explicit parameter formats, raw parameter values and result formats. */
export function bindRaw(
  portal: string,
  statement: string,
  paramFormats: number[],
  params: (Buffer | null)[],
  resultFormats: number[],
): Buffer {
  return msg(
    'B',
    cstr(portal),
    cstr(statement),
    u16(paramFormats.length),
    ...paramFormats.map(i16),
    u16(params.length),
    ...params.map((p) => (p === null ? i32(-1) : Buffer.concat([i32(p.length), p]))),
    u16(resultFormats.length),
    ...resultFormats.map(i16),
  );
}
/** FunctionCall: function OID with text arguments, text result. */
export function functionCall(oid: number, args: string[]): Buffer {
  return msg(
    'F',
    i32(oid),
    i16(0),
    i16(args.length),
    ...args.flatMap((a) => [i32(Buffer.byteLength(a)), Buffer.from(a)]),
    i16(0),
  );
}

// ---- reading -------------------------------------------------------------------------

export interface Message {
  /** Type as a one-character string ('Z', 'E', ...). */
  type: string;
  body: Buffer;
}

/** Fields of an ErrorResponse/NoticeResponse keyed by their one-letter code. */
export function fields(m: Message): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  const b = m.body;
  while (pos < b.length && b[pos] !== 0) {
    const code = String.fromCharCode(b[pos]);
    const end = b.indexOf(0, pos + 1);
    out[code] = b.toString('utf8', pos + 1, end);
    pos = end + 1;
  }
  return out;
}

/** CommandComplete tag / DataRow text columns, for convenience. */
export function tag(m: Message): string {
  return m.body.toString('utf8', 0, m.body.length - 1);
}

export function dataRow(m: Message): (string | null)[] {
  const n = m.body.readInt16BE(0);
  const out: (string | null)[] = [];
  let pos = 2;
  for (let i = 0; i < n; i++) {
    const len = m.body.readInt32BE(pos);
    pos += 4;
    if (len < 0) out.push(null);
    else {
      out.push(m.body.toString('utf8', pos, pos + len));
      pos += len;
    }
  }
  return out;
}

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  /** True once the server closed the connection (or it errored). */
  ended = false;
  readonly closed: Promise<void>;

  constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.ended = true;
        this.wake();
        resolve();
      };
      sock.on('close', done);
      sock.on('error', () => {
        /* a reset counts as closed */
      });
    });
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, localAddress });
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  /**
   * Negotiate TLS as libpq does: each `preface` request (GSSENCRequest) must be answered
   * 'N', then SSLRequest 'S', then the handshake on the same socket, presenting a client
   * certificate when given one. Throws on any other answer.
   */
  static async tls(
    port: number,
    opts: { preface?: Buffer[]; cert?: { key: Buffer; cert: Buffer } } = {},
  ): Promise<RawClient> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    });
    const ask = async (req: Buffer, want: string) => {
      sock.write(req);
      const answer = await new Promise<string>((resolve) =>
        sock.once('data', (b: Buffer) => resolve(b.toString('latin1'))),
      );
      if (answer !== want) throw new Error(`expected '${want}', got ${JSON.stringify(answer)}`);
    };
    for (const p of opts.preface ?? []) await ask(p, 'N');
    await ask(sslRequest(), 'S');
    const secure = tlsConnect({ socket: sock, rejectUnauthorized: false, ...opts.cert });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    return new RawClient(secure);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async waitData(deadline: number): Promise<boolean> {
    if (this.ended) return false;
    const ms = deadline - Date.now();
    if (ms <= 0) throw new Error('timed out waiting for the server');
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
    return true;
  }

  /** Write bytes; resolves once handed to the kernel (or immediately on a closed socket). */
  write(b: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.sock.destroyed || !this.sock.writable) return resolve();
      this.sock.write(b, () => resolve());
    });
  }

  /** One raw byte (the answer to SSLRequest), or undefined on close. */
  async byte(timeoutMs = 15_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < 1) if (!(await this.waitData(deadline))) return undefined;
    const c = String.fromCharCode(this.buf[0]);
    this.buf = this.buf.subarray(1);
    return c;
  }

  /** Next backend message, or undefined once the connection is closed. */
  async next(timeoutMs = 15_000): Promise<Message | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length >= len + 1) {
          const m = {
            type: String.fromCharCode(this.buf[0]),
            body: Buffer.from(this.buf.subarray(5, len + 1)),
          };
          this.buf = this.buf.subarray(len + 1);
          return m;
        }
      }
      if (!(await this.waitData(deadline))) return undefined;
    }
  }

  /** Messages up to and including the next one of `type` (or until close). */
  async until(type: string, timeoutMs = 15_000): Promise<Message[]> {
    const deadline = Date.now() + timeoutMs;
    const out: Message[] = [];
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (!m) return out;
      out.push(m);
      if (m.type === type) return out;
    }
  }

  /** All messages until the server closes the connection. */
  async rest(timeoutMs = 15_000): Promise<Message[]> {
    const deadline = Date.now() + timeoutMs;
    const out: Message[] = [];
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (!m) return out;
      out.push(m);
    }
  }

  /** Resolves true when the server closed within the time, false otherwise. */
  async closedWithin(ms: number): Promise<boolean> {
    if (this.ended) return true;
    return Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
    ]);
  }

  /** Startup + password; resolves with everything up to the first ReadyForQuery. */
  async login(
    database: string,
    token: string,
    extra: Record<string, string> = {},
  ): Promise<Message[]> {
    await this.write(startup({ user: 'agent-1', database, ...extra }));
    const first = await this.next();
    if (!first || first.type !== 'R' || first.body.readInt32BE(0) !== 3)
      throw new Error(`expected a cleartext password request, got ${first?.type}`);
    await this.write(password(token));
    const rest = await this.until('Z');
    if (rest.at(-1)?.type !== 'Z')
      throw new Error(`login failed: ${rest.map((m) => m.type).join(',')}`);
    return rest;
  }

  /** Simple query; resolves with messages up to ReadyForQuery. */
  async simple(sql: string): Promise<Message[]> {
    await this.write(query(sql));
    return this.until('Z');
  }

  /** Half-close: nothing more is sent, answers are still read. */
  end(): void {
    this.sock.end();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** Rows (text columns) of the DataRows in a message list. */
export function rows(ms: Message[]): (string | null)[][] {
  return ms.filter((m) => m.type === 'D').map(dataRow);
}

/** Error fields of the first ErrorResponse in a list, if any. */
export function firstError(ms: Message[]): Record<string, string> | undefined {
  const e = ms.find((m) => m.type === 'E');
  return e ? fields(e) : undefined;
}

/** Severity and SQLSTATE of each ErrorResponse in a list, in order. */
export function errorsOf(ms: Message[]): [string, string][] {
  return ms.filter((m) => m.type === 'E').map((m) => [fields(m).S, fields(m).C]);
}

/** SQLSTATE of each ErrorResponse in a list, in order. */
export function errorCodes(ms: Message[]): string[] {
  return ms.filter((m) => m.type === 'E').map((m) => fields(m).C);
}

/** The type letters of a message list, in order ("12DCZ"). */
export function messageTypes(ms: Message[]): string {
  return ms.map((m) => m.type).join('');
}

/** Parse, Bind and Execute of one statement (into the unnamed portal). */
export function extendedStep(sql: string, name = ''): Buffer[] {
  return [parse(name, sql), bind('', name), execute()];
}

/**
 * The messages up to one of `type`, notices left out: a settings guard that fails may be
 * warned about first (what it could not read as the gateway does).
 */
export async function untilQuiet(c: RawClient, type: string): Promise<Message[]> {
  return (await c.until(type)).filter((m) => m.type !== 'N');
}
