// A token with a made-up `kid` (no signature needed: only its alg, iss and aud are read before
// the key lookup, and those are public) makes the gateway fetch the JWKS again once the
// cooldown has passed. Before, every other login waited for that fetch, even one whose kid
// was in the key set already held: with the identity provider slow or hanging, one
// unauthenticated request per cooldown stalled every agent's login for up to the fetch
// timeout (5 s by default). Held keys are now tried first.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticator.js';

const ISS = 'https://idp.test';
const AUD = 'portcullis';
let server: Server;
let url: string;
let jwk: JWK;
let priv: CryptoKey;
/** While set, the identity provider holds its answer until `release` is called. */
let slow = false;
let release: (() => void) | undefined;
/** The held fetch was given up (the gateway's fetch timed out) before its answer. */
let heldGivenUp = false;

beforeAll(async () => {
  const k = await generateKeyPair('ES256');
  priv = k.privateKey;
  jwk = { ...(await exportJWK(k.publicKey)), kid: 'k1', alg: 'ES256' };
  server = createServer((req, res) => {
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    };
    if (!slow) return answer();
    release = answer;
    req.on('close', () => {
      if (!res.writableEnded) heldGivenUp = true;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const sign = (kid: string, sub = 'alice') =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid })
    .setSubject(sub)
    .setIssuer(ISS)
    .setAudience(AUD)
    .setExpirationTime('5m')
    .sign(priv);

describe('remote JWKS refetch', () => {
  it('does not make a login with a known kid wait for a refetch an unknown kid started', async () => {
    const auth = createAuthenticator({
      jwt: { jwks: { kind: 'remote', url, cooldownMs: 0 }, issuer: ISS, audience: AUD },
      rateLimit: false,
    });
    const ctx = { user: 'a', clientAddr: '127.0.0.1' };
    const good = await sign('k1');
    expect((await auth.authenticate(good, ctx)).ok).toBe(true); // keys held now

    slow = true; // the identity provider is slow from here on
    // An attacker's token: a kid nobody has, the public iss/aud, any signature.
    const [h, p] = (await sign('made-up')).split('.');
    const forged = `${h}.${p}.AAAA`;
    const attack = auth.authenticate(forged, { user: 'x', clientAddr: '10.0.0.9' });
    // Its fetch reached the identity provider, which holds it.
    await expect.poll(() => release !== undefined).toBe(true);

    // Another agent, its own valid token (not one remembered from an earlier login).
    const other = await sign('k1', 'bob');
    const r = await auth.authenticate(other, ctx);
    expect(r.ok).toBe(true);
    // It did not wait for the held fetch: that one is still waiting for its answer.
    expect(heldGivenUp, 'a valid login waited for the refetch the forged kid started').toBe(false);
    release?.();
    await attack;
  });
});
