// Several trusted JWT issuers (an IdP plus the dev key, say): route each token to its issuer's verifier.
import { decodeJwt } from 'jose';
import type { ClaimMapping } from './claims.js';
import { AuthError } from './errors.js';
import { createJwtVerifier, type JwtOptions, type JwtResult, type JwtVerifier } from './jwt.js';

/** One trusted issuer: how to verify its tokens and how to read its claims. */
export type TrustedIssuer = JwtOptions & { claims?: ClaimMapping };

export type TrustResult =
  (JwtResult & { ok: true; claims: ClaimMapping | undefined }) | { ok: false; reason: string };

export interface JwtTrust {
  verify(token: string): Promise<TrustResult>;
}

export function createJwtTrust(issuers: TrustedIssuer[], now: () => number): JwtTrust {
  if (issuers.length === 0) throw new AuthError('config', 'jwt: no trusted issuer');
  const entries = issuers.map((o) => ({
    issuers: typeof o.issuer === 'string' ? [o.issuer] : o.issuer,
    claims: o.claims,
    verifier: createJwtVerifier(o, now) as JwtVerifier,
  }));
  const seen = new Set<string>();
  for (const e of entries) {
    for (const iss of e.issuers) {
      if (seen.has(iss)) throw new AuthError('config', `jwt issuer ${iss} configured twice`);
      seen.add(iss);
    }
  }
  const maxBytes = Math.max(...issuers.map((o) => o.maxTokenBytes ?? 16 * 1024));

  return {
    async verify(token) {
      let entry = entries[0];
      if (entries.length > 1) {
        // Only to pick the verifier; the chosen one checks `iss` again against the signature.
        if (token.length > maxBytes)
          return { ok: false, reason: `jwt longer than ${maxBytes} bytes` };
        let iss: unknown;
        try {
          iss = decodeJwt(token).iss;
        } catch {
          return { ok: false, reason: 'jwt malformed' };
        }
        const found = entries.find((e) => typeof iss === 'string' && e.issuers.includes(iss));
        if (!found) return { ok: false, reason: 'jwt issuer not trusted' };
        entry = found;
      }
      const r = await entry.verifier.verify(token);
      return r.ok ? { ...r, claims: entry.claims } : r;
    },
  };
}
