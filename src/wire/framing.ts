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
  /**
   * The message was longer than the reader's limit and is being dropped (see
   * FrameReader's `skippable`): its claimed length. `body` and `raw` are empty.
   */
  oversized?: number;
}

/** The most PostgreSQL reads of any message (MaxAllocSize): past it a length is garbage. */
export const MAX_SKIPPABLE_LENGTH = 0x3fffffff;

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
  /** Received bytes; those before `pos` have been handed out as frames. */
  private buf: Buffer = EMPTY;
  private pos = 0;
  /**
   * Chunks received after `buf` while its frame is still incomplete, joined once it can
   * be: a large message arriving in small pieces is copied once, not once per piece.
   */
  private parts: Buffer[] | undefined;
  private partsLen = 0;
  /** Bytes of an oversized message still to come, dropped as they do. */
  private skipping = 0;
  typed: boolean;

  constructor(
    public maxLength: number,
    typed = true,
    /**
     * Types a message of which over `maxLength` (but within what PostgreSQL itself reads)
     * is dropped as it arrives and handed out as `oversized`, instead of ending the stream:
     * the types that carry a client's data (Query, Parse, Bind, CopyData).
     */
    private readonly skippable?: ReadonlySet<number>,
  ) {
    this.typed = typed;
  }

  /** Bytes held that do not yet form a whole frame. */
  get pending(): number {
    return this.buf.length - this.pos + this.partsLen;
  }

  /** A message has begun and not ended (held, or being dropped). */
  get midMessage(): boolean {
    return this.skipping > 0 || this.pending > 0;
  }

  /** A whole frame is buffered (next() would return one or throw). */
  hasFrame(): boolean {
    this.join(false);
    const head = this.typed ? 5 : 4;
    const have = this.buf.length - this.pos;
    if (have < head) return false;
    return have >= this.buf.readInt32BE(this.pos + (this.typed ? 1 : 0)) + (this.typed ? 1 : 0);
  }

  /** Type byte of the next (possibly incomplete) typed message, if one has begun. */
  peekType(): number | undefined {
    return this.typed && this.buf.length > this.pos ? this.buf[this.pos] : undefined;
  }

  push(chunk: Buffer): void {
    if (this.skipping > 0) {
      if (chunk.length <= this.skipping) {
        this.skipping -= chunk.length;
        return;
      }
      chunk = chunk.subarray(this.skipping);
      this.skipping = 0;
    }
    if (this.parts) {
      this.parts.push(chunk);
      this.partsLen += chunk.length;
    } else if (this.pos === this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.parts = [chunk];
      this.partsLen = chunk.length;
    }
  }

  /**
   * Join the held chunks onto `buf`, unless (without `all`) the frame they continue has a
   * valid length that they still fall short of.
   */
  private join(all: boolean): void {
    if (!this.parts) return;
    if (!all) {
      const have = this.buf.length - this.pos;
      const off = this.typed ? 1 : 0;
      if (have >= 4 + off) {
        const len = this.buf.readInt32BE(this.pos + off);
        const valid = len >= (this.typed ? 4 : 8) && len <= this.maxLength;
        if (valid && have + this.partsLen < len + off) return;
      }
    }
    this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.parts]);
    this.pos = 0;
    this.parts = undefined;
    this.partsLen = 0;
  }

  /** Remaining bytes, handed over (e.g. when the stream changes hands). */
  drain(): Buffer {
    this.join(true);
    const b = this.pos === 0 ? this.buf : this.buf.subarray(this.pos);
    this.buf = EMPTY;
    this.pos = 0;
    return b;
  }

  /** Next complete frame, or undefined when more bytes are needed. Throws FrameError. */
  next(): Frame | undefined {
    this.join(false);
    const buf = this.buf;
    const pos = this.pos;
    const head = this.typed ? 5 : 4;
    if (buf.length - pos < head) return undefined;
    const off = this.typed ? 1 : 0;
    const len = buf.readInt32BE(pos + off);
    // The length counts itself: a startup packet is at least 8 bytes, a message at least 4.
    const min = this.typed ? 4 : 8;
    if (len < min) throw new FrameError(`invalid message length ${len}`, '08P01');
    if (len > this.maxLength && len <= MAX_SKIPPABLE_LENGTH && this.skippable?.has(buf[pos]))
      return this.skip(len);
    if (len > this.maxLength)
      throw new FrameError(
        `message length ${len} exceeds the limit of ${this.maxLength} bytes`,
        '08P01',
      );
    const end = pos + len + off;
    if (buf.length < end) return undefined;
    const raw = pos === 0 && end === buf.length ? buf : buf.subarray(pos, end);
    if (end === buf.length) {
      // Everything handed out: let the chunk go.
      this.buf = EMPTY;
      this.pos = 0;
    } else this.pos = end;
    return { type: this.typed ? buf[pos] : 0, body: raw.subarray(head), raw };
  }

  /** Drop the message at `pos` (held, and the rest as it comes): see `skippable`. */
  private skip(len: number): Frame {
    const type = this.buf[this.pos];
    const total = len + 1;
    const have = this.buf.length - this.pos;
    if (have >= total) this.pos += total;
    else {
      this.skipping = total - have;
      this.buf = EMPTY;
      this.pos = 0;
    }
    return { type, body: EMPTY, raw: EMPTY, oversized: len };
  }
}
