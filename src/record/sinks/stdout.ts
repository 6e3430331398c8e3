// Stdout sink: sealed segments written as JSONL to a stream (log shippers read it from there).
import type { Writable } from 'node:stream';
import type { Sink } from '../types.js';

/** Write-only: `verify` and `replay` need a readable sink (files or S3) besides this one. */
export function stdoutSink(o: { stream?: Writable; name?: string } = {}) {
  const stream = o.stream ?? process.stdout;
  return {
    name: o.name ?? 'stdout',
    put(_segment: string, bytes: Uint8Array): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        stream.write(bytes, (err) => (err ? reject(err) : resolve()));
      });
    },
  } satisfies Sink;
}
