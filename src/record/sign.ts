// Checkpoint signatures: compact JWS made synchronously with node:crypto, verified with jose.
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import type { SigningKeyInput } from './types.js';

export interface CheckpointSigner {
  readonly alg: string;
  readonly kid: string | undefined;
  /** Compact JWS over `payload` (UTF-8). Synchronous so checkpoints keep chain order. */
  sign(payload: string): string;
  /** The matching public key, as a JWK, for `verify`. */
  readonly publicJwk: Record<string, unknown>;
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function toPrivate(input: SigningKeyInput): KeyObject {
  if (typeof input === 'string') return createPrivateKey(input);
  return createPrivateKey({ key: input as never, format: 'jwk' });
}

function algFor(key: KeyObject): string {
  const t = key.asymmetricKeyType;
  if (t === 'ed25519') return 'EdDSA';
  if (t === 'rsa') return 'RS256';
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  throw new Error(`unsupported checkpoint signing key type ${t}`);
}

/** Build a signer from a private JWK or PKCS#8 PEM (config). */
export function createSigner(input: SigningKeyInput, kid?: string, alg?: string): CheckpointSigner {
  const key = toPrivate(input);
  const a =
    alg ?? (typeof input === 'object' && typeof input.alg === 'string' ? input.alg : algFor(key));
  const k =
    kid ?? (typeof input === 'object' && typeof input.kid === 'string' ? input.kid : undefined);
  const header = b64u(JSON.stringify(k ? { alg: a, kid: k } : { alg: a }));
  const hashAlg = a === 'EdDSA' ? null : 'sha' + a.slice(2);
  const opts = a.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  const publicJwk = createPublicKey(key).export({ format: 'jwk' }) as Record<string, unknown>;
  return {
    alg: a,
    kid: k,
    publicJwk,
    sign(payload: string): string {
      const input = header + '.' + b64u(payload);
      return input + '.' + b64u(sign(hashAlg, Buffer.from(input), opts));
    },
  };
}

/** Public key for verification from a JWK (public or private) or a PEM (SPKI or PKCS#8). */
export function verifyKey(input: SigningKeyInput): KeyObject {
  if (typeof input === 'string') return createPublicKey(input);
  const {
    d: _d,
    p: _p,
    q: _q,
    dp: _dp,
    dq: _dq,
    qi: _qi,
    ...pub
  } = input as Record<string, unknown>;
  return createPublicKey({ key: pub as never, format: 'jwk' });
}

/** Verify a checkpoint JWS; returns the payload text or throws. */
export async function verifyCheckpointSig(jws: string, key: KeyObject): Promise<string> {
  const { payload } = await compactVerify(jws, key);
  return new TextDecoder().decode(payload);
}
