import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterDir } from './embedded.js';

const root = process.getuid?.() === 0;

describe('where the embedded cluster lives when run as root', () => {
  it.runIf(root)('opens the data directory for search only, and keeps the cluster in it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cluster-'));
    chmodSync(dir, 0o755);
    const data = join(dir, '.data');
    mkdirSync(data, { mode: 0o700 });
    expect(clusterDir(join(data, 'pg'))).toBe(join(data, 'pg'));
    expect(statSync(data).mode & 0o777).toBe(0o711);
  });

  it.runIf(root)(
    'uses a directory of its own under the temporary directory when closed above',
    () => {
      const closed = mkdtempSync(join(tmpdir(), 'closed-'));
      chmodSync(closed, 0o700);
      const pg = join(closed, 'checkout', '.data', 'pg');
      const got = clusterDir(pg);
      expect(got.startsWith(tmpdir())).toBe(true);
      expect(clusterDir(pg)).toBe(got);
      const base = join(got, '..');
      expect(statSync(base).uid).toBe(0);
      expect(statSync(base).mode & 0o777).toBe(0o711);
    },
  );

  it.runIf(root)('refuses a directory someone else made there first, or a link', () => {
    const closed = mkdtempSync(join(tmpdir(), 'closed-'));
    chmodSync(closed, 0o700);
    const pg = join(closed, 'a', 'pg');
    const planted = join(clusterDir(pg), '..');
    chownSync(planted, 65534, 65534);
    expect(() => clusterDir(pg)).toThrow(/not a directory of this user's/);
    const pg2 = join(closed, 'b', 'pg');
    const base2 = join(clusterDir(pg2), '..');
    const elsewhere = mkdtempSync(join(tmpdir(), 'elsewhere-'));
    // Replace the directory with a link to one the attacker chose.
    rmSync(base2, { recursive: true });
    symlinkSync(elsewhere, base2);
    expect(() => clusterDir(pg2)).toThrow(/not a directory of this user's/);
  });
});
