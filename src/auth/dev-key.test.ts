import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticator.js';
import {
  DEV_AUDIENCE,
  DEV_ISSUER,
  DEV_KEY_FILE,
  devJwtOptions,
  loadOrCreateDevKey,
  mintToken,
} from './dev-key.js';
import { AuthError } from './errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pcl-devkey-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ctx = { user: 'agent', clientAddr: '127.0.0.1' };

describe('development key', () => {
  it('creates an ES256 key file with mode 0600 and loads the same key again', async () => {
    const d = join(dir, 'a', 'nested');
    const first = await loadOrCreateDevKey(d);
    const st = await stat(join(d, DEV_KEY_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    expect(first.privateJwk).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      alg: 'ES256',
      kid: first.kid,
    });
    expect(first.publicJwks.keys[0]).not.toHaveProperty('d');
    const again = await loadOrCreateDevKey(d);
    expect(again).toEqual(first);
  });

  it('agrees on one key when several callers race to create it', async () => {
    const d = join(dir, 'race');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDevKey(d)));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
  });

  it('tightens a loose file mode and rejects a file that is not a dev key', async () => {
    const d = join(dir, 'loose');
    await loadOrCreateDevKey(d);
    await chmod(join(d, DEV_KEY_FILE), 0o644);
    await loadOrCreateDevKey(d);
    expect((await stat(join(d, DEV_KEY_FILE))).mode & 0o777).toBe(0o600);
    const bad = join(dir, 'bad');
    await loadOrCreateDevKey(bad);
    await writeFile(join(bad, DEV_KEY_FILE), '{"kid":"x"}', { mode: 0o600 });
    await expect(loadOrCreateDevKey(bad)).rejects.toBeInstanceOf(AuthError);
  });

  it('mints tokens the default dev JWT config accepts', async () => {
    const dev = await loadOrCreateDevKey(join(dir, 'mint'));
    const token = await mintToken(dev, {
      sub: 'alice',
      groups: ['analysts'],
      email: 'a@x.test',
      agent: 'bot-1',
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
      extraClaims: { act: { sub: 'bob' }, sub: 'overridden?' },
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: dev.kid, typ: 'JWT' });
    const payload = decodeJwt(token);
    expect(payload.exp! - payload.iat!).toBe(3600);
    const auth = createAuthenticator({ jwt: devJwtOptions(dev), rateLimit: false });
    expect(await auth.authenticate(token, ctx)).toMatchObject({
      ok: true,
      identity: {
        sub: 'alice',
        iss: DEV_ISSUER,
        groups: ['analysts'],
        email: 'a@x.test',
        agent: 'bot-1',
        on_behalf_of: 'bob',
        method: 'jwt',
      },
    });
    // The private key file never leaks into what the verifier trusts.
    expect(JSON.stringify(devJwtOptions(dev))).not.toContain(dev.privateJwk.d!);
    expect(await readFile(join(dir, 'mint', DEV_KEY_FILE), 'utf8')).toContain(dev.privateJwk.d!);
  });

  it('mints short-lived tokens that expire', async () => {
    const dev = await loadOrCreateDevKey(join(dir, 'mint'));
    const t0 = Date.now();
    const token = await mintToken(dev, {
      sub: 'alice',
      ttlSeconds: 60,
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
      now: () => t0,
    });
    const at = (ms: number) =>
      createAuthenticator({ jwt: devJwtOptions(dev), rateLimit: false, now: () => t0 + ms });
    expect((await at(30_000).authenticate(token, ctx)).ok).toBe(true);
    expect((await at(120_000).authenticate(token, ctx)).ok).toBe(false);
    await expect(
      mintToken(dev, { sub: 'a', ttlSeconds: 0, issuer: DEV_ISSUER, audience: DEV_AUDIENCE }),
    ).rejects.toBeInstanceOf(AuthError);
  });

  it('does not accept a token from another dev key', async () => {
    const mine = await loadOrCreateDevKey(join(dir, 'k1'));
    const theirs = await loadOrCreateDevKey(join(dir, 'k2'));
    const token = await mintToken(theirs, { sub: 'x', issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
    const auth = createAuthenticator({ jwt: devJwtOptions(mine), rateLimit: false });
    expect((await auth.authenticate(token, ctx)).ok).toBe(false);
  });
});
