// Remote JWKS served by a real local HTTP server, and JWKS files.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticator.js';
import { AuthError } from './errors.js';

const ISS = 'https://idp.test';
const AUD = 'portcullis';
const ctx = { user: 'agent', clientAddr: '127.0.0.1' };

let k1: CryptoKeyPair;
let k2: CryptoKeyPair;
let jwk1: JWK;
let jwk2: JWK;
let server: Server;
let url: string;
let fetches = 0;
/** /flaky answers 503 while set. */
let down = false;
let served: JWK[] = [];
let dir: string;

function sign(key: CryptoKey, kid: string, sub = 'alice') {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid })
    .setSubject(sub)
    .setIssuer(ISS)
    .setAudience(AUD)
    .setExpirationTime('5m')
    .sign(key);
}

beforeAll(async () => {
  k1 = await generateKeyPair('ES256');
  k2 = await generateKeyPair('ES256');
  jwk1 = { ...(await exportJWK(k1.publicKey)), kid: 'k1', alg: 'ES256' };
  jwk2 = { ...(await exportJWK(k2.publicKey)), kid: 'k2', alg: 'ES256' };
  server = createServer((req, res) => {
    fetches++;
    if (req.url === '/broken') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{not json');
      return;
    }
    if (req.url === '/flaky' && down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'pcl-jwks-'));
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

function remote(cooldownMs = 30_000, path = '/jwks') {
  return createAuthenticator({
    jwt: { jwks: { kind: 'remote', url: url + path, cooldownMs }, issuer: ISS, audience: AUD },
    rateLimit: false,
  });
}

describe('remote JWKS', () => {
  it('fetches once and serves later verifications from the cache', async () => {
    served = [jwk1];
    fetches = 0;
    const a = remote();
    const t = await sign(k1.privateKey, 'k1');
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => a.authenticate(t, ctx)));
    expect(results.every((r) => r.ok)).toBe(true);
    for (let i = 0; i < 5; i++) expect((await a.authenticate(t, ctx)).ok).toBe(true);
    expect(fetches).toBe(1);
  });

  it('refetches for an unknown kid after the cooldown, not before', async () => {
    served = [jwk1];
    fetches = 0;
    const a = remote(2000);
    expect((await a.authenticate(await sign(k1.privateKey, 'k1'), ctx)).ok).toBe(true);
    expect(fetches).toBe(1);
    // Key rotation at the IdP: k2 appears.
    served = [jwk1, jwk2];
    const t2 = await sign(k2.privateKey, 'k2');
    expect((await a.authenticate(t2, ctx)).ok).toBe(false); // within cooldown: no refetch
    expect(fetches).toBe(1);
    // Random kids cannot make us hammer the IdP.
    const random = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sign(k2.privateKey, `x${i}`)),
    );
    for (const t of random) expect((await a.authenticate(t, ctx)).ok).toBe(false);
    expect(fetches).toBe(1);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await a.authenticate(t2, ctx)).ok).toBe(true);
    expect(fetches).toBe(2);
  });

  it('fails closed when the JWKS endpoint is broken or unreachable', async () => {
    const t = await sign(k1.privateKey, 'k1');
    const broken = createAuthenticator({
      jwt: {
        jwks: { kind: 'remote', url: url + '/broken', cooldownMs: 0 },
        issuer: ISS,
        audience: AUD,
      },
    });
    // An outage is not the client's fault: reported as unavailable and never locks anyone out.
    for (let i = 0; i < 30; i++) {
      const r = await broken.authenticate(t, ctx);
      expect(r).toMatchObject({ ok: false, code: 'unavailable' });
    }
    const down = createAuthenticator({
      jwt: {
        jwks: { kind: 'remote', url: 'http://127.0.0.1:1/jwks', timeoutMs: 500 },
        issuer: ISS,
        audience: AUD,
      },
      rateLimit: false,
    });
    expect(await down.authenticate(t, ctx)).toMatchObject({ ok: false, code: 'unavailable' });
  });
});

describe('JWKS file', () => {
  it('verifies against keys read from a file', async () => {
    const path = join(dir, 'jwks.json');
    await writeFile(path, JSON.stringify({ keys: [jwk1, jwk2] }));
    const a = createAuthenticator({
      jwt: { jwks: { kind: 'file', path }, issuer: ISS, audience: AUD },
      rateLimit: false,
    });
    expect((await a.authenticate(await sign(k2.privateKey, 'k2'), ctx)).ok).toBe(true);
    const stranger = await generateKeyPair('ES256');
    expect((await a.authenticate(await sign(stranger.privateKey, 'k1'), ctx)).ok).toBe(false);
  });

  it('refuses a missing or invalid file at construction', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"keys": "nope"}');
    for (const path of [join(dir, 'missing.json'), bad]) {
      expect(() =>
        createAuthenticator({ jwt: { jwks: { kind: 'file', path }, issuer: ISS, audience: AUD } }),
      ).toThrow(AuthError);
    }
  });

  it('keeps the keys it has while the endpoint is down, and does not refetch at every login', async () => {
    served = [jwk1];
    fetches = 0;
    down = false;
    const a = createAuthenticator({
      jwt: {
        jwks: { kind: 'remote', url: url + '/flaky', cacheMaxAgeMs: 100, cooldownMs: 1000 },
        issuer: ISS,
        audience: AUD,
      },
      rateLimit: false,
    });
    expect((await a.authenticate(await sign(k1.privateKey, 'k1', 'a1'), ctx)).ok).toBe(true);
    expect(fetches).toBe(1);
    down = true;
    // Past both the cache age and the cooldown since that fetch.
    await new Promise((r) => setTimeout(r, 1100));
    // The keys are due for a refetch, which fails: the ones held still verify.
    expect((await a.authenticate(await sign(k1.privateKey, 'k1', 'a2'), ctx)).ok).toBe(true);
    expect(fetches).toBe(2);
    // Made-up kids and more logins within the cooldown fetch nothing.
    for (let i = 0; i < 20; i++) {
      const t = await sign(k2.privateKey, `nope${i}`, `m${i}`);
      expect((await a.authenticate(t, ctx)).ok).toBe(false);
    }
    expect((await a.authenticate(await sign(k1.privateKey, 'k1', 'a3'), ctx)).ok).toBe(true);
    expect(fetches).toBe(2);
    // A provider down from the start: unavailable, one fetch per cooldown.
    fetches = 0;
    const cold = createAuthenticator({
      jwt: {
        jwks: { kind: 'remote', url: url + '/flaky', cooldownMs: 1000 },
        issuer: ISS,
        audience: AUD,
      },
      rateLimit: false,
    });
    for (let i = 0; i < 10; i++)
      expect(await cold.authenticate(await sign(k1.privateKey, 'k1', `c${i}`), ctx)).toMatchObject({
        ok: false,
        code: 'unavailable',
      });
    expect(fetches).toBe(1);
    down = false;
  });
});
