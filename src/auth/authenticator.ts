// Client authentication: the agent's cleartext password is a JWT or an API key; returns an Identity or a reason.
import type { Identity } from '../policy/types.js';
import {
  apiKeyIdentity,
  keyFingerprint,
  createApiKeyVerifier,
  isApiKey,
  type ApiKeyEntry,
  type ApiKeyVerifier,
} from './api-key.js';
import { claimAt, mapClaims } from './claims.js';
import { AuthError } from './errors.js';
import { createJwtTrust, type JwtTrust, type TrustedIssuer } from './jwt-trust.js';
import {
  createFailureLimiter,
  type FailureLimiter,
  type FailureLimiterOptions,
} from './limiter.js';

export interface AuthOptions {
  /** Accept JWTs from this issuer, or from any of several (each with its own keys and claims). */
  jwt?: TrustedIssuer | TrustedIssuer[];
  /** Accept `pcl_<id>_<secret>` API keys listed here. */
  apiKeys?: ApiKeyEntry[];
  /**
   * Require the startup `user` to equal a claim: 'sub', any claim path, or 'none' (default;
   * the startup user is then only a label).
   */
  bindUser?: 'sub' | 'none' | (string & {});
  /** Failure limiting, or a limiter shared across config reloads; false disables it. */
  rateLimit?: FailureLimiterOptions | FailureLimiter | false;
  /** Clock in ms epoch, for JWT time checks and the limiter. Default Date.now. */
  now?: () => number;
}

export interface AuthContext {
  user: string;
  clientAddr: string;
}

/**
 * Why a login failed, for choosing the client error: `invalid` credentials (28P01),
 * `locked` by the failure limiter, or `unavailable` (the JWKS endpoint could not be reached).
 */
export type AuthFailureCode = 'invalid' | 'locked' | 'unavailable';

export type AuthResult =
  | {
      ok: true;
      identity: Identity;
      expiresAt?: number;
      /** For an API key: its id and the fingerprint of its config entry (see keyFingerprint). */
      apiKey?: { id: string; fingerprint: string };
    }
  | { ok: false; code: AuthFailureCode; reason: string; retryAfterMs?: number };

type Verified =
  | {
      ok: true;
      identity: Identity;
      expiresAt?: number;
      /** For an API key: its id and the fingerprint of its config entry (see keyFingerprint). */
      apiKey?: { id: string; fingerprint: string };
    }
  | { ok: false; reason: string; unavailable?: true };

export interface Authenticator {
  /**
   * Verify the password sent by the client. Never throws for bad input; `reason` is for logs
   * only and never contains the password.
   */
  authenticate(password: string, ctx: AuthContext): Promise<AuthResult>;
  /**
   * Verify again, under this config, a credential a session logged in with (after a
   * reload): no failure limiting. `unavailable`: its keys could not be fetched, which says
   * nothing against it.
   */
  recheck(password: string, ctx: AuthContext): Promise<RecheckResult>;
  /** Whether a login of `identity` under startup user `user` meets bindUser (see bind). */
  binds(identity: Identity, user: string): boolean;
}

export type RecheckResult =
  { ok: true; identity: Identity } | { ok: false; reason: string; unavailable?: true };

function isLimiter(v: unknown): v is FailureLimiter {
  return typeof (v as FailureLimiter | undefined)?.begin === 'function';
}

/**
 * Build the client authenticator once per config; throws AuthError('config') on unsafe options.
 *
 * @example
 * const auth = createAuthenticator({ jwt: { jwks: { kind: 'inline', keys: dev.publicJwks },
 *   issuer: 'portcullis-dev', audience: 'portcullis' } });
 * const r = await auth.authenticate(password, { user, clientAddr });
 */
export function createAuthenticator(opts: AuthOptions): Authenticator {
  const now = opts.now ?? Date.now;
  // An empty API key list is keys configured (its last key revoked): nobody logs in.
  if (!(Array.isArray(opts.jwt) ? opts.jwt.length : opts.jwt) && !opts.apiKeys) {
    throw new AuthError('config', 'no client authentication configured (jwt or apiKeys)');
  }
  const issuers = opts.jwt ? (Array.isArray(opts.jwt) ? opts.jwt : [opts.jwt]) : [];
  const jwt: JwtTrust | undefined = issuers.length ? createJwtTrust(issuers, now) : undefined;
  const keys: ApiKeyVerifier | undefined = opts.apiKeys?.length
    ? createApiKeyVerifier(opts.apiKeys)
    : undefined;
  const bindUser = opts.bindUser ?? 'none';
  // An unbound startup user name is a label anyone may pick: a limit on it protects
  // nothing, and would let anyone lock that label out. Unless configured, it is off then.
  const limiter: FailureLimiter | undefined =
    opts.rateLimit === false
      ? undefined
      : isLimiter(opts.rateLimit)
        ? opts.rateLimit
        : createFailureLimiter({
            now,
            ...(bindUser === 'none' ? { perUser: false as const } : {}),
            ...opts.rateLimit,
          });

  async function verify(password: string, ctx: AuthContext): Promise<Verified> {
    if (password.length === 0) return { ok: false, reason: 'empty password' };
    if (isApiKey(password)) {
      if (!keys) return { ok: false, reason: 'api keys not enabled' };
      const r = await keys.verify(password);
      if (!r.ok) return r;
      return bind(
        {
          ok: true,
          identity: apiKeyIdentity(r.entry),
          apiKey: { id: r.entry.id, fingerprint: keyFingerprint(r.entry) },
        },
        ctx,
      );
    }
    if (!jwt) return { ok: false, reason: 'jwt not enabled' };
    const r = await jwt.verify(password);
    if (!r.ok) return r;
    const mapped = mapClaims(r.payload as Record<string, unknown>, 'jwt', r.claims);
    if (!mapped.ok) return mapped;
    return bind({ ok: true, identity: mapped.identity, expiresAt: r.expiresAt }, ctx);
  }

  function bind(result: Verified & { ok: true }, ctx: AuthContext): Verified {
    if (bindUser === 'none') return result;
    const value =
      bindUser === 'sub' ? result.identity.sub : claimAt(result.identity.claims, bindUser);
    if (value !== ctx.user) return { ok: false, reason: `startup user does not match ${bindUser}` };
    return result;
  }

  return {
    async authenticate(password, ctx) {
      // An unbound user name is a label anyone may pick: no per-user limit on it.
      const attempt = limiter?.begin(ctx.clientAddr, bindUser === 'none' ? undefined : ctx.user);
      if (attempt && !attempt.ok) {
        const { reason, retryAfterMs } = attempt;
        const locked = { ok: false as const, code: 'locked' as const, reason, retryAfterMs };
        // A lockout refuses API keys unchecked (scrypt costs CPU; a short secret could be
        // guessed). A JWT is still checked: it cannot be guessed and is cheap to verify, so
        // failures that other clients of the address caused never lock out a valid token.
        if (isApiKey(password) || !jwt) return locked;
        const r = await verify(password, ctx).catch(() => undefined);
        return r?.ok ? r : locked;
      }
      let result: Verified;
      try {
        result = await verify(password, ctx);
      } catch (e) {
        // Any surprise (a crypto error, a bug) is a failed login, not a crash.
        result = { ok: false, reason: `auth error: ${(e as Error)?.name ?? 'unknown'}` };
      }
      if (result.ok) {
        attempt?.finish('success');
        return result;
      }
      attempt?.finish(result.unavailable ? 'neutral' : 'failure');
      const code = result.unavailable ? 'unavailable' : 'invalid';
      return { ok: false, code, reason: result.reason };
    },
    binds(identity, user) {
      return bind({ ok: true, identity }, { user, clientAddr: '' }).ok;
    },
    async recheck(password, ctx) {
      const r = await verify(password, ctx).catch((e: unknown): Verified => ({
        ok: false,
        reason: `auth error: ${(e as Error)?.name ?? 'unknown'}`,
      }));
      return r.ok ? { ok: true, identity: r.identity } : r;
    },
  };
}
