// What a session needs from the running gateway: a read-only view built by runtime/.
import type { SecureContext } from 'node:tls';
import type { Identity, PolicyEngine } from '../policy/types.js';
import type { HeldInput } from './held-input.js';
import type { UpstreamTarget } from '../upstream/connect.js';
import type { Metrics } from '../util/metrics.js';
import type { Catalog } from '../sql/catalog.js';
import type { CancelRegistry } from './cancel.js';

export type {
  Recorder as SessionRecorderPort,
  SessionRecording as SessionRecordingPort,
} from '../record/types.js';
import type { Recorder } from '../record/types.js';

export type AuthResult =
  | {
      ok: true;
      identity: Identity;
      expiresAt?: number;
      apiKey?: { id: string; fingerprint: string };
    }
  | { ok: false; reason: string; code?: string; retryAfterMs?: number };

export interface SessionLimits {
  /** Largest frontend message (bytes). */
  maxMessageBytes: number;
  /** Largest SQL text parsed (bytes). */
  maxQueryBytes: number;
  /** Most statements in one query string. */
  maxStatementsPerQuery: number;
  /** Time allowed for startup and authentication (ms). */
  authTimeoutMs: number;
  /** Time a client may leave a message half-sent (ms). */
  messageTimeoutMs: number;
  /** Bytes queued towards a client that does not read before it is cut. */
  maxClientBacklogBytes: number;
  /** Bytes of client messages held undecided across every session (see HeldInput). */
  maxHeldInputBytes: number;
}

export interface SessionSettings {
  limits: SessionLimits;
  searchPath: string[];
  /** GUCs pinned upstream on every session. */
  pinned: Record<string, string>;
  requireTlsForRemote: boolean;
  /** When set, a client certificate's CN must equal the startup user. */
  bindClientCertToUser: boolean;
}

/** What the runtime and admin API may do with a live session. */
export interface LiveSession {
  id: string;
  /** Close once in-flight work is done (graceful shutdown). */
  shutdown(reason: 'shutdown'): void;
  idle(): boolean;
  /** Close now. */
  close(): void;
  /** The API key it logged in with, if one (for a reload that revokes it). */
  readonly apiKey: ApiKeyLogin | undefined;
  /** The JWT it logged in with, if one (verified again after a reload). */
  readonly jwt: JwtLogin | undefined;
  /** End the session because its credential was revoked: a running statement is cancelled. */
  revoke(reason: string): void;
  /** End it at the shutdown deadline: a running statement is cancelled, the client told. */
  terminate(): Promise<void>;
}

/** A login by JWT, as a reload verifies it again. */
export interface JwtLogin {
  token: string;
  user: string;
  clientAddr: string;
  identity: Identity;
}

/** What a session logged in with an API key: the key, and under which startup user. */
export interface ApiKeyLogin {
  id: string;
  fingerprint: string;
  user: string;
  identity: Identity;
}

export interface GatewayContext {
  settings(): SessionSettings;
  /** Client messages held undecided, every session's, against one budget. */
  heldInput: HeldInput;
  tls(): SecureContext | undefined;
  authenticate(password: string, ctx: { user: string; clientAddr: string }): Promise<AuthResult>;
  /**
   * Why a session logged in with this API key may no longer run (the running config has no
   * such entry, or a changed one), or undefined while it may.
   */
  revokedKey(key: ApiKeyLogin): string | undefined;
  /** Counts reloads: a login verified under an older count is verified again. */
  authGeneration(): number;
  /**
   * Why a session logged in with this JWT may no longer run under the running config (its
   * token no longer verifies, or maps to another identity), or undefined while it may.
   */
  staleJwt(login: JwtLogin): Promise<string | undefined>;
  /** The current policy (hot-reloaded); a session reads it once per decision. */
  policy(): PolicyEngine;
  /** Upstream target for a client database and identity; undefined when not served. */
  route(database: string, identity: Identity): UpstreamTarget | undefined;
  /** The target's upstream catalog as last read, if any (it adds facts to the analysis). */
  catalog(target: string): Catalog | undefined;
  /** Before a login is let in: read the target's catalog when none is held or it is due. */
  readCatalog(target: UpstreamTarget): Promise<void>;
  /** A session's schema change is visible to others now (committed): read it again. */
  schemaChanged(target: string): void;
  /** Reserve an upstream slot for a target; false when the cap is reached. */
  acquireUpstream(target: string): boolean;
  releaseUpstream(target: string): void;
  recorder(): Recorder | undefined;
  readonly metrics: Metrics;
  readonly cancels: CancelRegistry;
  /** Live sessions, for shutdown and the admin API. */
  readonly sessions: Set<LiveSession>;
  isShuttingDown(): boolean;
  /** Audit gateway-level events (auth failures). Never throws. */
  auditGateway(type: string, fields: Record<string, unknown>): void;
}
