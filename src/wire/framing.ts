// v3 protocol framing: splits a byte stream into messages, with length caps checked
// before anything is buffered.

/** One complete message: `raw` is the whole frame (type byte + length + body). */
export interface Frame {
  /** Message type byte (e.g. 0x51 'Q'); 0 for startup-phase packets, which have none. */
  type: number;
  /** Body without type and length. */
  body: Buffer;
  /** The exact bytes received, for forwarding untouched. */
  raw: Buffer;
}

export class FrameError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * Accumulates chunks and yields complete frames. `typed` false reads startup-phase
 * packets (Int32 length, no type byte).
 */
const EMPTY = Buffer.alloc(0);

export class FrameReader {
  private buf: Buffer = EMPTY;
  typed: boolean;

  constructor(
    public maxLength: number,
    typed = true,
  ) {
    this.typed = typed;
  }

  /** Bytes held that do not yet form a whole frame. */
  get pending(): number {
    return this.buf.length;
  }

  /** A whole frame is buffered (next() would return one or throw). */
  hasFrame(): boolean {
    const head = this.typed ? 5 : 4;
    if (this.buf.length < head) return false;
    return this.buf.length >= this.buf.readInt32BE(this.typed ? 1 : 0) + (this.typed ? 1 : 0);
  }

  /** Type byte of the next (possibly incomplete) typed message, if one has begun. */
  peekType(): number | undefined {
    return this.typed && this.buf.length > 0 ? this.buf[0] : undefined;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** Remaining bytes, handed over (e.g. when the stream changes hands). */
  drain(): Buffer {
    const b = this.buf;
    this.buf = EMPTY;
    return b;
  }

  /** Next complete frame, or undefined when more bytes are needed. Throws FrameError. */
  next(): Frame | undefined {
    const buf = this.buf;
    const head = this.typed ? 5 : 4;
    if (buf.length < head) return undefined;
    const off = this.typed ? 1 : 0;
    const len = buf.readInt32BE(off);
    // The length counts itself: a startup packet is at least 8 bytes, a message at least 4.
    const min = this.typed ? 4 : 8;
    if (len < min) throw new FrameError(`invalid message length ${len}`, '08P01');
    if (len > this.maxLength)
      throw new FrameError(`message length ${len} exceeds the limit`, '08P01');
    const total = len + off;
    if (buf.length < total) return undefined;
    const raw = buf.length === total ? buf : buf.subarray(0, total);
    this.buf = buf.length === total ? EMPTY : buf.subarray(total);
    return { type: this.typed ? buf[0] : 0, body: raw.subarray(head), raw };
  }
}
