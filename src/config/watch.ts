// Watches the config file and the policy files; calls back (debounced) when what one of them
// holds changes, however it was changed.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';

export interface FileWatch {
  /**
   * Watch these paths from now on. Paths watched before keep what they were last seen to
   * hold, so a change made meanwhile (while a reload ran) still calls back.
   */
  update(paths: (string | undefined)[]): void;
  close(): void;
}

/**
 * What a path holds, hashed: a file's content through any symlinks, or a folder's .rego
 * files as the policy loader reads them. A path that cannot be read hashes as missing.
 */
function fingerprint(path: string): string {
  const h = createHash('sha256');
  const walk = (p: string, top: boolean) => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) walk(join(p, e), false);
    } else if (top || p.endsWith('.rego')) {
      h.update(p).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  try {
    walk(path, true);
  } catch {
    return 'missing';
  }
  return h.digest('hex');
}

/**
 * Call `onChange` when what one of `paths` holds changes. A file is watched through its
 * folder: editors and Kubernetes replace files (write elsewhere, rename over), and a watch on
 * the file itself stays on the old inode. A Kubernetes ConfigMap volume swaps a `..data`
 * link and leaves the file's own link alone, so an event on any name in the folder is
 * followed (debounced) by re-reading every watched path, and only a changed content calls
 * back: other files in the folder (the loader's compiled config among them) do not.
 */
export function watchFiles(
  paths: (string | undefined)[],
  onChange: () => void,
  debounceMs = 200,
): FileWatch {
  let files: string[] = [];
  const seen = new Map<string, string>();
  let timer: NodeJS.Timeout | undefined;
  const recheck = () => {
    let changed = false;
    for (const f of files) {
      const now = fingerprint(f);
      if (now === seen.get(f)) continue;
      seen.set(f, now);
      changed = true;
    }
    if (changed) onChange();
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(recheck, debounceMs);
  };
  const watchers = new Map<string, FSWatcher>();
  const watchAll = () => {
    // A folder named itself (a policy folder, read with its subfolders) is watched whole.
    const dirs = new Map<string, boolean>();
    for (const f of files) {
      let dir = dirname(f);
      let recursive = false;
      try {
        if (statSync(f).isDirectory()) [dir, recursive] = [f, true];
      } catch {
        // A missing file is reported by the policy loader, not here.
      }
      dirs.set(dir, (dirs.get(dir) ?? false) || recursive);
    }
    for (const [key, w] of watchers) {
      const [dir, rec] = [key.slice(2), key[0] === 'r'];
      if (dirs.get(dir) !== rec) {
        w.close();
        watchers.delete(key);
      }
    }
    for (const [dir, recursive] of dirs) {
      const key = `${recursive ? 'r' : 'f'}:${dir}`;
      if (watchers.has(key)) continue;
      try {
        const w = watch(dir, { recursive }, schedule);
        w.on('error', () => {});
        w.unref();
        watchers.set(key, w);
      } catch {
        // A missing folder is reported by the policy loader, not here.
      }
    }
  };
  const update = (next: (string | undefined)[]) => {
    files = [...new Set(next.filter((p): p is string => p !== undefined))];
    for (const f of files) if (!seen.has(f)) seen.set(f, fingerprint(f));
    for (const f of [...seen.keys()]) if (!files.includes(f)) seen.delete(f);
    watchAll();
    // What changed while the caller was busy is seen at once.
    schedule();
  };
  update(paths);
  clearTimeout(timer);
  return {
    update,
    close() {
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
