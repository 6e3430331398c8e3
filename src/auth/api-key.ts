// API keys for service accounts: `pcl_<id>_<secret>`, stored as sha256 or scrypt hashes, compared in constant time.
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../policy/types.js';
import { AuthError } from './errors.js';

/** One configured key. `hash` is `sha256:<hex>` or `scrypt:N=<n>,r=<r>,p=<p>:<salt hex>:<hash hex>`. */
export interface ApiKeyEntry {
  id: string;
  hash: string;
  sub: string;
  groups?: string[];
  email?: string;
  agent?: string;
  /** Extra claims exposed to policy as identity.claims. */
  claims?: Record<string, unknown>;
}

export type ApiKeyResult = { ok: true; entry: ApiKeyEntry } | { ok: false; reason: string };

export interface ApiKeyVerifier {
  verify(key: string): Promise<ApiKeyResult>;
}

export const API_KEY_PREFIX = 'pcl_';
const ID = /^[A-Za-z0-9-]{1,64}$/;
// The id has no '_', so the first '_' after the prefix ends it; the secret is base64url.
const KEY = /^pcl_([A-Za-z0-9-]{1,64})_([A-Za-z0-9_-]{16,256})$/;

/** Whether a password looks like an API key rather than a JWT. */
export function isApiKey(password: string): boolean {
  return password.startsWith(API_KEY_PREFIX);
}

interface ParsedHash {
  kind: 'sha256' | 'scrypt';
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  digest: Buffer;
}

const SCRYPT_DEFAULT = { n: 16384, r: 8, p: 1 };

function parseHash(text: string): ParsedHash {
  let m = /^sha256:([0-9a-f]{64})$/.exec(text);
  if (m)
    return {
      kind: 'sha256',
      n: 0,
      r: 0,
      p: 0,
      salt: Buffer.alloc(0),
      digest: Buffer.from(m[1], 'hex'),
    };
  m = /^scrypt:N=(\d{1,8}),r=(\d{1,2}),p=(\d{1,2}):([0-9a-f]{16,128}):([0-9a-f]{64})$/.exec(text);
  if (m) {
    const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    // Cap the work a config entry can ask for: N a power of two up to 2^20, small r and p.
    if (n < 2 || n > 2 ** 20 || (n & (n - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) {
      throw new AuthError('config', 'api key scrypt parameters out of range');
    }
    return {
      kind: 'scrypt',
      n,
      r,
      p,
      salt: Buffer.from(m[4], 'hex'),
      digest: Buffer.from(m[5], 'hex'),
    };
  }
  throw new AuthError(
    'config',
    'api key hash must be sha256:<hex> or scrypt:N=..,r=..,p=..:<salt>:<hash>',
  );
}

function scryptAsync(key: string, h: ParsedHash): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      key,
      h.salt,
      32,
      { N: h.n, r: h.r, p: h.p, maxmem: 256 * h.n * h.r + 1024 * 1024 },
      (e, d) => (e ? reject(e) : resolve(d)),
    ),
  );
}

async function digestOf(key: string, h: ParsedHash): Promise<Buffer> {
  return h.kind === 'sha256' ? createHash('sha256').update(key).digest() : scryptAsync(key, h);
}

/**
 * Hash a full key (`pcl_<id>_<secret>`) for the config file. sha256 is the default: secrets
 * from generateApiKey carry 256 random bits, so a slow hash adds cost without adding safety;
 * choose scrypt for keys that were not generated here.
 *
 * @example
 * hashApiKey('pcl_etl_…') // 'sha256:3f…'
 */
export function hashApiKey(key: string, opts: { algorithm?: 'sha256' | 'scrypt' } = {}): string {
  if (opts.algorithm === 'scrypt') {
    const { n, r, p } = SCRYPT_DEFAULT;
    const salt = randomBytes(16);
    const digest = scryptSync(key, salt, 32, { N: n, r, p });
    return `scrypt:N=${n},r=${r},p=${p}:${salt.toString('hex')}:${digest.toString('hex')}`;
  }
  return 'sha256:' + createHash('sha256').update(key).digest('hex');
}

/**
 * Make a new key for `id` (letters, digits, '-'); show `key` once, store only `hash`.
 *
 * @example
 * const { key, hash } = generateApiKey('etl'); // key = 'pcl_etl_<43 chars>'
 */
export function generateApiKey(
  id: string,
  opts: { algorithm?: 'sha256' | 'scrypt' } = {},
): { key: string; hash: string } {
  if (!ID.test(id)) throw new AuthError('config', 'api key id must be 1-64 of [A-Za-z0-9-]');
  const key = `${API_KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key, opts) };
}

/** The identity of a verified key: its entry's fields, with claims mirroring them for policy. */
export function apiKeyIdentity(e: ApiKeyEntry): Identity {
  const groups = [...(e.groups ?? [])];
  const claims: Record<string, unknown> = { ...e.claims, sub: e.sub, groups, api_key_id: e.id };
  const identity: Identity = { sub: e.sub, groups, method: 'api_key', claims };
  if (e.email !== undefined) identity.email = claims.email = e.email;
  if (e.agent !== undefined) identity.agent = claims.agent_id = e.agent;
  return identity;
}

/**
 * What identifies a configured key's entry (id, hash, identity): a session logged in with
 * the key ends when a reload leaves no entry with the same fingerprint.
 */
export function keyFingerprint(e: ApiKeyEntry): string {
  return createHash('sha256').update(canonicalJson(e)).digest('hex');
}

/** JSON with object keys sorted at every level: the same entry written in another order. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** Build the lookup once; throws AuthError('config') for bad ids, hashes or duplicates. */
export function createApiKeyVerifier(entries: ApiKeyEntry[]): ApiKeyVerifier {
  const byId = new Map<string, { entry: ApiKeyEntry; hash: ParsedHash }>();
  for (const entry of entries) {
    if (!ID.test(entry.id))
      throw new AuthError('config', `api key id ${JSON.stringify(entry.id)} invalid`);
    if (byId.has(entry.id)) throw new AuthError('config', `api key id ${entry.id} listed twice`);
    if (typeof entry.sub !== 'string' || entry.sub === '') {
      throw new AuthError('config', `api key ${entry.id} has no sub`);
    }
    byId.set(entry.id, { entry, hash: parseHash(entry.hash) });
  }
  // An unknown id costs what a wrong secret costs: hash against a dummy of the slowest hash
  // in use (scrypt's cost grows with N·r·p).
  const cost = (h: ParsedHash) => (h.kind === 'scrypt' ? h.n * h.r * h.p : 0);
  const slowest = [...byId.values()]
    .map((v) => v.hash)
    .filter((h) => h.kind === 'scrypt')
    .sort((a, b) => cost(b) - cost(a))[0];
  const dummy: ParsedHash = slowest
    ? { ...slowest, salt: randomBytes(16), digest: randomBytes(32) }
    : { kind: 'sha256', n: 0, r: 0, p: 0, salt: Buffer.alloc(0), digest: randomBytes(32) };

  return {
    async verify(key) {
      const m = KEY.exec(key);
      if (!m) return { ok: false, reason: 'api key malformed' };
      const found = byId.get(m[1]);
      const hash = found?.hash ?? dummy;
      const digest = await digestOf(key, hash);
      const equal = timingSafeEqual(digest, hash.digest);
      // A wrong secret for a cheaper hash than the dummy costs the dummy too, so that no
      // failure tells a configured id from an unknown one by its time.
      if (found && !equal && cost(hash) < cost(dummy)) await digestOf(key, dummy);
      if (!found) return { ok: false, reason: `api key id ${m[1]} unknown` };
      if (!equal) return { ok: false, reason: `api key ${m[1]}: wrong secret` };
      return { ok: true, entry: found.entry };
    },
  };
}
