// A JWKS is a few KiB. Before, the remote response was read whole with res.json() and no size
// cap: an endpoint answering with a huge body (a misbehaving or compromised identity
// provider, a captive proxy) had the gateway buffer and parse all of it within the fetch
// timeout, on the login path. One over 1 MiB is now refused (the keys count as unavailable)
// and not read further.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticator.js';

const ISS = 'https://idp.test';
const AUD = 'portcullis';
const PAD = 64 * 1024 * 1024; // 64 MiB
let server: Server;
let url: string;
let body: Buffer;
let priv: CryptoKey;

beforeAll(async () => {
  const k = await generateKeyPair('ES256');
  priv = k.privateKey;
  const jwk = { ...(await exportJWK(k.publicKey)), kid: 'k1', alg: 'ES256' };
  const head = Buffer.from(`{"keys":[${JSON.stringify(jwk)}],"pad":"`);
  body = Buffer.concat([head, Buffer.alloc(PAD, 'x'), Buffer.from('"}')]);
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('remote JWKS size', () => {
  it('refuses a JWKS response of 64 MiB instead of loading it', async () => {
    const auth = createAuthenticator({
      jwt: { jwks: { kind: 'remote', url }, issuer: ISS, audience: AUD },
      rateLimit: false,
    });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('alice')
      .setIssuer(ISS)
      .setAudience(AUD)
      .setExpirationTime('5m')
      .sign(priv);
    const r = await auth.authenticate(token, { user: 'a', clientAddr: '127.0.0.1' });
    expect(r.ok, 'a 64 MiB JWKS was read whole and its keys used').toBe(false);
    expect(r).toMatchObject({ code: 'unavailable' });
  });
});
