// Recording directories and files are private: they hold SQL text and bound parameters.
import { chmodSync, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/**
 * An existing directory open to other users is the recorder's to close only when this user
 * owns it and it holds nothing but the recorder's files (`own`): an older version made it
 * 0755, but a directory that holds other things (or a parent) belongs to someone else.
 */
function tightenable(st: Stats): boolean {
  return (st.mode & 0o077) !== 0 && st.uid === process.getuid?.();
}

/** Create `dir` (and missing parents) 0700, or close an existing one that is the recorder's. */
export function privateDirSync(dir: string, own: (name: string) => boolean): void {
  if (mkdirSync(dir, { recursive: true, mode: DIR_MODE }) !== undefined) return;
  const st = statSync(dir);
  if (tightenable(st) && readdirSync(dir).every(own)) chmodSync(dir, st.mode & 0o7700);
}

/** `privateDirSync` for a sink's put. */
export async function privateDir(dir: string, own: (name: string) => boolean): Promise<void> {
  if ((await mkdir(dir, { recursive: true, mode: DIR_MODE })) !== undefined) return;
  const st = await stat(dir);
  if (tightenable(st) && (await readdir(dir)).every(own)) await chmod(dir, st.mode & 0o7700);
}
