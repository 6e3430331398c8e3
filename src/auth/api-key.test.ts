import { describe, expect, it } from 'vitest';
import { createApiKeyVerifier, generateApiKey, hashApiKey, keyFingerprint } from './api-key.js';
import { createAuthenticator } from './authenticator.js';
import { AuthError } from './errors.js';

const ctx = { user: 'etl', clientAddr: '10.1.1.1' };

describe('API keys', () => {
  const etl = generateApiKey('etl');
  const slow = generateApiKey('slow-svc', { algorithm: 'scrypt' });
  const auth = createAuthenticator({
    apiKeys: [
      { id: 'etl', hash: etl.hash, sub: 'svc-etl', groups: ['etl'], agent: 'loader' },
      {
        id: 'slow-svc',
        hash: slow.hash,
        sub: 'svc-slow',
        email: 's@x.test',
        claims: { team: 'data' },
      },
    ],
    rateLimit: false,
  });

  it('generates pcl_<id>_<secret> keys and hashes them', () => {
    expect(etl.key).toMatch(/^pcl_etl_[A-Za-z0-9_-]{43}$/);
    expect(etl.hash).toBe(hashApiKey(etl.key));
    expect(etl.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(slow.hash).toMatch(/^scrypt:N=16384,r=8,p=1:[0-9a-f]{32}:[0-9a-f]{64}$/);
    expect(generateApiKey('etl').key).not.toBe(etl.key);
    expect(() => generateApiKey('bad_id')).toThrow(AuthError);
  });

  it('accepts the right key (sha256 and scrypt) and builds the identity', async () => {
    expect(await auth.authenticate(etl.key, ctx)).toEqual({
      ok: true,
      identity: {
        sub: 'svc-etl',
        groups: ['etl'],
        agent: 'loader',
        method: 'api_key',
        claims: { sub: 'svc-etl', groups: ['etl'], agent_id: 'loader', api_key_id: 'etl' },
      },
      apiKey: { id: 'etl', fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(await auth.authenticate(slow.key, ctx)).toMatchObject({
      ok: true,
      identity: { sub: 'svc-slow', email: 's@x.test', claims: { team: 'data' } },
    });
  });

  it('rejects a wrong secret, an unknown id and malformed keys', async () => {
    const wrong = etl.key.slice(0, -4) + (etl.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(await auth.authenticate(wrong, ctx)).toEqual({
      ok: false,
      code: 'invalid',
      reason: 'api key etl: wrong secret',
    });
    const unknown = etl.key.replace('pcl_etl_', 'pcl_nobody_');
    expect(await auth.authenticate(unknown, ctx)).toEqual({
      ok: false,
      code: 'invalid',
      reason: 'api key id nobody unknown',
    });
    for (const k of [
      'pcl_',
      'pcl_etl',
      'pcl_etl_short',
      'pcl__' + 'a'.repeat(40),
      `pcl_etl_${'a'.repeat(300)}`,
      'pcl_e!l_' + 'a'.repeat(40),
    ]) {
      expect(await auth.authenticate(k, ctx)).toEqual({
        ok: false,
        code: 'invalid',
        reason: 'api key malformed',
      });
    }
  });

  it('never puts the secret in the reason', async () => {
    const wrong = etl.key + 'x';
    const r = await auth.authenticate(wrong, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).not.toContain(etl.key.slice(8, 20));
  });

  it('refuses bad configuration', () => {
    const ok = { id: 'a', hash: hashApiKey('pcl_a_xxxxxxxxxxxxxxxx'), sub: 's' };
    expect(() => createApiKeyVerifier([ok, ok])).toThrow(/twice/);
    expect(() => createApiKeyVerifier([{ ...ok, id: 'a_b' }])).toThrow(AuthError);
    expect(() => createApiKeyVerifier([{ ...ok, hash: 'plain:secret' }])).toThrow(AuthError);
    expect(() => createApiKeyVerifier([{ ...ok, sub: '' }])).toThrow(AuthError);
    const huge = `scrypt:N=${2 ** 24},r=8,p=1:${'00'.repeat(16)}:${'00'.repeat(32)}`;
    expect(() => createApiKeyVerifier([{ ...ok, hash: huge }])).toThrow(/out of range/);
  });

  it('refuses API keys when none are configured', async () => {
    const jwtOnly = createAuthenticator({
      jwt: { jwks: { kind: 'secret', secret: 'z'.repeat(32) }, issuer: 'i', audience: 'a' },
      rateLimit: false,
    });
    expect(await jwtOnly.authenticate(etl.key, ctx)).toEqual({
      ok: false,
      code: 'invalid',
      reason: 'api keys not enabled',
    });
  });

  it('fingerprints an entry by what it says, not by the order it is written in', () => {
    const a = { id: 'etl', hash: etl.hash, sub: 's', groups: ['a', 'b'], claims: { x: 1, y: 2 } };
    const b = { claims: { y: 2, x: 1 }, groups: ['a', 'b'], sub: 's', hash: etl.hash, id: 'etl' };
    expect(keyFingerprint(b)).toBe(keyFingerprint(a));
    expect(keyFingerprint({ ...a, groups: ['b', 'a'] })).not.toBe(keyFingerprint(a));
    expect(keyFingerprint({ ...a, sub: 't' })).not.toBe(keyFingerprint(a));
  });
});
