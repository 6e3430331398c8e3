// Cursor over a message body: bounds-checked reads that throw ProtocolError on malformed input.
import { FrameError } from './framing.js';

/** NAMEDATALEN - 1: how much of a statement or portal name PostgreSQL keeps. */
export const NAME_BYTES = 63;

export class BodyReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new FrameError('truncated message', '08P01');
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  /** A count: PostgreSQL reads Parse's and Bind's counts unsigned (up to 65,535). */
  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  /**
   * A NUL-terminated prepared statement or portal name as PostgreSQL keys it: by its first
   * NAME_BYTES bytes, whatever follows (two names that share them are one name upstream).
   * A cut through a character keeps that character's first bytes as lone surrogates
   * (U+DC00 + byte), so that names which differ only there stay apart, and apart from any
   * name read whole.
   */
  name(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new FrameError('unterminated string in message', '08P01');
    const start = this.pos;
    this.pos = end + 1;
    if (end - start <= NAME_BYTES) return this.buf.toString('utf8', start, end);
    const cut = start + NAME_BYTES;
    // The first byte left out continues a character: that character is split.
    let whole = cut;
    if ((this.buf[cut] & 0xc0) === 0x80)
      while (whole > start && (this.buf[whole] & 0xc0) === 0x80) whole--;
    let s = this.buf.toString('utf8', start, whole);
    for (let i = whole; i < cut; i++) s += String.fromCharCode(0xdc00 + this.buf[i]);
    return s;
  }

  /** NUL-terminated UTF-8 string. */
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new FrameError('unterminated string in message', '08P01');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  end(): void {
    if (this.pos !== this.buf.length)
      throw new FrameError('unexpected bytes at end of message', '08P01');
  }
}
