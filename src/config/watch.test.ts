// The config watcher against real folders and a real fs.watch: plain edits, editors that
// rename over the file, and a Kubernetes ConfigMap volume whose `..data` link is swapped.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reloadInputs } from './load.js';
import { watchFiles, type FileWatch } from './watch.js';

const DEBOUNCE = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
const watches: FileWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Start watching; `calls()` counts the callbacks so far. */
function watching(paths: string[]) {
  let n = 0;
  watches.push(watchFiles(paths, () => n++, DEBOUNCE));
  return () => n;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

/**
 * A folder laid out as the kubelet lays out a ConfigMap volume: `..<version>/` holds the
 * files, `..data` links to the current version, and each file is a link into `..data`.
 * `update` writes a new version and swaps `..data` as the kubelet does
 * (`ln -s ..v2 ..data_tmp; mv -T ..data_tmp ..data`), then removes the old version.
 */
function configMapVolume(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-configmap-'));
  dirs.push(dir);
  let current = '';
  let n = 0;
  const version = (content: Record<string, string>) => {
    const name = `..2026_01_01_00_00_0${n++}.000000001`;
    mkdirSync(join(dir, name));
    for (const [f, text] of Object.entries(content)) writeFileSync(join(dir, name, f), text);
    return name;
  };
  current = version(files);
  symlinkSync(current, join(dir, '..data'));
  for (const f of Object.keys(files)) symlinkSync(join('..data', f), join(dir, f));
  return {
    dir,
    update(content: Record<string, string>) {
      const next = version(content);
      symlinkSync(next, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, current), { recursive: true });
      current = next;
    },
  };
}

describe('watchFiles', () => {
  it('calls back once when the kubelet swaps a ConfigMap volume to a new version (regression: the swap of ..data was filtered out by file name)', async () => {
    const vol = configMapVolume({
      'gateway.config.ts': 'export default {};\n',
      'policies.rego': 'p1',
    });
    const calls = watching([join(vol.dir, 'gateway.config.ts'), join(vol.dir, 'policies.rego')]);
    vol.update({
      'gateway.config.ts': 'export default { dataDir: "x" };\n',
      'policies.rego': 'p2',
    });
    await until(() => calls() === 1);
    // Only the policy changes in the next version.
    vol.update({
      'gateway.config.ts': 'export default { dataDir: "x" };\n',
      'policies.rego': 'p3',
    });
    await until(() => calls() === 2);
    await sleep(DEBOUNCE * 6);
    expect(calls()).toBe(2);
  });

  it('does not call back for other files in the folder, or for a new version with the same content', async () => {
    const vol = configMapVolume({
      'gateway.config.ts': 'export default {};\n',
      'policies.rego': 'p1',
    });
    const calls = watching([join(vol.dir, 'gateway.config.ts'), join(vol.dir, 'policies.rego')]);
    writeFileSync(join(vol.dir, 'notes.txt'), 'unrelated');
    // The loader compiles a TypeScript config into a module beside it, then removes it.
    writeFileSync(join(vol.dir, '.portcullis-config-1-2.mjs'), 'export default {};');
    rmSync(join(vol.dir, '.portcullis-config-1-2.mjs'));
    vol.update({ 'gateway.config.ts': 'export default {};\n', 'policies.rego': 'p1' });
    await sleep(DEBOUNCE * 8);
    expect(calls()).toBe(0);
  });

  it('calls back for an edit in place and for an editor that renames a new file over the old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
    dirs.push(dir);
    const cfg = join(dir, 'gateway.config.ts');
    writeFileSync(cfg, 'export default {};\n');
    writeFileSync(join(dir, 'policies.rego'), 'p1');
    const calls = watching([cfg, join(dir, 'policies.rego')]);
    writeFileSync(cfg, 'export default { dataDir: "a" };\n');
    await until(() => calls() === 1);
    writeFileSync(join(dir, '.policies.rego.swp'), 'p2');
    renameSync(join(dir, '.policies.rego.swp'), join(dir, 'policies.rego'));
    await until(() => calls() === 2);
  });

  it('watches a policy folder: a changed .rego file calls back, another file does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'main.rego'), 'p1');
    const calls = watching([join(dir, 'policies')]);
    writeFileSync(join(dir, 'policies', 'README.md'), 'notes');
    await sleep(DEBOUNCE * 8);
    expect(calls()).toBe(0);
    writeFileSync(join(dir, 'policies', 'extra.rego'), 'p2');
    await until(() => calls() === 1);
  });

  it('watches a policy folder with its subfolders, as the loader reads them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'policies', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'policies', 'sub', 'main.rego'), 'p1');
    const calls = watching([join(dir, 'policies')]);
    await sleep(DEBOUNCE * 2);
    writeFileSync(join(dir, 'policies', 'sub', 'main.rego'), 'p2');
    await until(() => calls() === 1);
  });

  it('after update(), still calls back for a change made while the caller was busy (regression: a reload replaced the watch and lost an edit made during it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-watch-'));
    dirs.push(dir);
    const file = join(dir, 'policies.rego');
    writeFileSync(file, 'v0');
    let n = 0;
    const w = watchFiles([file], () => n++, DEBOUNCE);
    watches.push(w);
    writeFileSync(file, 'v1');
    await until(() => n === 1);
    // The caller reloads (reads v1); meanwhile v2 is written; then it renews the watch.
    writeFileSync(file, 'v2');
    w.update([file, join(dir, 'other.rego')]);
    await until(() => n === 2);
    await sleep(DEBOUNCE * 4);
    expect(n).toBe(2);
  });
});

describe('reloadInputs', () => {
  it('watches the wasm bundle a config runs, not the Rego files it replaces', () => {
    expect(reloadInputs(undefined, { policy: { wasm: 'bundle.tar.gz' } }, '/etc/gw')).toEqual([
      '/etc/gw/bundle.tar.gz',
    ]);
    expect(
      reloadInputs(undefined, { policy: { wasm: '/p/b.tar.gz', files: ['x.rego'] } }, '/etc/gw'),
    ).toEqual(['/p/b.tar.gz']);
    expect(reloadInputs(undefined, { policy: { files: ['rego/'] } }, '/etc/gw')).toEqual([
      '/etc/gw/rego',
    ]);
    expect(reloadInputs('/etc/gw/gateway.config.json', {}, '/etc/gw')).toEqual([
      '/etc/gw/gateway.config.json',
      '/etc/gw/policies.rego',
    ]);
  });
});
