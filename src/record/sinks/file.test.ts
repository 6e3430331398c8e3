// File sink: contract suite, plus retention by segment age.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
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
