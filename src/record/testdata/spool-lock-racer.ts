// Lock-race child: prints "ready", waits for "go" on stdin, takes the spool lock, prints
// "won" or "lost <pid>", and holds what it took until stdin closes.
import { createInterface } from 'node:readline';
import { lockSpool, SpoolInUse } from '../lock.js';

const [spoolDir] = process.argv.slice(2);
const input = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
input.once('line', () => {
  try {
    lockSpool(spoolDir);
    process.stdout.write('won\n');
  } catch (e) {
    if (!(e instanceof SpoolInUse)) throw e;
    process.stdout.write(`lost ${e.pid}\n`);
  }
});
input.once('close', () => process.exit(0));
