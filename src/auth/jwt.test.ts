import { CompactSign, SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, type AuthOptions, type AuthResult } from './authenticator.js';
import { AuthError } from './errors.js';
import { createJwtVerifier } from './jwt.js';

const ISS = 'https://idp.test';
const AUD = 'portcullis';
const NOW = Date.UTC(2030, 0, 1); // fixed clock, ms
const nowSec = NOW / 1000;
const ctx = { user: 'agent', clientAddr: '10.0.0.1' };

let es: CryptoKeyPair;
let other: CryptoKeyPair;
let rs: CryptoKeyPair;
let publicJwk: JWK;

beforeAll(async () => {
  es = await generateKeyPair('ES256', { extractable: true });
  other = await generateKeyPair('ES256');
  rs = await generateKeyPair('RS256');
  publicJwk = { ...(await exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256' };
});

function auth(
  extra: Partial<AuthOptions> = {},
  jwt: Partial<NonNullable<AuthOptions['jwt']>> = {},
) {
  return createAuthenticator({
    jwt: {
      jwks: { kind: 'inline', keys: { keys: [publicJwk] } },
      issuer: ISS,
      audience: AUD,
      algorithms: ['ES256'],
      ...jwt,
    },
    rateLimit: false,
    now: () => NOW,
    ...extra,
  });
}

async function token(
  claims: Record<string, unknown> = {},
  opts: {
    key?: CryptoKey;
    alg?: string;
    kid?: string;
    iss?: string;
    aud?: string;
    exp?: number | null;
  } = {},
) {
  let t = new SignJWT({ groups: ['analysts'], ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: opts.kid ?? 'k1' })
    .setSubject('alice')
    .setIssuer(opts.iss ?? ISS)
    .setAudience(opts.aud ?? AUD)
    .setIssuedAt(nowSec - 10);
  if (opts.exp !== null) t = t.setExpirationTime(opts.exp ?? nowSec + 600);
  return t.sign(opts.key ?? es.privateKey);
}

function reason(r: AuthResult): string {
  expect(r.ok).toBe(false);
  return r.ok ? '' : r.reason;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('JWT authentication', () => {
  it('accepts a valid token and returns the identity and expiry', async () => {
    const r = await auth().authenticate(await token({ email: 'a@x.test' }), ctx);
    expect(r).toMatchObject({
      ok: true,
      expiresAt: (nowSec + 600) * 1000,
      identity: { sub: 'alice', iss: ISS, email: 'a@x.test', groups: ['analysts'], method: 'jwt' },
    });
  });

  it('rejects a bad signature', async () => {
    const t = await token({}, { key: other.privateKey });
    expect(reason(await auth().authenticate(t, ctx))).toMatch(/SIGNATURE_VERIFICATION_FAILED/);
  });

  it('rejects a tampered payload', async () => {
    const [h, , s] = (await token()).split('.');
    const forged = `${h}.${b64({ sub: 'root', iss: ISS, aud: AUD, exp: nowSec + 60 })}.${s}`;
    expect(reason(await auth().authenticate(forged, ctx))).toMatch(/SIGNATURE/);
  });

  it('rejects the wrong issuer and the wrong audience', async () => {
    expect(reason(await auth().authenticate(await token({}, { iss: 'evil' }), ctx))).toMatch(/iss/);
    expect(reason(await auth().authenticate(await token({}, { aud: 'other' }), ctx))).toMatch(
      /aud/,
    );
  });

  it('accepts expiry within the clock tolerance and rejects it beyond', async () => {
    const a = auth({}, { clockToleranceSeconds: 30 });
    expect((await a.authenticate(await token({}, { exp: nowSec - 20 }), ctx)).ok).toBe(true);
    expect(reason(await a.authenticate(await token({}, { exp: nowSec - 31 }), ctx))).toMatch(
      /EXPIRED/,
    );
  });

  it('requires exp', async () => {
    expect(reason(await auth().authenticate(await token({}, { exp: null }), ctx))).toMatch(/exp/);
  });

  it('refuses an exp out of the number range (1e400 reads as Infinity: a session never ending)', async () => {
    const raw = `{"sub":"alice","iss":"${ISS}","aud":"${AUD}","iat":${nowSec - 10},"exp":1e400}`;
    const t = await new CompactSign(new TextEncoder().encode(raw))
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(es.privateKey);
    expect(reason(await auth().authenticate(t, ctx))).toMatch(/exp/);
  });

  it('rejects an algorithm outside the allow-list', async () => {
    const t = await token({}, { key: rs.privateKey, alg: 'RS256' });
    expect(reason(await auth().authenticate(t, ctx))).toMatch(/alg "RS256" not allowed/);
  });

  it('rejects alg none, with or without a signature segment', async () => {
    const body = b64({ sub: 'root', iss: ISS, aud: AUD, exp: nowSec + 60 });
    const a = auth({}, { algorithms: undefined });
    expect(reason(await a.authenticate(`${b64({ alg: 'none' })}.${body}.`, ctx))).toMatch(
      /malformed/,
    );
    expect(reason(await a.authenticate(`${b64({ alg: 'none' })}.${body}.AAAA`, ctx))).toMatch(
      /not allowed/,
    );
  });

  it('rejects an HS256 token made with the public key (algorithm confusion)', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const t = await new SignJWT({ sub: 'root' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setExpirationTime(nowSec + 60)
      .sign(secret);
    expect(reason(await auth({}, { algorithms: undefined }).authenticate(t, ctx))).toMatch(
      /not allowed/,
    );
  });

  it('accepts HS256 only when configured with a secret', async () => {
    const secret = 'x'.repeat(40);
    const t = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('svc')
      .setIssuer(ISS)
      .setAudience(AUD)
      .setExpirationTime(nowSec + 60)
      .sign(new TextEncoder().encode(secret));
    const a = auth({}, { jwks: { kind: 'secret', secret }, algorithms: undefined });
    expect(await a.authenticate(t, ctx)).toMatchObject({ ok: true, identity: { sub: 'svc' } });
  });

  it('refuses unsafe configurations', () => {
    const base = {
      jwks: { kind: 'inline' as const, keys: { keys: [publicJwk] } },
      issuer: ISS,
      audience: AUD,
    };
    const bad = [
      { ...base, algorithms: ['none'] },
      { ...base, algorithms: ['HS256'] },
      { ...base, algorithms: [] },
      { ...base, jwks: { kind: 'secret' as const, secret: 'short' } },
      { ...base, jwks: { kind: 'secret' as const, secret: 'y'.repeat(40) }, algorithms: ['ES256'] },
      { ...base, jwks: { kind: 'inline' as const, keys: { keys: [] } } },
      { ...base, jwks: { kind: 'remote' as const, url: 'http://idp.example.com/jwks' } },
      { ...base, issuer: '' },
    ];
    for (const jwt of bad)
      expect(() => createJwtVerifier(jwt), JSON.stringify(jwt)).toThrow(AuthError);
    expect(() => createAuthenticator({})).toThrow(AuthError);
  });

  it('refuses private key material in a JWKS', async () => {
    const priv = await exportJWK(es.privateKey);
    expect(() =>
      createJwtVerifier({
        jwks: { kind: 'inline', keys: { keys: [priv] } },
        issuer: ISS,
        audience: AUD,
      }),
    ).toThrow(/private/);
  });

  it('rejects an oversized token before parsing it', async () => {
    const huge = 'a'.repeat(16 * 1024 + 1);
    expect(reason(await auth().authenticate(huge, ctx))).toMatch(/longer than/);
    const big = await token({ pad: 'p'.repeat(3000) });
    expect(reason(await auth({}, { maxTokenBytes: 2048 }).authenticate(big, ctx))).toMatch(
      /longer than/,
    );
  });

  it('rejects malformed tokens without throwing', async () => {
    const a = auth();
    for (const t of [
      'abc',
      'a.b',
      'a.b.c.d',
      '...',
      '!!.??.##',
      `${b64('x')}.${b64({})}.AAAA`,
      'é.é.é',
    ]) {
      const r = await a.authenticate(t, ctx);
      expect(r.ok, t).toBe(false);
    }
    expect(reason(await a.authenticate('', ctx))).toBe('empty password');
  });

  it('never puts the token in the failure reason', async () => {
    const t = await token({}, { iss: 'evil' });
    expect(reason(await auth().authenticate(t, ctx))).not.toContain(t.split('.')[1].slice(0, 20));
  });

  it('binds the startup user to a claim when asked', async () => {
    const t = await token({ agent_id: 'bot-7' });
    expect((await auth({ bindUser: 'sub' }).authenticate(t, { ...ctx, user: 'alice' })).ok).toBe(
      true,
    );
    expect(reason(await auth({ bindUser: 'sub' }).authenticate(t, ctx))).toMatch(/does not match/);
    const byAgent = auth({ bindUser: 'agent_id' });
    expect((await byAgent.authenticate(t, { ...ctx, user: 'bot-7' })).ok).toBe(true);
    expect((await byAgent.authenticate(t, { ...ctx, user: 'bot-8' })).ok).toBe(false);
    expect((await auth().authenticate(t, { ...ctx, user: 'anything' })).ok).toBe(true);
  });

  it('refuses tokens when only API keys are configured', async () => {
    const a = createAuthenticator({
      apiKeys: [{ id: 'etl', hash: 'sha256:' + '0'.repeat(64), sub: 'etl' }],
      rateLimit: false,
    });
    expect(reason(await a.authenticate(await token(), ctx))).toBe('jwt not enabled');
  });

  it('routes tokens to one of several trusted issuers by iss', async () => {
    const idp = {
      jwks: { kind: 'inline' as const, keys: { keys: [publicJwk] } },
      issuer: ISS,
      audience: AUD,
    };
    const otherJwk = { ...(await exportJWK(other.publicKey)), kid: 'k2', alg: 'ES256' };
    const dev = {
      jwks: { kind: 'inline' as const, keys: { keys: [otherJwk] } },
      issuer: 'portcullis-dev',
      audience: AUD,
      claims: { groups: 'roles' },
    };
    const a = createAuthenticator({ jwt: [idp, dev], rateLimit: false, now: () => NOW });
    expect((await a.authenticate(await token(), ctx)).ok).toBe(true);
    const devToken = await token(
      { roles: 'r1 r2' },
      { key: other.privateKey, kid: 'k2', iss: 'portcullis-dev' },
    );
    expect(await a.authenticate(devToken, ctx)).toMatchObject({
      ok: true,
      identity: { iss: 'portcullis-dev', groups: ['r1', 'r2'] },
    });
    // Signed by the IdP's key but claiming the dev issuer: verified against dev keys, fails.
    const crossed = await token({}, { kid: 'k2', iss: 'portcullis-dev' });
    expect(reason(await a.authenticate(crossed, ctx))).toMatch(/SIGNATURE/);
    expect(reason(await a.authenticate(await token({}, { iss: 'nobody' }), ctx))).toBe(
      'jwt issuer not trusted',
    );
    expect(reason(await a.authenticate('x'.repeat(20_000), ctx))).toMatch(/longer than/);
    expect(() => createAuthenticator({ jwt: [idp, idp] })).toThrow(/twice/);
    expect(() => createAuthenticator({ jwt: [] })).toThrow(AuthError);
  });

  it('still enforces exp for a token remembered from an earlier login', async () => {
    let t = NOW;
    const a = createAuthenticator({
      jwt: { jwks: { kind: 'inline', keys: { keys: [publicJwk] } }, issuer: ISS, audience: AUD },
      rateLimit: false,
      now: () => t,
    });
    const tok = await token({}, { exp: nowSec + 60 });
    const first = await a.authenticate(tok, ctx);
    expect(first.ok).toBe(true);
    if (first.ok) first.identity.claims.sub = 'mallory'; // a caller mutating its copy
    const again = await a.authenticate(tok, ctx);
    expect(again).toMatchObject({ ok: true, identity: { sub: 'alice', claims: { sub: 'alice' } } });
    t = NOW + 60_000 + 30_000 + 1; // past exp + tolerance, within the cache lifetime
    expect(reason(await a.authenticate(tok, ctx))).toMatch(/EXPIRED/);
  });
});
