// A remote JWKS that keeps serving: the last key set fetched stays in use while a refetch
// fails (an identity provider outage does not refuse every agent once the cache ages), and
// a failed fetch is not tried again before the cooldown (a client cannot turn each login
// attempt into a request to the identity provider). jose's createRemoteJWKSet drops the
// keys it holds when a refetch fails and remembers nothing of a failure.
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

export interface RemoteJwksOptions {
  /** Fetched keys are fetched again when older than this (still used while that fails). */
  cacheMaxAgeMs: number;
  /** Least time between fetches: after a fetch (an unknown `kid`), and after a failed one. */
  cooldownMs: number;
  timeoutMs: number;
  /** Checks a fetched document, returning the key set (throws when it is not one). */
  check(value: unknown): JSONWebKeySet;
  now?: () => number;
}

/** The most a key set document may take: real ones are a few KiB. */
const MAX_JWKS_BYTES = 1024 * 1024;

/** The response body as text, refused past `max` bytes (read no further). */
async function cappedText(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > max) throw new Error(`response over ${max} bytes`);
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > max) {
      await res.body.cancel().catch(() => undefined);
      throw new Error(`response over ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Raised when no keys are held and none could be fetched (the gateway says "unavailable"). */
function unavailable(cause: string): Error {
  return new errors.JOSEError(`jwks unavailable: ${cause}`);
}

export function remoteJwks(url: URL, o: RemoteJwksOptions): JWTVerifyGetKey {
  const now = o.now ?? Date.now;
  let local: JWTVerifyGetKey | undefined;
  let fetchedAt = -Infinity;
  let triedAt = -Infinity;
  let lastError = '';
  let pending: Promise<void> | undefined;

  const fetchKeys = (): Promise<void> =>
    (pending ??= (async () => {
      triedAt = now();
      try {
        const res = await fetch(url, {
          signal: AbortSignal.timeout(o.timeoutMs),
          redirect: 'error',
          headers: { accept: 'application/json' },
        });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        local = createLocalJWKSet(o.check(JSON.parse(await cappedText(res, MAX_JWKS_BYTES))));
        fetchedAt = now();
        lastError = '';
      } catch (e) {
        lastError = (e as Error).name === 'TimeoutError' ? 'timeout' : (e as Error).message;
      } finally {
        pending = undefined;
      }
    })());

  /** A fetch may start: none in the cooldown after the last one, succeeded or not. */
  const mayFetch = () => now() - triedAt >= o.cooldownMs;

  return async (...args: Parameters<JWTVerifyGetKey>) => {
    // Keys held and fresh are used at once, also while a fetch for an unknown kid runs (any
    // client can start one: it must not hold up logins whose key is known).
    if (!local || now() - fetchedAt >= o.cacheMaxAgeMs) {
      if (pending) await pending;
      else if (mayFetch()) await fetchKeys();
    }
    if (!local) throw unavailable(lastError.slice(0, 200) || 'not fetched yet');
    try {
      return await local(...args);
    } catch (e) {
      // A kid not in the set: the provider may have rotated keys since the last fetch.
      if ((e as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw e;
      if (pending) await pending;
      else if (mayFetch()) await fetchKeys();
      else throw e;
      return await local(...args);
    }
  };
}
