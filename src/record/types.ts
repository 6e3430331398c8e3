// Recording types: session-facing inputs, recorder options, the sink interface, errors.
import type { Identity, Decision, Limits } from '../policy/types.js';
import type { StatementFacts } from '../sql/types.js';

/** How long an append waits before its promise resolves. */
export type Durability = 'fsync' | 'write' | 'off';

/** What the session knows when a client connection is admitted. */
export interface SessionStartInfo {
  /** Chosen by the caller (it also appears in error DETAIL); a UUID is generated if absent. */
  sessionId?: string;
  identity: Identity;
  client_addr: string;
  application_name: string;
  database: string;
  target: string;
  tls: boolean;
  /** Database user the gateway connects upstream as. */
  upstream_user?: string;
  /** Settings pinned on the upstream session (the policy input's session.pinned). */
  pinned?: Record<string, string>;
  /**
   * The client's own startup settings passed upstream (DateStyle, TimeZone, ...): what the
   * recorded statements' literals meant.
   */
  settings?: Record<string, string>;
  /** The session facts' default_read_only, when known. */
  default_read_only?: boolean;
}

/** See `StatementEventInput.runs`. */
export interface StatementRuns {
  sql: string;
  name?: string;
  portal?: string;
  params?: (string | null)[] | 'redacted' | null;
  param_formats?: number[];
}

/**
 * A statement about to be forwarded or refused. Facts are recorded so that a policy can
 * re-decide it later (`policy replay`); params may already be redacted by the caller.
 */
export interface StatementEventInput extends Pick<
  StatementFacts,
  | 'fingerprint'
  | 'command'
  | 'class'
  | 'relations'
  | 'columns'
  | 'functions'
  | 'has_where'
  | 'opaque'
  | 'parse_error'
> {
  sql: string;
  /**
   * The statement this one runs, where its own text does not show it: the prepared
   * statement of a SQL EXECUTE (`name`), or the statement a protocol portal holds, with its
   * Bind parameters, for a SQL FETCH or MOVE of it (`portal`). Redacted as `sql` and
   * `params` are.
   */
  runs?: StatementRuns;
  /**
   * Extra facts (copy, transaction, set...) kept for re-decision. A function is called
   * only when the fields are serialised (once per `facts_key`).
   */
  extra?: Record<string, unknown> | (() => Record<string, unknown>);
  /**
   * Identity of the facts template: events with the same key have the same fields from
   * `fingerprint` to `extra`, so the recorder serialises those once per key.
   */
  facts_key?: string;
  protocol: 'simple' | 'extended';
  params: (string | null)[] | 'redacted' | null;
  /**
   * Per parameter, 1 where it was sent in binary (its value is then `\x` and hex) and 0
   * where in text; absent when every parameter is text, so the two cannot be confused.
   */
  param_formats?: number[];
  /** Position of the statement inside a multi-statement query string. */
  index: number;
  count: number;
  in_transaction: boolean;
  decision: Decision;
  decision_id: string;
  policy_version: string;
  /** The gateway refused it itself (a policy cannot change that): `policy replay` skips it. */
  decided_by?: 'gateway';
}

/** What happened to a statement after it was forwarded (or refused). */
export interface StatementOutcome {
  /**
   * ok: completed; error: upstream error; refused: never forwarded; cancelled: not run
   * (skipped after an earlier error, or the client left before it was forwarded);
   * unknown: forwarded, but the session ended before its answer came.
   */
  outcome: 'ok' | 'error' | 'refused' | 'cancelled' | 'unknown';
  duration_ms: number;
  rows?: number | null;
  command_tag?: string | null;
  sqlstate?: string | null;
}

export interface SessionTotals {
  statements: number;
  allowed: number;
  denied: number;
  held: number;
  errors: number;
  rows: number;
  duration_ms: number;
  /**
   * Why the session ended: client_terminate, client_disconnect, shutdown, token_expired,
   * credential_revoked, upstream_lost, protocol_error, or error (the gateway ended it with
   * another FATAL error: an unsafe setting, a row limit passed mid-batch, an internal error).
   */
  reason: string;
}

/** Session-facing handle for one client connection's chain. */
export interface SessionRecording {
  readonly sessionId: string;
  /**
   * Write-ahead record of a statement about to be forwarded (or refused). Resolves with
   * the event seq once durable per the durability mode; rejects with
   * {@link RecordingUnavailable} when the spool cannot be written and failOpen is false.
   */
  statement(ev: StatementEventInput): Promise<number>;
  /**
   * The data path's form of `statement` for the statements of one batch: their seqs at
   * once when nothing is to be waited for ('off'), else a promise that settles like
   * `statement`'s ('write': at the end of the loop turn, in one write with every other
   * session's lines of that turn).
   */
  statements(evs: StatementEventInput[]): number[] | Promise<number[]>;
  /** Outcome of a statement: appended as `statement_result` without waiting. */
  result(seq: number, outcome: StatementOutcome): void;
  /**
   * A statement refused before it ran: its event and its outcome, appended together without
   * waiting (nothing ran, so nothing waits for the record; both precede any later event).
   */
  refused(ev: StatementEventInput, outcome: StatementOutcome): void;
  /** Other events (approval_*, mask_applied...) appended to the chain. */
  event(type: string, fields: Record<string, unknown>): Promise<void>;
  end(totals: SessionTotals): Promise<void>;
}

export interface Recorder {
  /** Opens a session's chain and appends session_start (write-ahead). */
  openSession(info: SessionStartInfo): Promise<SessionRecording>;
  /** Gateway-wide events (auth_failure, config_reload): appended to the gateway chain. */
  gatewayEvent(type: string, fields: Record<string, unknown>): Promise<void>;
  /** True while the spool accepts writes and the unshipped backlog is under the bound. */
  readonly healthy: boolean;
  /** True while statements can run: healthy, or unhealthy with failOpen. */
  readonly accepting: boolean;
  /** Spool directory, instance id, backlog: for health endpoints and tests. */
  stats(): RecorderStats;
  /** Flush, final checkpoint, seal the segment, ship it to every sink. */
  close(): Promise<void>;
}

export interface RecorderStats {
  instance: string;
  segment: string;
  unshippedBytes: number;
  pendingBytes: number;
  healthy: boolean;
  writes: number;
  syncs: number;
  dropped: number;
}

/** Private key for checkpoint signatures: a JWK object or a PEM (PKCS#8) string. */
export type SigningKeyInput = Record<string, unknown> | string;

export interface CheckpointOptions {
  /** Sign a checkpoint after this many events (default 1000). */
  everyEvents?: number;
  /** ... or after this many milliseconds with new events (default 1000). */
  everyMs?: number;
  /** Without a key, checkpoints are written unsigned and `verify` says so. */
  signingKey?: SigningKeyInput;
  kid?: string;
  /** JWS alg; inferred from the key (Ed25519 → EdDSA, P-256 → ES256, RSA → RS256). */
  alg?: string;
}

/** Minimal async file API the spool uses, injectable so tests can count fsyncs. */
export interface SpoolFile {
  write(data: Uint8Array): Promise<unknown>;
  /**
   * Optional: write at a byte offset (pwrite). With it, 'fsync' segments opened O_DSYNC are
   * zero-filled ahead of the data, so each durable write overwrites allocated blocks.
   */
  writeAt?(data: Uint8Array, position: number): Promise<unknown>;
  /**
   * Optional: lets 'write' durability append without a thread-pool round trip. `data` is
   * reused once the call returns: keep a copy, not the array.
   */
  writeSync?(data: Uint8Array): number;
  datasync(): Promise<void>;
  truncate(len: number): Promise<void>;
  close(): Promise<void>;
}
export interface SpoolFs {
  open(path: string, flags: string | number): Promise<SpoolFile>;
  mkdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: string): Promise<void>;
  stat(path: string): Promise<{ size: number }>;
  unlink(path: string): Promise<void>;
}

export interface RecorderOptions {
  /** Local write-ahead spool directory (created if missing). */
  spoolDir: string;
  sinks?: Sink[];
  /** Default 'fsync'. */
  durability?: Durability;
  /** When the spool cannot be written, keep serving statements and log loudly. */
  failOpen?: boolean;
  checkpoint?: CheckpointOptions;
  /** Unshipped spool bytes above which the recorder reports unhealthy (default 1 GiB). */
  spoolBound?: number;
  /** Segment rotation (default 64 MiB / 1 h); sinks may ask for smaller values. */
  segment?: { maxBytes?: number; maxMs?: number };
  /**
   * 'fsync' durability: `open_datasync` (default) opens the segment with O_DSYNC so each
   * batch is one durable write; `fdatasync` writes, then calls fdatasync (two syscalls).
   */
  syncMethod?: 'open_datasync' | 'fdatasync';
  /** 'write' durability: fdatasync interval (default 200 ms). */
  syncIntervalMs?: number;
  /** Ship retry backoff (default 200 ms doubling to 30 s). */
  retry?: { minMs?: number; maxMs?: number };
  /** Milliseconds since the epoch (default Date.now). */
  clock?: () => number;
  fs?: SpoolFs;
  /** Called for loud alerts (fail-open, torn tails, ship failures); default the logger. */
  onAlert?: (msg: string, fields: Record<string, unknown>) => void;
}

/**
 * Where sealed segments go. Segments are JSONL byte strings named
 * `<utc-time>-<instance>-<n>.jsonl`; `put` must be idempotent for a name.
 */
export interface Sink {
  readonly name: string;
  put(segment: string, bytes: Uint8Array): Promise<void>;
  /**
   * Optional: take the sealed segment from its spool file at `path`, which never changes
   * again (the file sink links or copies it instead of reading it into memory). Same
   * result as `put`, and idempotent too.
   */
  putFile?(segment: string, path: string): Promise<void>;
  /** Segment names, sorted. Absent for write-only sinks (stdout). */
  list?(): Promise<string[]>;
  read?(segment: string): Promise<Uint8Array>;
  /** Rotation wishes; the recorder uses the smallest across its options and sinks. */
  readonly rotation?: { maxBytes?: number; maxMs?: number };
  /** Drop segments past retention; returns the names removed. */
  prune?(now: number): Promise<string[]>;
  close?(): Promise<void>;
}

/** A sink or a spool that can be read back. */
export interface SegmentSource {
  readonly name: string;
  list(): Promise<string[]>;
  read(segment: string): Promise<Uint8Array>;
}

/** The spool cannot be written: the session refuses the statement (fail closed). */
export class RecordingUnavailable extends Error {
  override readonly name = 'RecordingUnavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export type { Identity, Decision, Limits };
