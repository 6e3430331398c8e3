// Spool writer: group commit of event lines into the active segment, rotation, fail-closed I/O.
import { constants, writeSync } from 'node:fs';
import { open, mkdir, readdir, readFile, writeFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SEAL_BYTES, sealBytes } from './event.js';
import { DIR_MODE, FILE_MODE } from './private-dir.js';
import type { Durability, SpoolFile, SpoolFs } from './types.js';

/** node:fs/promises behind the small interface the spool needs; what it creates is private. */
export const nodeSpoolFs: SpoolFs = {
  open: async (p, flags) => {
    const fh = await open(p, flags, FILE_MODE);
    return {
      write: (d) => fh.write(d),
      writeAt: (d, pos) => fh.write(d, 0, d.length, pos),
      writeSync: (d) => writeSync(fh.fd, d),
      datasync: () => fh.datasync(),
      truncate: (n) => fh.truncate(n),
      close: () => fh.close(),
    };
  },
  mkdir: async (p) => {
    await mkdir(p, { recursive: true, mode: DIR_MODE });
  },
  readdir: (p) => readdir(p),
  readFile: (p) => readFile(p),
  writeFile: (p, d) => writeFile(p, d, { mode: FILE_MODE }),
  stat: (p) => stat(p),
  unlink: (p) => unlink(p),
};

/** Longest a line nobody waits for stays queued in 'fsync' mode. */
const LAZY_MS = 20;

/** O_DSYNC append: the write returns once the data (and the size it changes) is durable. */
const DSYNC_APPEND =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;
/** O_DSYNC with positional writes, for a segment zero-filled ahead of its data. */
const DSYNC_AT = constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC;

/**
 * Zero-filling ahead: an O_DSYNC append changes the file's size and allocates blocks, so
 * each one commits the filesystem journal; overwriting blocks already written (zeros) only
 * writes the data, about half the time on ext4 here. The zeros go out in the background,
 * ZERO_CHUNK at a time, when fewer than ZERO_LOW bytes are left ahead of the data; a data
 * write that would reach into a fill in flight waits for it. A segment is cut back to its
 * data when sealed; readers stop at the first trailing NUL (see `dataEnd`).
 */
const ZERO_CHUNK = 4 << 20;
const ZERO_LOW = 2 << 20;
const ZERO_PIECE = 1 << 20;
let zeros: Buffer | undefined;

/**
 * Lines are encoded once, into a slab (a line longer than one gets a slab of its own size),
 * hashed as those bytes, and written from it. Slab bytes handed to the async queue are
 * never overwritten: the next line goes after them, and a full slab is replaced by a new
 * one. A slab none of whose bytes went to the queue is reused once its lines are written.
 */
const SLAB_BYTES = 128 << 10;
/** A slab grown past this (a loop turn's many lines, a large one) is let go once written. */
const SLAB_KEEP = 4 << 20;
const NO_SLAB = Buffer.alloc(0);

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}
/** Queued lines (their bytes), or a marker: seal the active segment and continue in `rotateTo`. */
type Item = { line: Uint8Array; w?: Waiter } | { rotateTo: string };

export interface SpoolWriterOptions {
  dir: string;
  fs: SpoolFs;
  durability: Durability;
  /** With 'fsync': O_DSYNC writes instead of write + fdatasync. */
  openDsync: boolean;
  syncIntervalMs: number;
  /** Zero-fill a segment no further than this (its rotation size). */
  preallocBytes: number;
  /** A write failed: waiters of the batch are settled by the caller's policy. */
  onWriteError(err: unknown): void;
  onRecovered(): void;
  /** The zero fill ahead of the data could not be written (the disk is full?). */
  onFillError?(err: unknown, filledAhead: number): void;
  /** The previous segment has been synced and closed. */
  onSealed(segment: string, bytes: number): void;
  /** Reject (fail closed) or resolve (fail open) waiters of a failed batch. */
  failOpen: boolean;
  makeError(err: unknown): Error;
}

/**
 * Appends from every session within one event-loop turn, or while the previous write is
 * in flight, go out as one write and (in 'fsync' mode) one fdatasync; their promises
 * resolve together. Lines of a failed batch stay queued and are retried.
 *
 * With 'write' (and 'off') durability the page-cache write is cheap, so while the spool is
 * healthy it is done synchronously, without a thread-pool round trip, at the end of the
 * loop turn: one write carries every line of the turn, every session's statements and
 * results, and the statements' waiters go on together once it returns.
 */
export class SpoolWriter {
  private queue: Item[] = [];
  private flushing = false;
  private scheduled = false;
  private file: SpoolFile | null = null;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private drained: Array<() => void> = [];
  /** Bytes confirmed written in the active segment (used to cut a partial write). */
  written = 0;
  /** Bytes queued but not yet written (memory backlog). */
  pendingBytes = 0;
  failed = false;
  private abandoned = false;
  writes = 0;
  syncs = 0;
  segment: string;
  private readonly dsync: boolean;
  /** The active segment is zero-filled up to here (durably), when positional. */
  private zeroedTo = 0;
  private zeroing: Promise<void> | null = null;
  /** The active segment is written at offsets (opened without O_APPEND). */
  private positional = false;
  /** A fill failed (no space?): the segment's data goes on without one. */
  private noFill = false;
  /** Where lines are encoded: `slab[0, used)` is taken. */
  private slab = NO_SLAB;
  private used = 0;
  /** Bytes of the slab went to the async queue: they stay as they are. */
  private shared = false;
  /** The hash of the line `append` sealed last, and its length in bytes. */
  lastHash = '';
  lastBytes = 0;
  /**
   * 'write'/'off' durability: bytes of lines not yet written, written per turn; they are
   * the last `syncBytes` of the slab's used part.
   */
  private syncBytes = 0;
  private syncImmediate = false;
  private syncLazy: NodeJS.Timeout | null = null;
  /** The waiters of the synchronous batch, settled when it is written. */
  private syncBatch: { done: Promise<void>; w: Waiter } | null = null;
  private lazyTimer: NodeJS.Timeout | null = null;
  private lazyDue = false;

  constructor(
    private readonly o: SpoolWriterOptions,
    first: string,
  ) {
    this.segment = first;
    this.dsync = o.durability === 'fsync' && o.openDsync;
    if (o.durability !== 'fsync' && o.syncIntervalMs > 0) {
      this.syncTimer = setInterval(() => {
        if (this.dirty && !this.flushing) void this.syncNow();
      }, o.syncIntervalMs);
      this.syncTimer.unref();
    }
  }

  /**
   * Seal an event's prefix into its line (see `sealBytes`; `lastHash` and `lastBytes` are
   * its hash and length) and queue it. With `wait`, returns a promise that settles per the
   * durability mode, or `undefined` when nobody waits ('off').
   */
  append(prefix: string, wait: boolean): Promise<void> | undefined {
    const start = this.encode(prefix);
    const n = this.lastBytes;
    this.pendingBytes += n;
    if (this.syncBytes || this.canWriteSync()) return this.appendSync(n, wait);
    const line = this.slab.subarray(start, start + n);
    this.shared = true;
    if (!wait || this.o.durability === 'off') {
      this.queue.push({ line });
      // With 'fsync' every write is a durable one: a line nobody waits for (a result, a
      // checkpoint) rides along with the next statement's write instead of costing its
      // own, or goes out on its own within LAZY_MS.
      if (this.o.durability === 'fsync') this.scheduleLazy();
      else this.schedule();
      return undefined;
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, w: { resolve, reject } });
      this.schedule();
    });
  }

  private canWriteSync(): boolean {
    return (
      this.o.durability !== 'fsync' &&
      !this.flushing &&
      !this.queue.length &&
      !this.retryTimer &&
      !this.abandoned &&
      !this.failed &&
      this.file?.writeSync !== undefined
    );
  }

  /** Write the sealed line of `prefix` at the slab's free end; returns where it starts. */
  private encode(prefix: string): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the exact length only when that is short.
    let need = prefix.length * 3 + SEAL_BYTES;
    if (this.used + need > this.slab.length) {
      need = Buffer.byteLength(prefix) + SEAL_BYTES;
      if (this.used + need > this.slab.length) this.newSlab(need);
    }
    const start = this.used;
    const end = start + this.slab.write(prefix, start);
    this.lastHash = sealBytes(this.slab, start, end);
    this.used = end + SEAL_BYTES;
    this.lastBytes = this.used - start;
    return start;
  }

  /** Make room for `need` bytes past the open synchronous batch, which moves along. */
  private newSlab(need: number): void {
    const keep = this.syncBytes;
    const from = this.used - keep;
    if (!this.shared && keep + need <= this.slab.length) {
      this.slab.copyWithin(0, from, this.used);
    } else {
      // The open batch grows geometrically: each line past a full slab would copy it again.
      const next = Buffer.allocUnsafe(Math.max(SLAB_BYTES, keep ? 2 * (keep + need) : need));
      this.slab.copy(next, 0, from, this.used);
      this.slab = next;
      this.shared = false;
    }
    this.used = keep;
  }

  private appendSync(n: number, wait: boolean): Promise<void> | undefined {
    this.syncBytes += n;
    let p: Promise<void> | undefined;
    if (wait && this.o.durability === 'write') {
      // Every session's line of this loop turn goes out in one write at its end; they
      // wait for it together.
      if (!this.syncBatch) {
        let w!: Waiter;
        const done = new Promise<void>((resolve, reject) => (w = { resolve, reject }));
        this.syncBatch = { done, w };
      }
      p = this.syncBatch.done;
    }
    if (this.syncImmediate) return p;
    if (!wait && this.o.durability === 'write') {
      // A line nobody waits for (a result, a checkpoint) rides along with the next waited
      // write, or goes out on its own within LAZY_MS: an idle loop turn writes nothing.
      this.syncLazy ??= setTimeout(() => this.writeSyncBatch(), LAZY_MS);
      this.syncLazy.unref();
      return p;
    }
    this.syncImmediate = true;
    setImmediate(() => {
      this.syncImmediate = false;
      this.writeSyncBatch();
    });
    return p;
  }

  /**
   * Write the open synchronous batch now, or hand it to the async queue (it goes first,
   * keeping order); its waiters are settled with it.
   */
  private writeSyncBatch(): void {
    if (this.syncLazy) {
      clearTimeout(this.syncLazy);
      this.syncLazy = null;
    }
    const len = this.syncBytes;
    const w = this.syncBatch?.w;
    this.syncBytes = 0;
    this.syncBatch = null;
    if (!len) return w?.resolve();
    const buf = this.slab.subarray(this.used - len, this.used);
    if (!this.canWriteSync()) {
      this.shared = true;
      this.queue.push({ line: buf, w });
      this.schedule();
      return;
    }
    try {
      const n = this.file!.writeSync!(buf);
      if (n < len) throw new Error(`short write to spool (${n} of ${len} bytes)`);
    } catch (e) {
      // The reopen cuts the file back to `written`; the batch is written again.
      this.shared = true;
      this.fail(e, [{ line: buf, w }]);
      return;
    }
    this.writes++;
    this.written += len;
    this.dirty = true;
    this.pendingBytes -= len;
    // Every line of the slab is written: the next ones reuse it (a large one is let go).
    if (!this.shared) {
      this.used = 0;
      if (this.slab.length > SLAB_KEEP) this.slab = NO_SLAB;
    }
    w?.resolve();
  }

  /** Seal the active segment after the lines queued so far; continue in `next`. */
  rotate(next: string): void {
    this.writeSyncBatch();
    this.queue.push({ rotateTo: next });
    this.schedule();
  }

  /** Resolves when everything queued so far is written (and synced). */
  async drain(): Promise<void> {
    this.writeSyncBatch();
    if (!this.queue.length && !this.flushing) return;
    this.lazyDue = true;
    if (this.queue.length) this.schedule();
    await new Promise<void>((r) => this.drained.push(r));
  }

  /**
   * Close the segment. Call after `drain()` has resolved, or after `abandon()`: a spool
   * that keeps failing never drains.
   */
  async close(): Promise<void> {
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (!this.abandoned) await this.drain();
    // An abandoned spool may still have a (failing) write in flight: let it finish.
    while (this.flushing) await new Promise((r) => setTimeout(r, 5));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.file) {
      const f = this.file;
      this.file = null;
      await this.cutZeros(f).catch(() => undefined);
      if (this.dirty) await f.datasync().catch(() => undefined);
      await f.close().catch(() => undefined);
    }
  }

  /** Seal-time: wait for a fill in flight and cut the segment back to its data. */
  private async cutZeros(f: SpoolFile): Promise<void> {
    if (this.zeroing) await this.zeroing;
    // A failed fill may have left zeros past `zeroedTo`: cut whatever is past the data.
    if (this.positional) {
      await f.truncate(this.written);
      this.dirty = true;
    }
    this.zeroedTo = 0;
  }

  /** Start zero-filling ahead of the data when little filled space is left. */
  private fillAhead(f: SpoolFile): void {
    if (!this.positional || this.noFill || this.zeroing || !f.writeAt) return;
    const from = Math.max(this.zeroedTo, this.written);
    if (from - this.written >= ZERO_LOW || from >= this.o.preallocBytes) return;
    const to = Math.min(from + ZERO_CHUNK, this.o.preallocBytes);
    zeros ??= Buffer.alloc(ZERO_PIECE);
    const z = zeros;
    const fill = async () => {
      for (let at = from; at < to;) {
        const r = (await f.writeAt!(at + ZERO_PIECE <= to ? z : z.subarray(0, to - at), at)) as
          { bytesWritten?: number } | undefined;
        const n = r?.bytesWritten ?? Math.min(ZERO_PIECE, to - at);
        if (n <= 0) throw new Error('zero fill made no progress');
        at += n;
        // What is filled is usable at once, even if the rest of the chunk fails.
        this.zeroedTo = at;
      }
    };
    this.zeroing = fill().then(
      () => {
        this.zeroing = null;
      },
      (e: unknown) => {
        // No space, or the file was closed: the data goes on past the fill without one (a
        // write error, if it is one, shows up on the data's own write).
        this.noFill = true;
        this.zeroing = null;
        if (this.file === f) this.o.onFillError?.(e, Math.max(0, this.zeroedTo - this.written));
      },
    );
  }

  private scheduleLazy(): void {
    if (this.lazyTimer || this.scheduled || this.flushing) return;
    this.lazyTimer = setTimeout(() => {
      this.lazyTimer = null;
      this.lazyDue = true;
      this.schedule();
    }, LAZY_MS);
    this.lazyTimer.unref();
  }

  private schedule(): void {
    if (this.lazyTimer) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = null;
    }
    if (this.scheduled || this.flushing || this.retryTimer || this.abandoned) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async syncNow(): Promise<void> {
    if (!this.file) return;
    this.flushing = true;
    try {
      this.dirty = false;
      await this.file.datasync();
      this.syncs++;
    } catch (e) {
      this.dirty = true;
      this.o.onWriteError(e);
    } finally {
      this.flushing = false;
      if (this.queue.length) this.schedule();
    }
  }

  private async ensureOpen(): Promise<SpoolFile> {
    if (this.file) return this.file;
    const path = join(this.o.dir, this.segment);
    // A fill of the previous handle may still be running: let it end before cutting.
    if (this.zeroing) await this.zeroing;
    let f: SpoolFile;
    if (this.dsync) {
      f = await this.o.fs.open(path, DSYNC_AT);
      this.positional = f.writeAt !== undefined;
      if (!this.positional) {
        await f.close();
        f = await this.o.fs.open(path, DSYNC_APPEND);
      }
    } else f = await this.o.fs.open(path, 'a');
    this.zeroedTo = 0;
    this.noFill = false;
    if (this.written > 0 || this.failed) {
      // After a failed write or fsync the file may hold a partial or unsynced batch: cut
      // back to the last byte known good (the batch is written again). Never extend it.
      const size = (await this.o.fs.stat(path)).size;
      if (size > this.written) await f.truncate(this.written);
      else if (size < this.written) {
        this.o.onWriteError(
          new Error(`spool segment ${this.segment} lost ${this.written - size} bytes`),
        );
        this.written = size;
      }
    }
    this.file = f;
    return f;
  }

  /**
   * Something in the queue must go out now: a waiter, a rotation, overdue lazy lines, or a
   * retry after a failure (its waiters were already settled; recovery needs the write).
   */
  private urgent(): boolean {
    if (this.o.durability !== 'fsync' || this.lazyDue || this.failed) return true;
    for (const it of this.queue) if (!('line' in it) || it.w) return true;
    return false;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length && this.urgent()) {
        this.lazyDue = false;
        const batch = this.queue;
        this.queue = [];
        let i = 0;
        try {
          while (i < batch.length) {
            let j = i;
            while (j < batch.length && 'line' in batch[j]) j++;
            if (j > i) {
              const f = await this.ensureOpen();
              const buf = joinLines(batch, i, j);
              const before = this.written;
              try {
                let r: { bytesWritten?: number } | undefined;
                if (this.positional) {
                  if (this.zeroing && this.written + buf.length > this.zeroedTo) await this.zeroing;
                  r = (await f.writeAt!(buf, this.written)) as typeof r;
                } else if (this.o.durability !== 'fsync' && f.writeSync) {
                  // A page-cache write, as on the synchronous path. Awaited, it would let
                  // the next lines queue behind it, and under a steady load every line
                  // would stay on this path (after a rotation or a periodic fdatasync).
                  r = { bytesWritten: f.writeSync(buf) };
                } else r = (await f.write(buf)) as typeof r;
                if (typeof r?.bytesWritten === 'number' && r.bytesWritten < buf.length)
                  throw new Error(
                    `short write to spool (${r.bytesWritten} of ${buf.length} bytes)`,
                  );
                this.writes++;
                this.written += buf.length;
                this.dirty = true;
                this.fillAhead(f);
                if (this.dsync) this.dirty = false;
                else if (this.o.durability === 'fsync') {
                  await f.datasync();
                  this.syncs++;
                  this.dirty = false;
                }
              } catch (e) {
                // Not durable: the retry rewrites this batch from its first byte.
                this.written = before;
                throw e;
              }
              this.pendingBytes -= buf.length;
            }
            for (let k = i; k < j; k++) (batch[k] as { w?: Waiter }).w?.resolve();
            i = j;
            if (i < batch.length) {
              const marker = batch[i] as { rotateTo: string };
              const f = await this.ensureOpen();
              await this.cutZeros(f);
              await f.datasync();
              this.syncs++;
              await f.close();
              this.file = null;
              this.dirty = false;
              const sealed = this.segment;
              const bytes = this.written;
              this.segment = marker.rotateTo;
              this.written = 0;
              this.o.onSealed(sealed, bytes);
              i++;
            }
          }
          if (this.failed) {
            this.failed = false;
            this.o.onRecovered();
          }
        } catch (e) {
          this.fail(e, batch.slice(i));
          return;
        }
      }
    } finally {
      this.flushing = false;
      // Lines nobody waits for, left for the next statement's write.
      if (this.queue.length && !this.retryTimer && !this.abandoned) this.scheduleLazy();
      if ((!this.queue.length && !this.retryTimer) || this.abandoned)
        for (const r of this.drained.splice(0)) r();
    }
  }

  private fail(err: unknown, rest: Item[]): void {
    this.failed = true;
    if (this.file) {
      const f = this.file;
      this.file = null;
      void f.close().catch(() => undefined);
    }
    const e = this.o.makeError(err);
    this.queue = rest.concat(this.queue);
    for (const it of this.queue) {
      if ('line' in it && it.w) {
        if (this.o.failOpen) it.w.resolve();
        else it.w.reject(e);
        it.w = undefined;
      }
    }
    this.o.onWriteError(err);
    if (this.abandoned) {
      this.queue = [];
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, 250);
    this.retryTimer.unref();
  }

  /** Give up on queued lines (close while the spool is broken). */
  abandon(): number {
    this.writeSyncBatch();
    this.abandoned = true;
    const n = this.queue.length;
    for (const it of this.queue) if ('line' in it && it.w) it.w.reject(this.o.makeError('closed'));
    this.queue = [];
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const r of this.drained.splice(0)) r();
    return n;
  }
}

/** The bytes of `batch[i, j)`, all lines: one view when they lie one after another in a slab. */
function joinLines(batch: Item[], i: number, j: number): Uint8Array {
  const first = (batch[i] as { line: Uint8Array }).line;
  let end = first.byteOffset + first.length;
  let k = i + 1;
  for (; k < j; k++) {
    const l = (batch[k] as { line: Uint8Array }).line;
    if (l.buffer !== first.buffer || l.byteOffset !== end) break;
    end += l.length;
  }
  if (k === j) return new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset);
  const parts: Uint8Array[] = [];
  for (k = i; k < j; k++) parts.push((batch[k] as { line: Uint8Array }).line);
  return Buffer.concat(parts);
}
