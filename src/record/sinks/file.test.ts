// File sink: contract suite, plus retention by segment age.
import { existsSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from '../testkit.js';
import { fileSink } from './file.js';
import { sinkContract } from './sink.contract.js';

sinkContract('fileSink', async () => {
  const root = await tempDir('file-sink');
  const dir = join(root, 'sink');
  return {
    sink: fileSink({ dir }),
    // Outage: the directory is moved away and a file stands in its way (put fails).
    outage: {
      stop: async () => {
        await mkdir(dir, { recursive: true });
        await rename(dir, dir + '.away');
        await writeFile(dir, 'in the way');
      },
      start: async () => {
        await rm(dir);
        await rename(dir + '.away', dir);
      },
    },
  };
});

it('prunes segments older than retainDays and ignores other files', async () => {
  const dir = await tempDir('retain');
  const sink = fileSink({ dir, retainDays: 30 });
  const old = '20261001T000000000Z-aa-000001.jsonl';
  const fresh = '20261120T000000000Z-aa-000002.jsonl';
  await sink.put(old, new Uint8Array([10]));
  await sink.put(fresh, new Uint8Array([10]));
  await writeFile(join(dir, 'notes.txt'), 'x');
  expect(await sink.prune(Date.parse('2026-11-22T00:00:00Z'))).toEqual([old]);
  expect((await readdir(dir)).sort()).toEqual([fresh, 'notes.txt']);
  expect(await sink.list()).toEqual([fresh]);
});

it('ships a sealed spool segment without a second copy on the same filesystem, and copies it to another', async () => {
  const spool = await tempDir('ship-spool');
  const seg = '20261122T030000000Z-c0ffee01-000001.jsonl';
  const path = join(spool, seg);
  await writeFile(path, '{"a":1}\n');
  const same = await tempDir('ship-same');
  await fileSink({ dir: same }).putFile(seg, path);
  // One file on disk under two names: the spool's and the sink's.
  expect((await stat(path)).ino).toBe((await stat(join(same, seg))).ino);
  if (!existsSync('/dev/shm')) return;
  const other = await mkdtemp('/dev/shm/ship-other-');
  try {
    await fileSink({ dir: other }).putFile(seg, path);
    const copy = await stat(join(other, seg));
    expect(copy.ino).not.toBe((await stat(path)).ino);
    expect(copy.mode & 0o777).toBe(0o600);
    expect(await readFile(join(other, seg), 'utf8')).toBe('{"a":1}\n');
  } finally {
    await rm(other, { recursive: true, force: true });
  }
});

// A segment shipped again (its marker lost to a restart) leaves the sink as one shipment does.

it('a segment shipped twice leaves no temporary name behind, and retention removes every name of it', async () => {
  const spool = await tempDir('reship-spool');
  const dir = await tempDir('reship-sink');
  const seg = '20261001T000000000Z-c0ffee01-000001.jsonl';
  const path = join(spool, seg);
  await writeFile(path, '{"a":1}\n');
  const sink = fileSink({ dir, retainDays: 30 });
  await sink.putFile(seg, path);
  // Shipped again: the shipper's marker did not make it to disk before a restart.
  await sink.putFile(seg, path);
  expect((await readdir(dir)).sort()).toEqual([seg]);
  // The spool drops its copy; retention then drops the sink's.
  await unlink(path);
  expect(await sink.prune(Date.parse('2026-11-22T00:00:00Z'))).toEqual([seg]);
  const left = await readdir(dir);
  const held = await Promise.all(left.map(async (n) => [n, (await stat(join(dir, n))).size]));
  expect(held, 'names still holding the pruned segment').toEqual([]);
});
