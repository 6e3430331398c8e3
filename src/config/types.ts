// The typed shape of gateway.config.ts: what users write, before validation and defaults.
import type { Identity } from '../policy/types.js';

/** A secret is never written inline in committed config: it names where to read it. */
export type SecretRef = { env: string } | { file: string } | { value: string };

export interface TlsServerConfig {
  /** PEM certificate file. */
  cert: string;
  /** PEM private key file. */
  key: string;
  /** Optional CA bundle for client certificates. */
  ca?: string;
}

export interface ListenConfig {
  host?: string;
  port?: number;
  tls?: TlsServerConfig;
  /** Refuse cleartext (non-TLS) clients that are not on loopback. Default true. */
  requireTlsForRemote?: boolean;
  /** Most client connections held at once; further ones get 53300. Default 1000. */
  maxClients?: number;
}

export interface AdminConfig {
  /** Default 127.0.0.1. */
  host?: string;
  /** Admin HTTP port (0 picks a free one). Default 9187. */
  port?: number;
  /**
   * Bearer token for the routes that show recorded statements and run the policy
   * (`GET /sessions`, `GET /sessions/:id`, `POST /explain`). Without one they answer only
   * when the admin host is loopback. Health and metrics need no token.
   */
  token?: SecretRef;
}

export interface UpstreamTargetConfig {
  host: string;
  port?: number;
  database: string;
  user: string;
  password?: SecretRef;
  /** 'disable' | 'require' (encrypt, no verification) | 'verify-full'. Default 'disable'. */
  tls?: 'disable' | 'require' | 'verify-full';
  /** CA file for verify-full. */
  ca?: string;
  /** Most upstream connections to this target. Default 100. */
  maxConnections?: number;
}

export interface UpstreamConfig {
  targets: Record<string, UpstreamTargetConfig>;
  /**
   * Client database name → target name. '*' matches any database. A function may pick a
   * target per identity.
   */
  routes?: Record<string, string>;
  /**
   * Pick a target per identity (e.g. a read replica for some groups); returning undefined
   * falls back to `routes`.
   * @example select: ({ database, identity }) => (identity.groups.includes('analysts') ? 'replica' : undefined)
   */
  select?: (ctx: { database: string; identity: Identity }) => string | undefined;
  /** Upstream connect timeout in ms. Default 10000. */
  connectTimeoutMs?: number;
  /**
   * The gateway reads each target's catalog (relations' column names, the functions and
   * operators outside pg_catalog) on a connection of its own, so that the analysis can tell
   * `t.f` calling a function of t's whole row (hstore's `c.hstore`, a computed field) from a column,
   * and see a search_path function named like a built-in. It only adds facts. Read at the
   * first login to a target, then in the background when older than `refreshMs` (default
   * 60000, at least 1000) and after a session commits a schema change. `enabled: false`
   * turns it off.
   */
  catalog?: { enabled?: boolean; refreshMs?: number };
}

export interface JwtConfig {
  /**
   * Where the verification keys come from. `dev: true` trusts the local development key. A
   * URL's keys are fetched again when older than `cacheMaxAgeMs` (10 minutes); while that
   * fails the keys held stay in use, and a failed fetch is not tried again for 30 s.
   */
  jwks:
    | { url: string; cacheMaxAgeMs?: number; allowHttp?: boolean }
    | { file: string }
    | { keys: { keys: Record<string, unknown>[] } }
    | { dev: true };
  issuer?: string | string[];
  audience?: string | string[];
  algorithms?: string[];
  clockToleranceSec?: number;
  /** Claim names (dotted paths) for the identity fields. */
  claims?: {
    sub?: string;
    email?: string;
    groups?: string;
    agent?: string;
    onBehalfOf?: string | string[];
  };
  /** Require the startup user to equal this claim ('sub', a claim path) or 'none'. Default 'none'. */
  bindUser?: string;
}

export interface ApiKeyConfig {
  id: string;
  /** `sha256:<hex>` or `scrypt:...` as printed by `portcullis apikey`. */
  hash: string;
  sub: string;
  groups?: string[];
  email?: string;
  agent?: string;
}

export interface AuthConfig {
  jwt?: JwtConfig;
  apiKeys?: ApiKeyConfig[];
  /** Milliseconds a client has to complete startup and authentication. Default 10000. */
  timeoutMs?: number;
}

export interface PolicyConfig {
  /** Rego files or directories for the built-in evaluator. Default ['policies.rego']. */
  files?: string[];
  /** An `opa build -t wasm` bundle (bundle.tar.gz) or policy.wasm; replaces `files`. */
  wasm?: string;
  /** Development only: allow every statement that parses. */
  allowAll?: boolean;
  /** Extra data document for the policy (data.*). */
  data?: Record<string, unknown>;
}

export interface RecordingConfig {
  enabled?: boolean;
  spoolDir?: string;
  durability?: 'fsync' | 'write' | 'off';
  failOpen?: boolean;
  sinks?: unknown[];
  signingKey?: SecretRef;
}

export interface SessionConfig {
  /**
   * search_path pinned on every upstream session: one schema, not "$user" or a system one
   * (unqualified names are read against it without the catalog). Default ['public'].
   */
  searchPath?: string[];
  /** Statement timeout pinned upstream (ms), 0 for none. Default 0. */
  statementTimeoutMs?: number;
  /**
   * idle_in_transaction_session_timeout pinned upstream (ms), 0 for none: a session idle
   * inside a transaction this long is ended by PostgreSQL (its locks are released).
   * Default 300000 (5 minutes).
   */
  idleInTransactionTimeoutMs?: number;
  /**
   * Largest frontend message accepted (bytes). Default 16 MiB. A larger Query, Parse or Bind
   * fails (54000) and a larger CopyData fails its COPY; a larger message of another kind
   * ends the session.
   */
  maxMessageBytes?: number;
  /**
   * Most bytes of client messages the gateway holds undecided, all sessions together
   * (extended-protocol groups waiting for their Sync, up to 4 × maxMessageBytes each, and
   * messages half received). Past it, a group that would hold more is refused (53200), and a
   * session whose half-received message does not fit is closed (53200). A group waiting for
   * its Sync with nothing more coming is sent as at a Flush after a second, and a message
   * half received times out (messageTimeoutMs), so an idle client keeps no share of it.
   * Default 256 MiB.
   * The process may grow to some three times it (buffers being joined, and those let go
   * but not yet collected).
   */
  maxHeldInputBytes?: number;
  /**
   * Largest SQL text accepted before parsing (bytes). Default 1 MiB. A statement whose
   * unqualified column names, matched against its FROM items, come to more than 50,000
   * candidates (2,000 tables and 2,000 names, say) is refused as too complex (54001). Parsing is done on the
   * gateway's one thread: a 1 MiB statement (a hundred thousand columns, a long VALUES list)
   * takes from half a second to a second, while other sessions wait. Lower it where agents
   * send no large statements.
   */
  maxQueryBytes?: number;
  /**
   * Most statements one query string may hold (a simple Query of "a; b; c"): each is
   * decided and recorded, in one go, while other sessions wait. Default 1000.
   */
  maxStatementsPerQuery?: number;
  /** Close a client that leaves a message half-sent for this long (ms). Default 30000. */
  messageTimeoutMs?: number;
  /** Most bytes queued towards a client that does not read before it is cut. Default 64 MiB. */
  maxClientBacklogBytes?: number;
}

export interface GatewayConfig {
  listen?: ListenConfig;
  admin?: AdminConfig;
  /** Omit for the embedded development PostgreSQL. */
  upstream?: UpstreamConfig;
  auth?: AuthConfig;
  policy?: PolicyConfig;
  recording?: RecordingConfig;
  session?: SessionConfig;
  /** Where local state lives (dev key, embedded database, spool). Default '.data'. */
  dataDir?: string;
}
