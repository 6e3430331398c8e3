// Spool lock: one process records into a spool at a time; a dead holder's lock is taken over.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FILE_MODE } from './private-dir.js';

/** Another live process records into this spool (or another recorder of this process). */
export class SpoolInUse extends Error {
  override readonly name = 'SpoolInUse';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`recording spool ${dir} is in use by process ${pid}`);
  }
}

/** `lock.<pid>.<random>`: the holder is in the name, so the file is whole once it exists. */
export const LOCK_FILE = /^lock\.([1-9]\d*)\.([0-9a-f]+)$/;

/**
 * Lock files this process holds. One with this pid that is not here was left by an earlier
 * process that had the same pid (a container's gateway is often pid 1 on every start).
 */
const heldHere = new Set<string>();

export interface SpoolLock {
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, as another user's process.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderAlive(name: string): boolean {
  const pid = Number(LOCK_FILE.exec(name)![1]);
  return pid === process.pid ? heldHere.has(name) : pidAlive(pid);
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already: another starter removed the same dead lock.
  }
}

/**
 * Take `dir` (which must exist) for this process, or throw `SpoolInUse`. Each starter
 * creates its own lock file (O_EXCL), then looks at the others: one of a live process makes
 * it step back; else it holds the spool and removes the dead ones (kill -9, a crash). Of two
 * starters, the later to create its file sees the earlier one's, so both cannot win.
 * Synchronous: `createRecorder` throws, and the gateway does not start.
 */
export function lockSpool(dir: string): SpoolLock {
  const name = `lock.${process.pid}.${randomBytes(6).toString('hex')}`;
  const path = join(dir, name);
  closeSync(openSync(path, 'wx', FILE_MODE));
  heldHere.add(name);
  const release = () => {
    heldHere.delete(name);
    removeQuietly(path);
  };
  try {
    const others = readdirSync(dir).filter((n) => n !== name && LOCK_FILE.test(n));
    const live = others.find(holderAlive);
    if (live !== undefined) throw new SpoolInUse(dir, Number(LOCK_FILE.exec(live)![1]));
    for (const n of others) removeQuietly(join(dir, n));
  } catch (e) {
    release();
    throw e;
  }
  return { release };
}
