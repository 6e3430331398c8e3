// Secrets never leave the authenticator: not in results, not in log lines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setLogSink } from '../util/logger.js';
import { generateApiKey } from './api-key.js';
import { createAuthenticator } from './authenticator.js';
import {
  DEV_AUDIENCE,
  DEV_ISSUER,
  devJwtOptions,
  loadOrCreateDevKey,
  mintToken,
} from './dev-key.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const lines: string[] = [];
let dir: string;
beforeAll(async () => {
  setLogSink((l) => lines.push(l));
  dir = await mkdtemp(join(tmpdir(), 'pcl-auth-'));
});
afterAll(async () => {
  setLogSink((l) => process.stderr.write(l + '\n'));
  await rm(dir, { recursive: true, force: true });
});

describe('authenticator secrecy', () => {
  it('never returns or logs a token or key secret, whatever fails', async () => {
    const dev = await loadOrCreateDevKey(dir);
    const key = generateApiKey('etl');
    const auth = createAuthenticator({
      jwt: devJwtOptions(dev),
      apiKeys: [{ id: 'etl', hash: key.hash, sub: 'svc' }],
      bindUser: 'sub',
      rateLimit: { perAddress: { maxFailures: 5, windowMs: 60_000, lockoutMs: 60_000 } },
    });
    const good = await mintToken(dev, { sub: 'alice', issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
    const wrongAud = await mintToken(dev, { sub: 'alice', issuer: DEV_ISSUER, audience: 'x' });
    const [h, p, s] = good.split('.');
    const secrets = [
      good,
      wrongAud,
      `${h}.${p}.${s.slice(0, -4)}AAAA`,
      `${h}.${p}x.${s}`,
      key.key + 'x',
      key.key.replace('pcl_etl_', 'pcl_other_'),
      key.key,
    ];
    const results = [];
    for (const pw of secrets) {
      // user 'bob' does not match sub 'alice'/'svc', so even valid credentials fail here.
      results.push(await auth.authenticate(pw, { user: 'bob', clientAddr: '10.0.0.1' }));
    }
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(results.some((r) => !r.ok && r.code === 'locked')).toBe(true);
    const text = JSON.stringify(results) + lines.join('\n');
    for (const pw of secrets) {
      expect(text).not.toContain(pw);
      expect(text).not.toContain(pw.slice(-24)); // signature or key secret tail
    }
    expect(lines).toEqual([]);
  });
});

describe('the failure limiter and JWTs', () => {
  it('locks out an address after failed logins of any kind, never a valid JWT from it', async () => {
    const dev = await loadOrCreateDevKey(dir);
    const key = generateApiKey('etl');
    const auth = createAuthenticator({
      jwt: devJwtOptions(dev),
      apiKeys: [{ id: 'etl', hash: key.hash, sub: 'svc' }],
    });
    const ctx = { user: 'agent', clientAddr: '192.0.2.77' };
    const jwt = await mintToken(dev, { sub: 'alice', issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
    const expired = await mintToken(dev, {
      sub: 'alice',
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
      now: () => Date.now() - 7200_000,
    });
    // An agent retrying a stale token, and garbage: 20 failures lock the address...
    for (let i = 0; i < 20; i++) {
      const r = await auth.authenticate(i % 2 ? expired : 'not.a.token', ctx);
      expect(r).toMatchObject({ ok: false, code: 'invalid' });
    }
    expect(await auth.authenticate('still.not.a.token', ctx)).toMatchObject({ code: 'locked' });
    expect(await auth.authenticate(expired, ctx)).toMatchObject({ code: 'locked' });
    // ...for API keys, refused unchecked, and for tokens that do not verify; a valid token
    // still gets in.
    expect(await auth.authenticate(key.key, ctx)).toMatchObject({ ok: false, code: 'locked' });
    expect(await auth.authenticate(jwt, ctx)).toMatchObject({ ok: true });
  });
});
