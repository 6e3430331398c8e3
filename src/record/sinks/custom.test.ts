// A custom sink written in config (an object satisfying Sink) passes the same contract.
import type { Sink } from '../types.js';
import { sinkContract } from './sink.contract.js';

/** What a user might write in gateway.config.ts: an in-memory store with an off switch. */
function memorySink() {
  const store = new Map<string, Uint8Array>();
  let down = false;
  const sink = {
    name: 'memory',
    async put(segment: string, bytes: Uint8Array) {
      if (down) throw new Error('memory sink is down');
      store.set(segment, bytes.slice());
    },
    async list() {
      if (down) throw new Error('memory sink is down');
      return [...store.keys()].sort();
    },
    async read(segment: string) {
      const b = store.get(segment);
      if (!b) throw new Error(`no ${segment}`);
      return b;
    },
  } satisfies Sink;
  return {
    sink,
    outage: {
      stop: async () => void (down = true),
      start: async () => void (down = false),
    },
  };
}

sinkContract('custom sink object', async () => memorySink());
