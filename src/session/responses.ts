// Upstream → client: scans backend message headers in each chunk, forwards untouched runs
// of bytes, and hands the few messages the session must see (ReadyForQuery, ErrorResponse,
// CommandComplete, ParameterStatus, Copy*Response) to a handler. DataRows are never decoded;
// they are counted against the current statement's row limit, and dropped past it.
import { B } from '../wire/index.js';

/** A lookup table by message type byte: 1 for the given types. */
function typeSet(types: number[]): Uint8Array {
  const t = new Uint8Array(256);
  for (const x of types) t[x] = 1;
  return t;
}

/** Backend messages whose body the session reads. Everything else is passed through. */
const WATCHED = typeSet([
  B.ReadyForQuery,
  B.ErrorResponse,
  B.CommandComplete,
  B.ParameterStatus,
  B.CopyInResponse,
  B.CopyOutResponse,
  B.CopyBothResponse,
  B.EmptyQueryResponse,
  B.PortalSuspended,
  B.CloseComplete,
  B.Authentication,
  B.BackendKeyData,
]);

/** The same, and the answers a settings guard's messages get (see guard.ts). */
const WATCHED_GUARDS = WATCHED.slice();
WATCHED_GUARDS[B.ParseComplete] = 1;

/**
 * The one answer each single extended-protocol message gets when it succeeds (Parse, Bind,
 * Close, Describe, Execute): counted, so that the session can tell which message an
 * ErrorResponse belongs to.
 */
const TERMINAL = typeSet([
  B.ParseComplete,
  B.BindComplete,
  B.CloseComplete,
  B.RowDescription,
  B.NoData,
  B.CommandComplete,
  B.EmptyQueryResponse,
  B.PortalSuspended,
]);

/**
 * Every message a backend may send once logged in. Anything else (FunctionCallResponse to a
 * FunctionCall the gateway never forwards, NegotiateProtocolVersion, an unknown type) is a
 * protocol violation: the session closes rather than relay what it cannot judge.
 */
const KNOWN = typeSet([
  B.ParseComplete,
  B.BindComplete,
  B.CloseComplete,
  B.NotificationResponse,
  B.CommandComplete,
  B.CopyDone,
  B.DataRow,
  B.CopyData,
  B.ErrorResponse,
  B.CopyInResponse,
  B.CopyOutResponse,
  B.EmptyQueryResponse,
  B.BackendKeyData,
  B.NoticeResponse,
  B.NoData,
  B.Authentication,
  B.ParameterStatus,
  B.PortalSuspended,
  B.RowDescription,
  B.ParameterDescription,
  B.CopyBothResponse,
  B.ReadyForQuery,
]);

/** Largest watched message buffered whole (an ErrorResponse can carry a long message). */
const MAX_WATCHED = 1024 * 1024;

export interface ResponseHandler {
  /**
   * A watched message. Return undefined to forward it as is, null to drop it, or bytes to
   * send instead.
   */
  onMessage(type: number, body: Buffer): Buffer | null | undefined;
  /** Bytes ready for the client, in order. */
  emit(chunks: Buffer[]): void;
  /** The upstream broke the protocol; the session must close. */
  onViolation(reason: string): void;
}

export class ResponseScanner {
  /** Bytes of the current pass-through message still to come. */
  private skip = 0;
  /** Those bytes belong to a row past the limit: not forwarded. */
  private skipDrop = false;
  /**
   * Rows (DataRow, or CopyData in COPY TO STDOUT) the current statement may still return;
   * -1 when it has no limit. The handler sets it as each statement's results begin.
   */
  rowsLeft = -1;
  /** The limit rowsLeft started from (-1: none). */
  private rowsLimit = -1;
  /** The current statement went past its limit: its further rows are being dropped. */
  rowsOver = false;

  /** Messages passed so far that answer one extended-protocol message (see TERMINAL). */
  terminals = 0;

  private watched = WATCHED;

  /** While settings guards are in flight the handler also sees ParseComplete. */
  watchGuards(on: boolean): void {
    this.watched = on ? WATCHED_GUARDS : WATCHED;
  }

  /** Set by halt(): nothing after the current message reaches the client. */
  private halted = false;

  /** Forward nothing after the message being handled (the session is about to close). */
  halt(): void {
    this.halted = true;
  }

  /** Messages counted as rows that are none (a COPY's header line). */
  private notRows = 0;
  /**
   * The current statement is a COPY TO STDOUT in binary: its last CopyData, the trailer
   * (-1 as the field count, alone or after the file header when there are no rows), is no
   * row. It is told apart by its bytes, not allowed for ahead: an allowance of one more
   * message passed one more row when the result was longer (the trailer is last).
   */
  private binaryCopy = false;

  /** Start counting rows of the next statement against `limit` (undefined: no limit). */
  limitRows(limit: number | undefined): void {
    this.rowsLeft = this.rowsLimit = limit ?? -1;
    this.rowsOver = false;
    this.notRows = 0;
    this.binaryCopy = false;
  }

  /** The current statement is a COPY TO STDOUT in binary (see binaryCopy). */
  copyOutBinary(): void {
    this.binaryCopy = true;
  }

  /** The current statement sends `n` more CopyData messages that hold no row. */
  countNotRows(n: number): void {
    if (this.rowsLimit < 0 || n <= 0) return;
    this.rowsLeft += n;
    this.rowsLimit += n;
    this.notRows += n;
  }

  /** Rows of the current statement passed to the client so far (counted under a limit only). */
  get rowsPassed(): number {
    return this.rowsLimit < 0 ? 0 : Math.max(0, this.rowsLimit - this.rowsLeft - this.notRows);
  }
  /** A header or watched message split across chunks. */
  private partial: Buffer | undefined;
  /**
   * The client has the start of a message whose rest has not been sent: nothing else may be
   * written to it (an error would be read as the rest of that message).
   */
  midMessage = false;

  constructor(private readonly handler: ResponseHandler) {}

  push(chunk: Buffer): void {
    if (this.halted) return;
    const out: Buffer[] = [];
    let buf = chunk;
    if (this.partial) {
      buf = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    let pos = 0;
    let runStart = 0;
    const len = buf.length;
    if (this.skip > 0) {
      const n = Math.min(this.skip, len);
      this.skip -= n;
      pos = n;
      if (this.skipDrop) runStart = n;
    }
    while (pos < len) {
      if (len - pos < 5) {
        if (pos > runStart) out.push(buf.subarray(runStart, pos));
        this.partial = Buffer.from(buf.subarray(pos));
        runStart = pos = len;
        break;
      }
      const type = buf[pos];
      const mlen = buf.readInt32BE(pos + 1);
      if (mlen < 4)
        return this.violation(buf, out, runStart, pos, `invalid backend message length ${mlen}`);
      if (KNOWN[type] === 0)
        return this.violation(
          buf,
          out,
          runStart,
          pos,
          `unexpected backend message type 0x${type.toString(16)}`,
        );
      const total = mlen + 1;
      if (this.watched[type] === 0) {
        if (
          this.binaryCopy &&
          this.rowsLeft >= 0 &&
          !this.rowsOver &&
          type === B.CopyData &&
          pos + total > len &&
          total <= BINARY_TRAILER_MAX
        ) {
          // A CopyData of a binary COPY under a row limit, small enough to be its trailer
          // (no row) and split across reads: only its whole body tells, so it waits for it.
          if (pos > runStart) out.push(buf.subarray(runStart, pos));
          this.partial = Buffer.from(buf.subarray(pos));
          runStart = pos = len;
          break;
        }
        this.terminals += TERMINAL[type];
        if (this.rowsLeft >= 0 && (type === B.DataRow || type === B.CopyData)) {
          if (
            this.binaryCopy &&
            !this.rowsOver &&
            type === B.CopyData &&
            isBinaryTrailer(buf, pos, len)
          ) {
            // The binary trailer: no row (after a cut, dropped with the rest).
          } else if (this.rowsLeft === 0) {
            // Past the limit: cut the run before this row and drop the row.
            this.rowsOver = true;
            if (pos > runStart) out.push(buf.subarray(runStart, pos));
            if (pos + total <= len) runStart = pos += total;
            else {
              this.skip = pos + total - len;
              this.skipDrop = true;
              runStart = pos = len;
            }
            continue;
          } else this.rowsLeft--;
        }
        this.skipDrop = false;
        if (pos + total <= len) pos += total;
        else {
          this.skip = pos + total - len;
          pos = len;
        }
        continue;
      }
      if (mlen > MAX_WATCHED)
        return this.violation(
          buf,
          out,
          runStart,
          pos,
          `backend message ${String.fromCharCode(type)} too long`,
        );
      if (pos + total > len) {
        if (pos > runStart) out.push(buf.subarray(runStart, pos));
        this.partial = Buffer.from(buf.subarray(pos));
        runStart = pos = len;
        break;
      }
      this.terminals += TERMINAL[type];
      let r: Buffer | null | undefined;
      try {
        r = this.handler.onMessage(type, buf.subarray(pos + 5, pos + total));
      } catch {
        // A body that does not parse (an unterminated string, a short field).
        return this.violation(
          buf,
          out,
          runStart,
          pos,
          `malformed backend message ${String.fromCharCode(type)}`,
        );
      }
      if (r !== undefined) {
        if (pos > runStart) out.push(buf.subarray(runStart, pos));
        if (r !== null) out.push(r);
        runStart = pos + total;
      }
      pos += total;
      if (this.halted) {
        if (runStart < pos) out.push(buf.subarray(runStart, pos));
        runStart = pos = len;
        break;
      }
    }
    if (runStart < len && pos > runStart)
      out.push(runStart === 0 && pos >= len ? buf : buf.subarray(runStart, Math.min(pos, len)));
    if (out.length) this.handler.emit(out);
    this.midMessage = this.skip > 0 && !this.skipDrop;
  }

  /**
   * The upstream broke the protocol at `pos`: the whole messages before it still reach the
   * client (so it is left at a message boundary), nothing from `pos` on does.
   */
  private violation(
    buf: Buffer,
    out: Buffer[],
    runStart: number,
    pos: number,
    reason: string,
  ): void {
    this.halted = true;
    if (pos > runStart) out.push(buf.subarray(runStart, pos));
    if (out.length) this.handler.emit(out);
    this.midMessage = false;
    this.handler.onViolation(reason);
  }
}

/** The binary COPY file header (signature, flags, header extension length). */
const BINARY_COPY_HEADER = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** The longest CopyData that can be a binary COPY's trailer: with the file header, no rows. */
const BINARY_TRAILER_MAX = 5 + BINARY_COPY_HEADER.length + 8 + 2;

/**
 * Whether the CopyData at `pos`, whole in `buf` (up to `len`), is a binary COPY's trailer:
 * the field count -1, alone or after the file header (a COPY of no rows). A message not
 * whole in the buffer is taken for a row.
 */
function isBinaryTrailer(buf: Buffer, pos: number, len: number): boolean {
  const total = buf.readInt32BE(pos + 1) + 1;
  if (pos + total > len) return false;
  const data = buf.subarray(pos + 5, pos + total);
  if (data.length === 2) return data.readInt16BE(0) === -1;
  return (
    data.length === BINARY_COPY_HEADER.length + 8 + 2 &&
    data.subarray(0, BINARY_COPY_HEADER.length).equals(BINARY_COPY_HEADER) &&
    data.readInt32BE(BINARY_COPY_HEADER.length + 4) === 0 &&
    data.readInt16BE(data.length - 2) === -1
  );
}
