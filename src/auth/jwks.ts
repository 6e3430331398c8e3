// Resolves the configured JWT key source (remote JWKS URL, JWKS file, inline keys, HMAC secret) for jose.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { AuthError } from './errors.js';
import { remoteJwks } from './remote-jwks.js';

export type JwksSource =
  | {
      kind: 'remote';
      url: string;
      /**
       * Fetched keys are fetched again when older than this; while that fails the last
       * keys fetched stay in use. Default 10 minutes.
       */
      cacheMaxAgeMs?: number;
      /**
       * Minimum time between fetches (an unknown `kid` triggers one), also after a failed
       * one. Default 30 s.
       */
      cooldownMs?: number;
      /** Fetch timeout. Default 5 s. */
      timeoutMs?: number;
      /** Allow plain http to a non-loopback host. Default false. */
      allowHttp?: boolean;
    }
  | { kind: 'file'; path: string }
  | { kind: 'inline'; keys: JSONWebKeySet }
  /** Shared HMAC secret (at least 32 bytes): the only source that permits HS256/384/512. */
  | { kind: 'secret'; secret: string };

export type ResolvedKey = JWTVerifyGetKey | Uint8Array;

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

function checkJwks(value: unknown, where: string): JSONWebKeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new AuthError('config', `${where}: not a JWKS (no "keys" array)`);
  }
  for (const k of keys) {
    if (k && typeof k === 'object' && ('d' in k || 'k' in k)) {
      throw new AuthError('config', `${where}: holds private or symmetric key material`);
    }
  }
  return value as JSONWebKeySet;
}

/** Remote key sets by URL and options, the most recently configured last. */
const remoteSets = new Map<string, ResolvedKey>();
const MAX_REMOTE_SETS = 16;

/** Build the jose key resolver once; file and inline sets are checked at construction. */
export function resolveKeys(source: JwksSource): ResolvedKey {
  switch (source.kind) {
    case 'remote': {
      let url: URL;
      try {
        url = new URL(source.url);
      } catch {
        throw new AuthError('config', 'jwks url is not a URL');
      }
      const insecure = url.protocol === 'http:' && !LOOPBACK.has(url.hostname);
      if (
        (url.protocol !== 'https:' && url.protocol !== 'http:') ||
        (insecure && !source.allowHttp)
      ) {
        throw new AuthError('config', 'jwks url must be https (or http to a loopback address)');
      }
      const opts = {
        cacheMaxAgeMs: source.cacheMaxAgeMs ?? 600_000,
        cooldownMs: source.cooldownMs ?? 30_000,
        timeoutMs: source.timeoutMs ?? 5_000,
      };
      // One key set per URL and options across config reloads: a reload keeps the keys held
      // (it neither refetches them nor loses them while the provider is down).
      const id = JSON.stringify([url.href, opts]);
      let set = remoteSets.get(id);
      if (!set) {
        set = remoteJwks(url, { ...opts, check: (v) => checkJwks(v, 'jwks') });
        if (remoteSets.size >= MAX_REMOTE_SETS) remoteSets.delete(remoteSets.keys().next().value!);
      } else remoteSets.delete(id);
      remoteSets.set(id, set);
      return set;
    }
    case 'file': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(source.path, 'utf8'));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        // A read error names the file; JSON.parse's message quotes the text around the
        // fault, which may be a private key's `d`: only where it failed is told.
        const at = /at position (\d+)/.exec(err.message)?.[1];
        const why = err.code ? err.message : `not valid JSON${at ? ` (at position ${at})` : ''}`;
        throw new AuthError('config', `jwks file ${source.path}: ${why}`);
      }
      return createLocalJWKSet(checkJwks(parsed, `jwks file ${source.path}`));
    }
    case 'inline':
      return createLocalJWKSet(checkJwks(source.keys, 'inline jwks'));
    case 'secret': {
      const secret = new TextEncoder().encode(source.secret);
      if (secret.length < 32) throw new AuthError('config', 'jwt secret must be at least 32 bytes');
      return secret;
    }
  }
}
