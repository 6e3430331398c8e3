// Crash-test child: appends statements with 'fsync' durability from 4 sessions and prints
// "<session> <seq>" once each is durable, until killed.
import { createRecorder } from '../recorder.js';
import { startInfo, stmt } from '../testkit.js';

const [spoolDir, keyJson] = process.argv.slice(2);
const rec = createRecorder({
  spoolDir,
  durability: 'fsync',
  checkpoint: { signingKey: JSON.parse(keyJson), everyEvents: 50 },
  segment: { maxBytes: 40_000 },
});

async function run(id: string): Promise<void> {
  const s = await rec.openSession(startInfo({ sessionId: id }));
  for (let i = 0; ; i++) {
    const seq = await s.statement(stmt(`SELECT ${i} /* ${id} */`));
    process.stdout.write(`${id} ${seq}\n`);
    s.result(seq, { outcome: 'ok', duration_ms: 0.1, rows: 1, command_tag: 'SELECT 1' });
  }
}
for (let i = 0; i < 4; i++) void run('crash-' + i);
