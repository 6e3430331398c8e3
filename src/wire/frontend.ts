// Decoders for the messages a client sends (names as in the PostgreSQL protocol docs).
import { FrameError } from './framing.js';
import { BodyReader } from './reader.js';

export const PROTOCOL_3_0 = 196608; // 3 << 16
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** Frontend message type bytes. */
export const F = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  Password: 0x70, // p
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const;

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; secret: Buffer }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> };

/** Decode a startup-phase packet body (after its length word). */
export function parseStartupPacket(body: Buffer): StartupPacket {
  const r = new BodyReader(body);
  const code = r.int32();
  if (code === SSL_REQUEST_CODE) {
    r.end();
    return { kind: 'ssl' };
  }
  if (code === GSSENC_REQUEST_CODE) {
    r.end();
    return { kind: 'gssenc' };
  }
  if (code === CANCEL_REQUEST_CODE) {
    const pid = r.int32();
    // Protocol 3.0 keys are 4 bytes; 3.2 allows up to 256.
    if (r.remaining < 4 || r.remaining > 256)
      throw new FrameError('invalid cancel request', '08P01');
    return { kind: 'cancel', pid, secret: Buffer.from(r.bytes(r.remaining)) };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new FrameError(`unsupported frontend protocol ${major}.${minor}`, '0A000');
  const params = new Map<string, string>();
  // key\0value\0 ... \0 : the list ends with one extra NUL that must be the last byte.
  while (true) {
    if (r.remaining === 0)
      throw new FrameError('startup packet is missing its terminator', '08P01');
    if (r.buf[r.pos] === 0) {
      r.pos++;
      if (r.remaining !== 0)
        throw new FrameError('unexpected bytes after startup parameters', '08P01');
      break;
    }
    const key = r.cstring();
    if (r.remaining === 0) throw new FrameError(`startup parameter "${key}" has no value`, '08P01');
    const value = r.cstring();
    if (params.has(key)) throw new FrameError(`duplicate startup parameter "${key}"`, '08P01');
    params.set(key, value);
  }
  return { kind: 'startup', major, minor, params };
}

export function parseQuery(body: Buffer): string {
  const r = new BodyReader(body);
  const sql = r.cstring();
  r.end();
  return sql;
}

export function parsePassword(body: Buffer): string {
  const r = new BodyReader(body);
  const pw = r.cstring();
  r.end();
  return pw;
}

export interface ParseMessage {
  name: string;
  sql: string;
  paramTypes: number[];
}

export function parseParse(body: Buffer): ParseMessage {
  const r = new BodyReader(body);
  const name = r.name();
  const sql = r.cstring();
  const n = r.uint16();
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.int32() >>> 0);
  r.end();
  return { name, sql, paramTypes };
}

export interface BindMessage {
  portal: string;
  statement: string;
  paramFormats: number[];
  /** Why PostgreSQL would refuse it (an ERROR, the session goes on), when it would. */
  invalid?: string;
  /** Raw parameter values (null for SQL NULL). */
  params: (Buffer | null)[];
  resultFormats: number[];
}

export function parseBind(body: Buffer): BindMessage {
  const r = new BodyReader(body);
  const portal = r.name();
  const statement = r.name();
  const nf = r.uint16();
  const paramFormats: number[] = [];
  for (let i = 0; i < nf; i++) paramFormats.push(r.int16());
  const np = r.uint16();
  const params: (Buffer | null)[] = [];
  for (let i = 0; i < np; i++) {
    const len = r.int32();
    if (len === -1) params.push(null);
    else if (len < -1) throw new FrameError('invalid parameter length', '08P01');
    else params.push(r.bytes(len));
  }
  const nr = r.uint16();
  const resultFormats: number[] = [];
  for (let i = 0; i < nr; i++) resultFormats.push(r.int16());
  r.end();
  // Well framed, but not what PostgreSQL runs: it answers with an error, not by closing.
  const invalid =
    nf > 1 && nf !== np
      ? `bind message has ${nf} parameter formats but ${np} parameters`
      : undefined;
  return { portal, statement, paramFormats, params, resultFormats, invalid };
}

/** Parameter values as text for policy input: binary values are shown hex-encoded. */
export function bindParamsAsText(
  b: Pick<BindMessage, 'params' | 'paramFormats'>,
): (string | null)[] {
  return b.params.map((p, i) => {
    if (p === null) return null;
    const fmt = b.paramFormats.length === 1 ? b.paramFormats[0] : (b.paramFormats[i] ?? 0);
    return fmt === 1 ? '\\x' + p.toString('hex') : p.toString('utf8');
  });
}

export interface DescribeOrClose {
  kind: 'S' | 'P';
  name: string;
}

export function parseDescribeOrClose(body: Buffer): DescribeOrClose {
  const r = new BodyReader(body);
  const k = r.byte();
  if (k !== 0x53 && k !== 0x50) throw new FrameError('invalid describe/close target', '08P01');
  const name = r.name();
  r.end();
  return { kind: k === 0x53 ? 'S' : 'P', name };
}

export function parseExecute(body: Buffer): { portal: string; maxRows: number } {
  const r = new BodyReader(body);
  const portal = r.name();
  const maxRows = r.int32();
  r.end();
  return { portal, maxRows };
}
