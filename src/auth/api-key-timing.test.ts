// An unknown API key id must do the same hashing work as a wrong secret (counted, not timed).
import { beforeEach, describe, expect, it, vi } from 'vitest';

const calls = vi.hoisted(() => ({ scrypt: [] as number[], sha256: 0 }));

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    scrypt: ((...args: Parameters<typeof real.scrypt>) => {
      calls.scrypt.push((args[3] as { N: number }).N);
      return (real.scrypt as (...a: unknown[]) => void)(...args);
    }) as typeof real.scrypt,
    createHash: (alg: string) => {
      if (alg === 'sha256') calls.sha256++;
      return real.createHash(alg);
    },
  };
});

const { createApiKeyVerifier, generateApiKey } = await import('./api-key.js');

beforeEach(() => {
  calls.scrypt = [];
  calls.sha256 = 0;
});

describe('API key timing', () => {
  it('runs scrypt with the configured parameters for an unknown id', async () => {
    const slow = generateApiKey('slow', { algorithm: 'scrypt' });
    const v = createApiKeyVerifier([{ id: 'slow', hash: slow.hash, sub: 's' }]);
    calls.scrypt = [];
    await v.verify(slow.key.slice(0, -1) + (slow.key.endsWith('A') ? 'B' : 'A'));
    const wrongSecret = [...calls.scrypt];
    calls.scrypt = [];
    await v.verify(slow.key.replace('pcl_slow_', 'pcl_ghost_'));
    expect(wrongSecret).toEqual([16384]);
    expect(calls.scrypt).toEqual(wrongSecret);
  });

  it('runs sha256 once for an unknown id when only sha256 hashes are configured', async () => {
    const k = generateApiKey('fast');
    const v = createApiKeyVerifier([{ id: 'fast', hash: k.hash, sub: 's' }]);
    calls.sha256 = 0;
    await v.verify(k.key + 'x');
    expect(calls.sha256).toBe(1);
    await v.verify(k.key.replace('pcl_fast_', 'pcl_ghost_'));
    expect(calls.sha256).toBe(2);
    expect(calls.scrypt).toEqual([]);
  });

  it('runs scrypt for a wrong secret of a sha256 key when scrypt keys are configured too', async () => {
    const fast = generateApiKey('fast');
    const slow = generateApiKey('slow', { algorithm: 'scrypt' });
    const v = createApiKeyVerifier([
      { id: 'fast', hash: fast.hash, sub: 'f' },
      { id: 'slow', hash: slow.hash, sub: 's' },
    ]);
    calls.scrypt = [];
    await v.verify(fast.key.replace('pcl_fast_', 'pcl_ghost_'));
    const unknown = [...calls.scrypt];
    calls.scrypt = [];
    await v.verify(fast.key + 'x');
    expect(unknown).toEqual([16384]);
    expect(calls.scrypt).toEqual(unknown);
    // The right secret is not slowed down.
    calls.scrypt = [];
    expect((await v.verify(fast.key)).ok).toBe(true);
    expect(calls.scrypt).toEqual([]);
  });

  it('prices every failure at the slowest scrypt key configured', async () => {
    const light = generateApiKey('light', { algorithm: 'scrypt' });
    const heavy = generateApiKey('heavy', { algorithm: 'scrypt' });
    // The same key at N = 2^15: a costlier entry for the id 'heavy'.
    const heavyHash = heavy.hash.replace('N=16384,', 'N=32768,');
    expect(heavyHash).not.toBe(heavy.hash);
    const v = createApiKeyVerifier([
      { id: 'light', hash: light.hash, sub: 'l' },
      { id: 'heavy', hash: heavyHash, sub: 'h' },
    ]);
    calls.scrypt = [];
    await v.verify(light.key.replace('pcl_light_', 'pcl_ghost_'));
    expect(calls.scrypt).toEqual([32768]);
    calls.scrypt = [];
    await v.verify(light.key + 'x');
    expect(calls.scrypt).toEqual([16384, 32768]);
  });
});
