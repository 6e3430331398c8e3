// A test gateway that records to a spool of its own ('fsync' durability, no sinks), and the
// events its spool holds, for tests that assert on what was recorded.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfig } from '../../src/config/index.js';
import type { Recorder } from '../../src/record/index.js';
import { buildRecorder } from '../../src/runtime/recording.js';
import { startTestGateway, type TestGateway } from './gateway.js';

export interface RecordedGateway {
  g: TestGateway;
  spool: string;
  /** Every event in the spool, in file order. */
  events(): Record<string, unknown>[];
  /** Resolves once the session of identity `sub` has its session_end (or after 5 s). */
  ended(sub: string): Promise<void>;
  stop(): Promise<void>;
}

/** Events of every segment in `spool` (a segment's preallocated tail of zeros skipped). */
export function spoolEvents(spool: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const f of readdirSync(spool).filter((n) => n.endsWith('.jsonl')))
    for (const line of readFileSync(join(spool, f), 'utf8').split('\n'))
      if (line.startsWith('{')) out.push(JSON.parse(line) as Record<string, unknown>);
  return out;
}

/** `adapt`: changes the recorder before the gateway gets it (a test slowing one of its calls). */
export async function startRecordedGateway(
  database: string,
  config: Partial<GatewayConfig> = {},
  adapt?: (recorder: Recorder) => void,
): Promise<RecordedGateway> {
  const base = mkdtempSync(join(tmpdir(), 'portcullis-recorded-'));
  const spool = join(base, 'spool');
  const recording = { enabled: true, spoolDir: spool, durability: 'fsync' as const, sinks: [] };
  const recorder: Recorder = (await buildRecorder(recording as never, base, '.data'))!;
  adapt?.(recorder);
  const g = await startTestGateway(database, { ...config, recording } as never, { recorder });
  return {
    g,
    spool,
    events: () => spoolEvents(spool),
    async ended(sub) {
      const done = () => spoolEvents(spool).some((e) => e.sub === sub && e.type === 'session_end');
      for (let t = 0; t < 100 && !done(); t++) await new Promise((r) => setTimeout(r, 50));
    },
    async stop() {
      await g.stop();
      await recorder.close().catch(() => undefined);
    },
  };
}
