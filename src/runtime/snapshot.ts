// Compiles a validated GatewayConfig into a runtime snapshot: defaults applied, secrets read,
// authenticator and policy built. The hot path only ever reads snapshots.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import {
  createAuthenticator,
  devJwtOptions,
  keyFingerprint,
  loadOrCreateDevKey,
  type Authenticator,
  type FailureLimiter,
} from '../auth/index.js';
import type { JwksSource } from '../auth/jwks.js';
import { readSecret, type GatewayConfig } from '../config/index.js';
import { ConfigError } from '../config/load.js';
import type { Identity, PolicyEngine } from '../policy/types.js';
import { configuredSession } from '../session/params.js';
import type { SessionSettings } from '../session/context.js';
import type { UpstreamTarget } from '../upstream/connect.js';
import { loadPolicy } from './policy.js';

export interface Snapshot {
  settings: SessionSettings;
  tls: SecureContext | undefined;
  authenticator: Authenticator;
  policy: PolicyEngine;
  targets: Map<string, UpstreamTarget & { maxConnections: number }>;
  routes: Map<string, string>;
  select?: (ctx: { database: string; identity: Identity }) => string | undefined;
  listen: { host: string; port: number; maxClients: number };
  /** token: see AdminConfig.token (registered as a secret: never logged). */
  admin: { host: string; port: number; token: string | undefined };
  dataDir: string;
  /** Configured API keys: id → fingerprint of the entry (see keyFingerprint). */
  apiKeys: Map<string, string>;
  /** Reading upstream catalogs (see UpstreamConfig.catalog). */
  catalog: { enabled: boolean; refreshMs: number };
}

const MiB = 1024 * 1024;

/**
 * The listener's TLS context from `listen.tls` (undefined without it); throws ConfigError
 * when the certificate, key or CA does not load (`portcullis check` calls it too).
 */
export function listenSecureContext(
  config: GatewayConfig,
  baseDir: string,
): SecureContext | undefined {
  const t = config.listen?.tls;
  if (!t) return undefined;
  try {
    return createSecureContext({
      cert: readFileSync(resolve(baseDir, t.cert)),
      key: readFileSync(resolve(baseDir, t.key)),
      ca: t.ca ? readFileSync(resolve(baseDir, t.ca)) : undefined,
      minVersion: 'TLSv1.2',
    });
  } catch (err) {
    throw new ConfigError(`listen.tls: cannot load certificate or key: ${(err as Error).message}`);
  }
}

/**
 * Whether the config trusts the local development key for JWTs: it says `jwks: { dev: true }`,
 * or it configures no `auth.jwt` and no API keys (the default). Whoever can read the data
 * directory's dev-signing-key.json can then mint a token of any identity and groups.
 */
export function trustsDevKey(config: GatewayConfig): boolean {
  const jwt = config.auth?.jwt;
  if (jwt) return 'dev' in jwt.jwks;
  // A list of API keys, even an empty one (its last key revoked), is keys configured.
  return config.auth?.apiKeys === undefined;
}

/** A warning for a config that names a real upstream yet trusts the development key. */
export function devKeyWarning(config: GatewayConfig): string | undefined {
  if (!config.upstream || !trustsDevKey(config)) return undefined;
  return (
    'auth: JWTs signed with the local development key are accepted (no auth.jwt keys or ' +
    'auth.apiKeys configured, or jwks: { dev: true }) while upstream names a real database: ' +
    'anyone who can read the data directory can mint a token of any identity ' +
    '(configure auth.jwt with your identity provider, or auth.apiKeys)'
  );
}

export async function buildSnapshot(
  config: GatewayConfig,
  opts: {
    baseDir: string;
    embedded?: UpstreamTarget;
    /** The gateway's login limiter, kept across reloads. */
    limiter?: FailureLimiter;
  },
): Promise<Snapshot> {
  const dataDir = resolve(opts.baseDir, config.dataDir ?? '.data');
  const s = config.session ?? {};
  const { searchPath, pinned } = configuredSession(s);
  const listenTls = config.listen?.tls;
  const tls = listenSecureContext(config, opts.baseDir);
  const settings: SessionSettings = {
    limits: {
      maxMessageBytes: s.maxMessageBytes ?? 16 * MiB,
      maxQueryBytes: s.maxQueryBytes ?? 1 * MiB,
      maxStatementsPerQuery: s.maxStatementsPerQuery ?? 1000,
      authTimeoutMs: config.auth?.timeoutMs ?? 10_000,
      messageTimeoutMs: s.messageTimeoutMs ?? 30_000,
      maxClientBacklogBytes: s.maxClientBacklogBytes ?? 64 * MiB,
      maxHeldInputBytes: s.maxHeldInputBytes ?? 256 * MiB,
    },
    searchPath,
    pinned,
    requireTlsForRemote: config.listen?.requireTlsForRemote ?? true,
    bindClientCertToUser: Boolean(listenTls?.ca),
  };

  // Client authentication: JWT (dev key by default) and API keys.
  const jwtCfg =
    config.auth?.jwt ?? (trustsDevKey(config) ? { jwks: { dev: true as const } } : undefined);
  let jwt: Parameters<typeof createAuthenticator>[0]['jwt'];
  if (jwtCfg) {
    const j = jwtCfg.jwks;
    if ('dev' in j) {
      const dev = await loadOrCreateDevKey(dataDir);
      jwt = { ...devJwtOptions(dev), claims: jwtCfg.claims };
    } else {
      const source = jwksSource(j, opts.baseDir);
      if (!jwtCfg.issuer || !jwtCfg.audience)
        throw new ConfigError('auth.jwt: issuer and audience are required');
      jwt = {
        jwks: source,
        issuer: jwtCfg.issuer,
        audience: jwtCfg.audience,
        algorithms: jwtCfg.algorithms,
        clockToleranceSeconds: jwtCfg.clockToleranceSec,
        claims: jwtCfg.claims,
      };
    }
  }
  let authenticator: Authenticator;
  try {
    const bindUser = config.auth?.jwt?.bindUser;
    authenticator = createAuthenticator({
      jwt,
      apiKeys: config.auth?.apiKeys,
      bindUser,
      ...(opts.limiter ? { rateLimit: opts.limiter } : {}),
    });
  } catch (err) {
    throw new ConfigError(`auth: ${(err as Error).message}`);
  }

  const targets = new Map<string, UpstreamTarget & { maxConnections: number }>();
  const routes = new Map<string, string>();
  const connectTimeoutMs = config.upstream?.connectTimeoutMs ?? 10_000;
  if (config.upstream) {
    for (const [name, t] of Object.entries(config.upstream.targets)) {
      targets.set(name, {
        name,
        host: t.host,
        port: t.port ?? 5432,
        database: t.database,
        user: t.user,
        password: readSecret(t.password, `upstream.targets.${name}.password`, opts.baseDir) ?? '',
        tls: t.tls ?? 'disable',
        ca: t.ca ? resolve(opts.baseDir, t.ca) : undefined,
        connectTimeoutMs,
        maxConnections: t.maxConnections ?? 100,
      });
    }
    const r = config.upstream.routes ?? { '*': Object.keys(config.upstream.targets)[0] };
    for (const [db, name] of Object.entries(r)) {
      if (!targets.has(name))
        throw new ConfigError(`upstream.routes.${db}: no target named "${name}"`);
      routes.set(db, name);
    }
  } else if (opts.embedded) {
    targets.set(opts.embedded.name, { ...opts.embedded, connectTimeoutMs, maxConnections: 200 });
    routes.set('*', opts.embedded.name);
  } else throw new ConfigError('upstream: no targets configured');

  const policy = await loadPolicy(config.policy, opts.baseDir);

  return {
    settings,
    tls,
    authenticator,
    policy,
    targets,
    routes,
    select: config.upstream?.select,
    listen: {
      host: config.listen?.host ?? '127.0.0.1',
      port: config.listen?.port ?? 6432,
      maxClients: config.listen?.maxClients ?? 1000,
    },
    admin: {
      host: config.admin?.host ?? '127.0.0.1',
      port: config.admin?.port ?? 9187,
      token: readSecret(config.admin?.token, 'admin.token', opts.baseDir),
    },
    dataDir,
    apiKeys: new Map((config.auth?.apiKeys ?? []).map((k) => [k.id, keyFingerprint(k)])),
    catalog: catalogSettings(config),
  };
}

function catalogSettings(config: GatewayConfig): Snapshot['catalog'] {
  const c = config.upstream?.catalog;
  // validateConfig names the key for a loaded config; a config built in code lands here.
  return { enabled: c?.enabled ?? true, refreshMs: Math.max(1000, c?.refreshMs ?? 60_000) || 1000 };
}

/** Where the configured (non-development) JWT keys come from, as start reads them. */
export function jwksSource(
  j: Exclude<NonNullable<GatewayConfig['auth']>['jwt'], undefined>['jwks'],
  baseDir: string,
): JwksSource {
  if ('dev' in j) throw new ConfigError('auth.jwt.jwks: the development key has no source');
  return 'url' in j
    ? { kind: 'remote', url: j.url, cacheMaxAgeMs: j.cacheMaxAgeMs, allowHttp: j.allowHttp }
    : 'file' in j
      ? { kind: 'file', path: resolve(baseDir, j.file) }
      : { kind: 'inline', keys: j.keys as never };
}
