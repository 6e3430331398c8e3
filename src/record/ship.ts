// Shipping sealed spool segments to sinks: per-sink ordered queues, retry with backoff.
import { join } from 'node:path';
import type { Sink, SpoolFs } from './types.js';

export interface ShipperOptions {
  dir: string;
  fs: SpoolFs;
  sinks: Sink[];
  minMs: number;
  maxMs: number;
  onAlert(msg: string, fields: Record<string, unknown>): void;
  /** Every sink holds the segment: the spool may drop it. */
  onShipped(segment: string): void;
}

interface SinkQueue {
  sink: Sink;
  pending: string[];
  running: boolean;
  failures: number;
}

const MARKERS = '.shipped';
/** A sink name as a directory name. */
const dirName = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_');

/**
 * One ordered queue per sink, so a slow or absent sink never delays another. Shipped
 * segments are remembered as empty marker files `.shipped/<sink>/<segment>`.
 */
export class Shipper {
  private queues: SinkQueue[];
  private remaining = new Map<string, number>();
  private idle: Array<() => void> = [];
  private closed = false;
  private timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: ShipperOptions) {
    this.queues = o.sinks.map((sink) => ({ sink, pending: [], running: false, failures: 0 }));
  }

  /** Which sinks already hold `segment` (from marker files). */
  async shippedTo(segment: string): Promise<Set<string>> {
    const out = new Set<string>();
    for (const q of this.queues) {
      try {
        await this.o.fs.stat(join(this.o.dir, MARKERS, dirName(q.sink.name), segment));
        out.add(q.sink.name);
      } catch {
        /* not shipped */
      }
    }
    return out;
  }

  private inflight = new Set<Promise<void>>();

  enqueue(segment: string): Promise<void> {
    const p = this.doEnqueue(segment).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  private async doEnqueue(segment: string): Promise<void> {
    const done = await this.shippedTo(segment);
    const todo = this.queues.filter((q) => !done.has(q.sink.name));
    if (!todo.length) {
      this.o.onShipped(segment);
      return;
    }
    this.remaining.set(segment, todo.length);
    for (const q of todo) {
      q.pending.push(segment);
      void this.run(q);
    }
  }

  get backlog(): number {
    return this.remaining.size;
  }

  /** Resolves when every queue is empty (or after `ms`). Returns whether it emptied. */
  async settle(ms: number): Promise<boolean> {
    await Promise.all([...this.inflight]);
    if (!this.remaining.size) return true;
    let t: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      new Promise<boolean>((r) => this.idle.push(() => r(true))),
      new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms))),
    ]);
    clearTimeout(t);
    return ok;
  }

  stop(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async run(q: SinkQueue): Promise<void> {
    if (q.running || this.closed) return;
    q.running = true;
    try {
      while (q.pending.length && !this.closed) {
        const segment = q.pending[0];
        try {
          const path = join(this.o.dir, segment);
          if (q.sink.putFile) await q.sink.putFile(segment, path);
          else await q.sink.put(segment, await this.o.fs.readFile(path));
          await this.o.fs.mkdir(join(this.o.dir, MARKERS, dirName(q.sink.name)));
          await this.o.fs.writeFile(join(this.o.dir, MARKERS, dirName(q.sink.name), segment), '');
        } catch (e) {
          q.failures++;
          const delay = Math.min(this.o.maxMs, this.o.minMs * 2 ** Math.min(q.failures - 1, 20));
          this.o.onAlert('recording sink put failed; retrying', {
            sink: q.sink.name,
            segment,
            attempt: q.failures,
            retry_ms: delay,
            error: e instanceof Error ? e.message : String(e),
          });
          await new Promise<void>((r) => {
            const t = setTimeout(
              () => {
                this.timers.delete(t);
                r();
              },
              delay * (0.75 + Math.random() * 0.5),
            );
            t.unref();
            this.timers.add(t);
          });
          continue;
        }
        q.failures = 0;
        q.pending.shift();
        const left = (this.remaining.get(segment) ?? 1) - 1;
        if (left <= 0) {
          this.remaining.delete(segment);
          this.o.onShipped(segment);
        } else this.remaining.set(segment, left);
      }
    } finally {
      q.running = false;
      if (!this.remaining.size) for (const r of this.idle.splice(0)) r();
    }
  }
}
