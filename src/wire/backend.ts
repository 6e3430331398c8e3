// Builders for messages the gateway itself sends to clients, and decoders for the few
// upstream messages it must read.
import { BodyReader } from './reader.js';

/** Backend message type bytes. */
export const B = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;

/** Growable writer for one message: type byte, length placeholder, body. */
export class MessageWriter {
  private buf = Buffer.allocUnsafe(256);
  private len = 0;

  constructor(type?: number) {
    if (type !== undefined) this.byte(type);
    this.int32(0); // length, patched in end()
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.len);
    this.len += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.len);
    this.len += 4;
    return this;
  }

  cstring(s: string): this {
    const n = Buffer.byteLength(s);
    this.ensure(n + 1);
    this.buf.write(s, this.len);
    this.len += n;
    this.buf[this.len++] = 0;
    return this;
  }

  bytes(b: Buffer): this {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
    return this;
  }

  /** Finish: patch the length word (which counts itself but not the type byte). */
  end(typed = true): Buffer {
    const off = typed ? 1 : 0;
    this.buf.writeInt32BE(this.len - off, off);
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

export type TxStatus = 'I' | 'T' | 'E';

const RFQ: Record<TxStatus, Buffer> = {
  I: Buffer.from([0x5a, 0, 0, 0, 5, 0x49]),
  T: Buffer.from([0x5a, 0, 0, 0, 5, 0x54]),
  E: Buffer.from([0x5a, 0, 0, 0, 5, 0x45]),
};

export function readyForQuery(status: TxStatus): Buffer {
  return RFQ[status];
}

export const AUTH_OK = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
export const AUTH_CLEARTEXT = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]);
export const SSL_YES = Buffer.from('S');
export const SSL_NO = Buffer.from('N');

export function parameterStatus(name: string, value: string): Buffer {
  return new MessageWriter(B.ParameterStatus).cstring(name).cstring(value).end();
}

export function backendKeyData(pid: number, secret: number): Buffer {
  return new MessageWriter(B.BackendKeyData).int32(pid).int32(secret).end();
}

/** Tell a client which protocol minor version and which _pq_ options we support. */
export function negotiateProtocolVersion(minor: number, unsupported: string[]): Buffer {
  const w = new MessageWriter(B.NegotiateProtocolVersion).int32(minor).int32(unsupported.length);
  for (const o of unsupported) w.cstring(o);
  return w.end();
}

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** ErrorResponse ('E') or NoticeResponse ('N') with the standard field codes. */
export function errorResponse(f: ErrorFields, type: number = B.ErrorResponse): Buffer {
  const w = new MessageWriter(type);
  w.byte(0x53).cstring(f.severity); // S
  w.byte(0x56).cstring(f.severity); // V (non-localized)
  w.byte(0x43).cstring(f.code); // C
  w.byte(0x4d).cstring(f.message); // M
  if (f.detail) w.byte(0x44).cstring(f.detail); // D
  if (f.hint) w.byte(0x48).cstring(f.hint); // H
  w.byte(0);
  return w.end();
}

/** Fields of an ErrorResponse/NoticeResponse body, keyed by their one-letter code. */
export function parseErrorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  const r = new BodyReader(body);
  while (r.remaining > 0) {
    const code = r.byte();
    if (code === 0) break;
    out[String.fromCharCode(code)] = r.cstring();
  }
  return out;
}

export function parseParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new BodyReader(body);
  return { name: r.cstring(), value: r.cstring() };
}

/** Frontend messages the gateway sends upstream. */
export const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);
export const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);
export const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

export function queryMessage(sql: string): Buffer {
  return new MessageWriter(0x51).cstring(sql).end();
}

export function parseMessage(name: string, sql: string): Buffer {
  return new MessageWriter(0x50).cstring(name).cstring(sql).int16(0).end();
}

/** CopyFail: the COPY FROM STDIN in progress ends with an error (57014) naming `reason`. */
export function copyFailMessage(reason: string): Buffer {
  return new MessageWriter(0x66).cstring(reason).end();
}

export function closeMessage(kind: 'S' | 'P', name: string): Buffer {
  return new MessageWriter(0x43).byte(kind.charCodeAt(0)).cstring(name).end();
}

export function startupMessage(params: Record<string, string>): Buffer {
  const w = new MessageWriter();
  w.int32(196608);
  for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v);
  w.byte(0);
  return w.end(false);
}

export function passwordMessage(data: string | Buffer): Buffer {
  const w = new MessageWriter(0x70);
  if (typeof data === 'string') w.cstring(data);
  else w.bytes(data);
  return w.end();
}

export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  return new MessageWriter(0x70).cstring(mechanism).int32(data.length).bytes(data).end();
}

export function cancelRequest(pid: number, secret: Buffer): Buffer {
  return new MessageWriter().int32(80877102).int32(pid).bytes(secret).end(false);
}
