// File sink: sealed segments as JSONL files in a directory, written atomically, with retention.
import { copyFile, link, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FILE_MODE, privateDir } from '../private-dir.js';
import { parseSegmentName } from '../segment.js';
import type { SegmentSource, Sink } from '../types.js';

export interface FileSinkOptions {
  dir: string;
  /** Ask the recorder to rotate segments at this size (bytes). */
  rotateBytes?: number;
  /** ... or at this age (ms). */
  rotateMs?: number;
  /** `prune()` deletes segments older than this many days. */
  retainDays?: number;
  name?: string;
}

/** What the sink writes: an existing directory holding only these is its own. */
function sinkFile(name: string): boolean {
  return parseSegmentName(name) !== undefined || /^\..+\.jsonl\.tmp$/.test(name);
}

async function listJsonl(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.jsonl') && !n.startsWith('.')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Read-only view of a directory of segments (the spool, or a copy of a sink). */
export function dirSource(dir: string, name = 'dir:' + dir): SegmentSource {
  return {
    name,
    list: () => listJsonl(dir),
    read: async (segment) => new Uint8Array(await readFile(join(dir, segment))),
  };
}

/**
 * @example
 * sinks: [fileSink({ dir: '/var/lib/portcullis/recordings', rotateBytes: 16 << 20, retainDays: 90 })]
 */
export function fileSink(o: FileSinkOptions) {
  const source = dirSource(o.dir);
  /** Make a segment's file under a temporary name with `fill`, then rename it into place. */
  const place = async (segment: string, fill: (tmp: string) => Promise<void>) => {
    if (segment.includes('/') || segment.startsWith('.'))
      throw new Error(`bad segment name ${segment}`);
    await privateDir(o.dir, sinkFile);
    const tmp = join(o.dir, '.' + segment + '.tmp');
    await fill(tmp);
    await rename(tmp, join(o.dir, segment));
    // A segment linked in again (shipped twice: its marker was lost to a restart) is the
    // same file as the sink's, and rename(2) then leaves both names: drop the temporary one.
    await rm(tmp, { force: true });
  };
  return {
    name: o.name ?? 'file',
    rotation: { maxBytes: o.rotateBytes, maxMs: o.rotateMs },
    async put(segment: string, bytes: Uint8Array): Promise<void> {
      await place(segment, async (tmp) => {
        const fh = await open(tmp, 'w', FILE_MODE);
        try {
          await fh.write(bytes);
          await fh.datasync();
        } finally {
          await fh.close();
        }
      });
    },
    async putFile(segment: string, path: string): Promise<void> {
      await place(segment, async (tmp) => {
        await rm(tmp, { force: true });
        // A sealed segment never changes again: on the same filesystem the sink's file is the
        // spool's (a second name, nothing copied); elsewhere the kernel copies it.
        try {
          await link(path, tmp);
        } catch {
          await copyFile(path, tmp);
        }
        const fh = await open(tmp, 'r+');
        try {
          await fh.chmod(FILE_MODE);
          await fh.datasync();
        } finally {
          await fh.close();
        }
      });
    },
    list: source.list,
    read: source.read,
    async prune(now: number): Promise<string[]> {
      if (o.retainDays === undefined) return [];
      const cutoff = now - o.retainDays * 86_400_000;
      const removed: string[] = [];
      for (const name of await listJsonl(o.dir)) {
        const s = parseSegmentName(name);
        if (!s) continue;
        const t = s.time;
        const ms = Date.parse(
          `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}.${t.slice(15, 18)}Z`,
        );
        if (ms < cutoff) {
          await unlink(join(o.dir, name));
          removed.push(name);
        }
      }
      return removed;
    },
  } satisfies Sink & SegmentSource;
}
