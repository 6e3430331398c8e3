// Development signing key (ES256, kept in <dir>/dev-signing-key.json, mode 0600) and token minting.
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { AuthError } from './errors.js';
import type { JwtOptions } from './jwt.js';

export const DEV_KEY_FILE = 'dev-signing-key.json';
export const DEV_ISSUER = 'portcullis-dev';
export const DEV_AUDIENCE = 'portcullis';

export interface DevKey {
  privateJwk: JWK;
  publicJwks: JSONWebKeySet;
  kid: string;
}

export interface MintOptions {
  sub: string;
  groups?: string[];
  email?: string;
  /** Written as the `agent_id` claim. */
  agent?: string;
  /** Lifetime; default 3600. */
  ttlSeconds?: number;
  issuer: string;
  audience: string | string[];
  /** Added first; the standard claims above win over them. */
  extraClaims?: Record<string, unknown>;
  /** Clock in ms epoch, for tests. */
  now?: () => number;
}

function parseKeyFile(text: string, path: string): DevKey {
  let v: { kid?: unknown; privateJwk?: JWK; publicJwk?: JWK };
  try {
    v = JSON.parse(text);
  } catch {
    throw new AuthError('key-file', `${path} is not JSON`);
  }
  const { kid, privateJwk, publicJwk } = v;
  if (
    typeof kid !== 'string' ||
    privateJwk?.kty !== 'EC' ||
    privateJwk.crv !== 'P-256' ||
    typeof privateJwk.d !== 'string' ||
    publicJwk?.kty !== 'EC' ||
    'd' in publicJwk
  ) {
    throw new AuthError('key-file', `${path} is not a Portcullis ES256 development key`);
  }
  return { kid, privateJwk, publicJwks: { keys: [publicJwk] } };
}

async function readKey(path: string): Promise<DevKey> {
  const st = await stat(path);
  // Tighten a key file someone copied with a loose mode rather than sign with a readable key.
  if ((st.mode & 0o077) !== 0) await chmod(path, 0o600);
  return parseKeyFile(await readFile(path, 'utf8'), path);
}

/**
 * Load the development key from `<dir>/dev-signing-key.json`, creating it (0600) on first use.
 * Concurrent callers agree on one key: the file appears atomically via link(2).
 *
 * @example
 * const dev = await loadOrCreateDevKey('.portcullis');
 * const token = await mintToken(dev, { sub: 'agent-1', issuer: DEV_ISSUER, audience: DEV_AUDIENCE });
 */
export async function loadOrCreateDevKey(dir: string): Promise<DevKey> {
  const path = join(dir, DEV_KEY_FILE);
  try {
    return await readKey(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  const publicJwk: JWK = { ...pub, kid, alg: 'ES256', use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
  const body = JSON.stringify(
    { kid, privateJwk, publicJwk, createdAt: new Date().toISOString() },
    null,
    2,
  );
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, body + '\n', { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Another process won the race; use its key.
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return readKey(path);
}

/** JWT options that trust a development key with the default issuer and audience. */
export function devJwtOptions(dev: DevKey): JwtOptions {
  return {
    jwks: { kind: 'inline', keys: dev.publicJwks },
    issuer: DEV_ISSUER,
    audience: DEV_AUDIENCE,
    algorithms: ['ES256'],
  };
}

/**
 * Sign a short-lived token (ES256, default 1 h) with the development key.
 *
 * @example
 * await mintToken(dev, { sub: 'alice', groups: ['analysts'], issuer: DEV_ISSUER, audience: DEV_AUDIENCE })
 */
export async function mintToken(
  key: Pick<DevKey, 'privateJwk' | 'kid'>,
  opts: MintOptions,
): Promise<string> {
  const ttl = opts.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl <= 0)
    throw new AuthError('config', 'ttlSeconds must be a positive integer');
  if (!opts.sub) throw new AuthError('config', 'sub is required');
  const nowSec = Math.floor((opts.now ?? Date.now)() / 1000);
  const claims: Record<string, unknown> = { ...opts.extraClaims };
  if (opts.groups) claims.groups = opts.groups;
  if (opts.email) claims.email = opts.email;
  if (opts.agent) claims.agent_id = opts.agent;
  const signingKey = await importJWK(key.privateJwk, 'ES256');
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setSubject(opts.sub)
    .setIssuer(opts.issuer)
    .setAudience(opts.audience)
    .setIssuedAt(nowSec)
    .setNotBefore(nowSec)
    .setExpirationTime(nowSec + ttl)
    .setJti(randomUUID())
    .sign(signingKey);
}
