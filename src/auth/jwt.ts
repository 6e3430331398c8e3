// JWT verification: size and shape checks before parsing, then jose with an algorithm allow-list.
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { Lru } from '../util/lru.js';
import { AuthError } from './errors.js';
import { resolveKeys, type JwksSource } from './jwks.js';

export interface JwtOptions {
  jwks: JwksSource;
  /** Accepted `iss` value(s). Required. */
  issuer: string | string[];
  /** Accepted `aud` value(s). Required. */
  audience: string | string[];
  /**
   * Allowed `alg` values. Default: the asymmetric algorithms (ES*, RS*, PS*, EdDSA/Ed25519),
   * or ['HS256'] with a secret. `none` is never accepted; HS* only with a secret source.
   */
  algorithms?: string[];
  /** Seconds of leeway for exp/nbf/iat. Default 30. */
  clockToleranceSeconds?: number;
  /** Tokens longer than this are refused before any parsing. Default 16 KiB. */
  maxTokenBytes?: number;
  /** Optional required `typ` header (e.g. 'JWT' or 'at+jwt'). */
  typ?: string;
  /**
   * Remember a verified token this long (ms; exp is still checked on every use), so agents
   * that reconnect with one token do not pay a signature check each time. Default 60 s; 0 off.
   */
  verifiedCacheMs?: number;
}

export type JwtResult =
  | { ok: true; payload: JWTPayload; expiresAt: number }
  /** `unavailable`: the keys could not be fetched; not the client's fault. */
  | { ok: false; reason: string; unavailable?: true };

export interface JwtVerifier {
  verify(token: string): Promise<JwtResult>;
}

const ASYMMETRIC = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
];
const HMAC = ['HS256', 'HS384', 'HS512'];
// jose errors that mean the remote JWKS could not be fetched or read (an unknown kid is not one).
const UNAVAILABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The algorithms a verifier accepts; throws AuthError('config') for an unsafe list. */
export function allowedAlgorithms(opts: Pick<JwtOptions, 'jwks' | 'algorithms'>): string[] {
  const secret = opts.jwks.kind === 'secret';
  const algs = opts.algorithms ?? (secret ? ['HS256'] : ASYMMETRIC);
  if (algs.length === 0) throw new AuthError('config', 'jwt algorithms is empty');
  for (const a of algs) {
    if (a.toLowerCase() === 'none') throw new AuthError('config', 'jwt algorithm none is refused');
    const known = secret ? HMAC.includes(a) : ASYMMETRIC.includes(a);
    if (!known) {
      throw new AuthError(
        'config',
        secret
          ? `jwt algorithm ${a} cannot be used with a shared secret`
          : `jwt algorithm ${a} needs a shared secret source or is unknown`,
      );
    }
  }
  return algs;
}

/** Create a verifier; throws AuthError('config') for an unsafe or unreadable configuration. */
export function createJwtVerifier(opts: JwtOptions, now: () => number = Date.now): JwtVerifier {
  const algorithms = allowedAlgorithms(opts);
  const key = resolveKeys(opts.jwks);
  const maxBytes = opts.maxTokenBytes ?? 16 * 1024;
  const tolerance = opts.clockToleranceSeconds ?? 30;
  if (!opts.issuer || !opts.audience)
    throw new AuthError('config', 'jwt issuer and audience are required');
  const cacheMs = opts.verifiedCacheMs ?? 60_000;
  // Keyed by a digest so the cache holds no bearer token; only successes are kept.
  const verified = new Lru<string, { payload: JWTPayload; expiresAt: number; until: number }>(1024);

  return {
    async verify(token) {
      if (token.length > maxBytes)
        return { ok: false, reason: `jwt longer than ${maxBytes} bytes` };
      if (!COMPACT_JWS.test(token)) return { ok: false, reason: 'jwt malformed' };
      const digest = cacheMs > 0 ? createHash('sha256').update(token).digest('base64') : '';
      const hit = cacheMs > 0 ? verified.get(digest) : undefined;
      if (hit) {
        const t = now();
        if (t < hit.until && t < hit.expiresAt + tolerance * 1000) {
          // A copy: callers own identity.claims and may not alter what the next login sees.
          return { ok: true, payload: structuredClone(hit.payload), expiresAt: hit.expiresAt };
        }
      }
      let alg: unknown;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        return { ok: false, reason: 'jwt header malformed' };
      }
      if (typeof alg !== 'string' || !algorithms.includes(alg)) {
        return {
          ok: false,
          reason: `jwt alg ${JSON.stringify(String(alg)).slice(0, 24)} not allowed`,
        };
      }
      // Issuer and audience first, without the keys: a token this config does not accept is
      // refused as such even while remote keys cannot be fetched (a reload that withdrew
      // an issuer ends its sessions then too), and costs no key fetch.
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(token);
      } catch {
        return { ok: false, reason: 'jwt malformed' };
      }
      if (!accepts(opts.issuer, unverified.iss))
        return { ok: false, reason: 'jwt issuer not trusted' };
      if (!accepts(opts.audience, unverified.aud))
        return { ok: false, reason: 'jwt audience not accepted' };
      try {
        const verifyOpts = {
          issuer: opts.issuer,
          audience: opts.audience,
          algorithms,
          clockTolerance: tolerance,
          requiredClaims: ['exp'],
          currentDate: new Date(now()),
          typ: opts.typ,
        };
        const { payload } =
          key instanceof Uint8Array
            ? await jwtVerify(token, key, verifyOpts)
            : await jwtVerify(token, key, verifyOpts);
        if (typeof payload.exp !== 'number') return { ok: false, reason: 'jwt exp missing' };
        // `1e400` parses to Infinity, which jose takes for a date never reached.
        if (!Number.isFinite(payload.exp)) return { ok: false, reason: 'jwt exp out of range' };
        const expiresAt = payload.exp * 1000;
        if (cacheMs > 0) {
          const entry = { payload: structuredClone(payload), expiresAt, until: now() + cacheMs };
          verified.set(digest, entry);
        }
        return { ok: true, payload, expiresAt };
      } catch (e) {
        const err = e as { code?: string; message?: string };
        if (opts.jwks.kind === 'remote' && (!err.code || UNAVAILABLE.has(err.code))) {
          return {
            ok: false,
            reason: `jwks unavailable: ${err.code ?? 'fetch failed'}`,
            unavailable: true,
          };
        }
        // jose messages name the failed check, never the token itself.
        return {
          ok: false,
          reason: `jwt ${err.code ?? 'error'}: ${String(err.message).slice(0, 200)}`,
        };
      }
    },
  };
}

/** Whether a claim (a string, or for `aud` a list) names one of the configured values. */
function accepts(configured: string | string[], claim: unknown): boolean {
  const want = typeof configured === 'string' ? [configured] : configured;
  const got = Array.isArray(claim) ? claim : [claim];
  return got.some((v) => typeof v === 'string' && want.includes(v));
}
