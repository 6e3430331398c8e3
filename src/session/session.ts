// One client connection after login: the loop of the data path. Frontend messages are
// buffered to their boundary (Query, or Sync/Flush for the extended protocol), every
// statement is analysed and decided, and only then are the untouched bytes forwarded.
// A refused batch never reaches upstream: the gateway sends upstream a marker that fails
// at parse time (so transaction state stays the same on both sides) and substitutes its
// own ErrorResponse for the marker's.
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { analyze } from '../sql/index.js';
import type { CopyFact, StatementFacts } from '../sql/types.js';
import { runLimit, statedLimit } from './cursors.js';
import type { DecisionRecord, SessionFacts } from '../policy/types.js';
import type { UpstreamSession, UpstreamTarget } from '../upstream/connect.js';
import { terminateBackend } from '../upstream/terminate.js';
import { onUpstreamData } from '../upstream/direct-read.js';
import {
  B,
  ClientError,
  F,
  FLUSH,
  FrameError,
  FrameReader,
  SYNC,
  TERMINATE,
  cancelRequest,
  errorResponse,
  MessageWriter,
  parseBind,
  parseDescribeOrClose,
  parseErrorFields,
  parseExecute,
  closeMessage,
  copyFailMessage,
  parseMessage,
  parseParameterStatus,
  parseParse,
  queryMessage,
  toWire,
  type Frame,
  type TxStatus,
} from '../wire/index.js';
import type { ErrorFields } from '../wire/backend.js';
import { log } from '../util/logger.js';
import { timeoutAt, type LongTimeout } from '../util/timeout-at.js';
import type {
  ApiKeyLogin,
  GatewayContext,
  JwtLogin,
  SessionRecordingPort,
  SessionSettings,
} from './context.js';
import { DecisionPoint, refusalFields } from './decide.js';
import { BindParams, SessionNames, gatewayRefusal } from './statements.js';
import { afterPathMove, pathMoveError, pathMoveReason } from './path-moves.js';
import { UNCERTAIN, runOf, type Change } from './name-table.js';
import {
  type BatchContext,
  coalesce,
  decideBatch,
  type DecidedRun,
  type Doubt,
  type Pending,
} from './batch.js';
import {
  mayChangeSettings,
  safeParameterStatus,
  settingsChangedError,
  settingsInDoubtError,
} from './parser-settings.js';
import {
  GUARD_FAILED_CODES,
  GUARD_MESSAGES,
  guardable,
  guardMessages,
  guardsBefore,
} from './guard.js';
import type { Authenticated } from './startup.js';
import { ResponseScanner } from './responses.js';
import {
  foldInto,
  newItem,
  settleChanges,
  startsNow,
  type Item,
  type StatementRun,
} from './items.js';
import { SessionAudit } from './audit.js';
import {
  commitWaits,
  inTransactionAfter,
  pulledIntoBlock,
  trackRuns,
  txnAhead,
  txnEffect,
} from './txn-state.js';

/** How long a held message waits for PostgreSQL to report a COPY violation itself. */
const COPY_VIOLATION_GRACE_MS = 300;

/** Messages a client may send while a COPY FROM STDIN reads its data. */
const COPY_IN_TYPES = new Set<number>([
  F.CopyData,
  F.CopyDone,
  F.CopyFail,
  F.Sync,
  F.Flush,
  F.Terminate,
]);

/** Most extended messages held in one group before it goes upstream as at a Flush. */
const MAX_HELD_MESSAGES = 10_000;
/**
 * Most units of work sent upstream and not yet answered: past it the client is not read
 * until answers come (PostgreSQL answers in order). A client that pipelines and reads
 * nothing would otherwise make the gateway hold state for every unit its socket buffers
 * carry (some 200,000 small groups).
 */
const MAX_ITEMS_IN_FLIGHT = 5_000;
/**
 * Most statement runs and name changes one unit of work may gather before its Sync, and
 * the most bytes of messages: the gateway keeps each until the Sync is answered. Past
 * either, the group is refused (54000), as a statement too large is.
 */
const MAX_UNSYNCED_RUNS = 100_000;
const MAX_UNSYNCED_BYTES = 64 * 1024 * 1024;
/**
 * How long a group may wait for its Sync with nothing more coming before it is decided and
 * sent as at a Flush (ms). PostgreSQL runs each message as it comes; the gateway holds a
 * group to decide it whole, and what it holds counts against a budget all sessions share
 * (session.maxHeldInputBytes): a client that sent a group and went quiet would keep its
 * share, and a few such clients would lock everyone out.
 */
const HELD_GROUP_MS = 1_000;
/**
 * How long a statement may go on after its time limit's cancel before its session is ended
 * and its upstream backend terminated (ms): PL/pgSQL can catch a cancel and carry on, and a
 * backend blocked sending rows to a client that does not read holds it back.
 */
const CANCEL_GRACE_MS = 500;

/**
 * Messages that carry a client's data, and may be large: one over session.maxMessageBytes
 * fails as a statement would (see onOversized); of any other type, it ends the session.
 */
const DATA_TYPES = new Set<number>([F.Query, F.Parse, F.Bind, F.CopyData]);

/** Answers to single extended messages that a settings guard's may be (see guard.ts). */
const TERMINAL_ANSWERS = new Set<number>([B.ParseComplete, B.CloseComplete]);

/** SQL that fails in PostgreSQL's parser, used to mirror a refusal upstream. */
const MARKER_SQL = '/* refused by the gateway */ portcullis_refused_statement';

/** Message types a client may send after login. */
const FRONTEND_TYPES = new Set<number>([
  F.Query,
  F.Parse,
  F.Bind,
  F.Execute,
  F.Describe,
  F.Close,
  F.Sync,
  F.Flush,
  F.CopyData,
  F.CopyDone,
  F.CopyFail,
  F.FunctionCall,
  F.Terminate,
]);

export class Session {
  readonly id = randomUUID();
  private readonly reader: FrameReader;
  private status: TxStatus;
  private readonly items: Item[] = [];
  private openItem: Item = newItem();
  private batch: Pending[] = [];
  /** Bytes of the messages in `batch`. */
  private batchBytes = 0;
  /** The gateway's cancels sent and not yet taken by PostgreSQL (see cancelUpstream). */
  private cancelsInFlight = 0;
  /** What the reader holds, as counted in ctx.heldInput. */
  private readerHeld = 0;
  /** Bytes of the extended messages sent since the last Sync (see MAX_UNSYNCED_BYTES). */
  private unsyncedBytes = 0;
  private skipUntilSync = false;
  /** Extended messages went upstream at a Flush and no Sync has followed yet. */
  private unsynced = false;
  /**
   * A Query came after extended messages with no Sync: those went upstream followed by a
   * probe (Close of a portal that does not exist, then Flush), and the Query waits. The
   * probe's CloseComplete means they succeeded and the Query runs, as PostgreSQL would run
   * it; an error first means PostgreSQL now skips to the next Sync, and so does the session.
   */
  private probing = false;
  /** Index of the probe among the extended messages of its item. */
  private probeAt = 0;
  /** The response scanner's count of answers to single messages, when the head item began. */
  private termBase = 0;
  /**
   * A group or Query names something an earlier one changed, and that change has no answer
   * yet: reading waits until everything sent is answered, then `deferred` is handled again.
   */
  private waitAnswers = false;
  /** …and the wait ends when the open item's statements have completed (see runsDone). */
  private waitRuns = false;
  /** The upstream sent a FATAL (or PANIC) error: its close needs no error of ours. */
  private upstreamFatal = false;
  /** The session's settings guard (see guard.ts). */
  private guard: Buffer | undefined;
  /** Guards sent and not answered or skipped yet: while any is, their answers are watched. */
  private guardsOut = 0;
  /** A barrier is due at the next Sync (see onCopyIn). */
  private barrierAtSync = false;
  /** See markerParse. */
  private marker: Buffer | undefined;
  private deferred: Frame | undefined;
  private copyIn = false;
  /**
   * A statement that may change the schema (DDL, or code the gateway cannot see) went
   * upstream since the session was last idle outside a transaction.
   */
  private schemaTouched = false;
  /** COPY FROM STDIN statements sent whose start is not known yet (see Item.startsDue). */
  private copyStartsDue = 0;
  /**
   * Syncs sent inside the data of the running COPY FROM STDIN, until its outcome comes.
   * PostgreSQL ignores them while it reads data; but if a row fails the COPY it stops
   * reading data there, and a Sync the client sent behind that row ends a unit of work.
   * Which way PostgreSQL took one cannot be told from its answers, so a COPY that fails
   * after one ends the session (fail closed).
   */
  private syncsInCopy = 0;
  /** Waiting for the recording before forwarding a decided group (reading stops). */
  private busy = false;
  /** That group ends its item (a Sync or a Query of the client's, already read). */
  private syncWaiting = false;
  /** Upstream frames gathered during a pump pass (see pump). */
  private out: Buffer[] | undefined;
  /**
   * A forwarded statement may change a setting the parser depends on: read nothing more
   * until its ReadyForQuery (by then a changed ParameterStatus has closed the session).
   */
  private barrier = false;
  /**
   * Extended protocol: a statement that may change such a setting ran in the current sync
   * group. PostgreSQL reports the change only at ReadyForQuery, so until Sync no new
   * statement text is accepted (it could be parsed differently upstream).
   */
  private settingsInDoubt = false;
  private closed = false;
  /**
   * Of the items in flight, how many begin or end a block, or run a row-limited statement
   * in one: kept as counts so that a client pipelining thousands of messages without
   * reading is not scanned for each new one.
   */
  private readonly inFlight = { txnControl: 0, limited: 0 };
  /** A group's write-ahead records being made durable (it goes upstream after). */
  private writeAhead: Promise<void> | undefined;
  private draining = false;
  private clientPaused = false;
  /** The client sent Terminate with statements unanswered: the session waits for them. */
  private terminated = false;
  /** The client half-closed (FIN): nothing more will come from it. */
  private clientEnded = false;
  private upstreamPaused = false;
  private messageTimer: NodeJS.Timeout | undefined;
  /** Sends a group left waiting for its Sync (see HELD_GROUP_MS); `heldDue` once it fired. */
  private heldTimer: NodeJS.Timeout | undefined;
  private heldDue = false;
  private expiryTimer: LongTimeout | undefined;
  private readonly names: SessionNames;
  private readonly batchContext: BatchContext;
  private readonly decisions: DecisionPoint;
  private readonly facts: SessionFacts;
  private readonly audit: SessionAudit;
  /** A row-limit error is out and the upstream transaction may still need aborting. */
  private rowHold = false;
  private readonly scanner = new ResponseScanner({
    onMessage: (t, b) => this.onBackendMessage(t, b),
    emit: (chunks) => this.emitToClient(chunks),
    onViolation: (reason) => {
      this.log.warn('upstream broke the protocol', { reason });
      this.upstreamGone();
    },
  });
  private readonly client: Socket;
  private readonly upstream: Socket;
  /** Bytes PostgreSQL sent in the read that ended its login (normally none). */
  private readonly upstreamLeftover: Buffer;
  private readonly upstreamKey: { pid: number; secret: Buffer };
  /** Who the gateway's credential logged in as upstream (its ParameterStatus at login). */
  private readonly loginIdentity: { superuser: boolean; authorization: string | undefined };
  /**
   * The search_path PostgreSQL reported at login, after the gateway pinned it: names are read
   * against that. Undefined before PostgreSQL 18, which does not report search_path.
   */
  private readonly loginSearchPath: string | undefined;
  private endReason = 'client_disconnect';
  private readonly log;

  /** The upstream session's default_transaction_read_only at login, when reported. */
  get startedReadOnly(): boolean | undefined {
    return this.facts.default_read_only;
  }

  /** The search_path this session's upstream connection was pinned with. */
  private readonly searchPath: string[];

  constructor(
    private readonly ctx: GatewayContext,
    private readonly auth: Authenticated,
    private readonly target: UpstreamTarget,
    up: UpstreamSession,
    private readonly cancelPid: number,
    /** The settings its upstream connection was pinned with (a reload changes later ones). */
    s: SessionSettings = ctx.settings(),
  ) {
    // The search_path pinned upstream at login: names are read against it for the whole
    // session (a reload that changes session.searchPath applies to later logins).
    this.searchPath = s.searchPath;
    this.client = auth.socket;
    this.upstream = up.socket;
    this.upstreamLeftover = up.leftover;
    this.status = up.status;
    this.upstreamKey = { pid: up.pid, secret: up.secret };
    this.loginIdentity = {
      superuser: up.parameters.get('is_superuser') === 'on',
      authorization: up.parameters.get('session_authorization'),
    };
    this.loginSearchPath = up.parameters.get('search_path');
    this.reader = new FrameReader(s.limits.maxMessageBytes, true, DATA_TYPES);
    this.facts = {
      id: this.id,
      database: auth.startup.database,
      target: target.name,
      application_name: auth.startup.applicationName,
      client_addr: auth.clientAddr,
      tls: auth.tls,
      in_transaction: up.status !== 'I',
      pinned: s.pinned,
    };
    const readOnly = up.parameters.get('default_transaction_read_only');
    if (readOnly !== undefined) this.facts.default_read_only = readOnly === 'on';
    this.decisions = new DecisionPoint(() => ctx.policy(), auth.identity, this.facts);
    this.names = new SessionNames(this.decisions);
    this.batchContext = {
      names: this.names,
      decisions: this.decisions,
      engine: () => ctx.policy(),
      session: this.facts,
      analyzeOpts: () => this.analyzeOpts(),
      catalog: () => this.ctx.catalog(this.target.name),
      guardable: guardable(up.parameters.get('server_encoding')),
    };
    this.log = log.child({ session: this.id });
    this.audit = new SessionAudit(
      undefined,
      this.facts,
      () => ctx.policy(),
      (what) => this.log.error(what),
    );
  }

  /** Start relaying. `recording` is already open when recording is on. */
  start(recording: SessionRecordingPort | undefined, leftover: Buffer[]): void {
    this.audit.port = recording;
    const { client, upstream } = this;
    client.on('data', (c: Buffer) => this.onClientData(c));
    client.on('drain', () => this.resumeUpstream());
    client.on('error', () => this.clientGone());
    client.on('end', () => this.onClientEnd());
    client.on('close', () => this.clientGone());
    const scanner = this.scanner;
    onUpstreamData(upstream, (c: Buffer) => {
      if (this.closed) return;
      scanner.push(c);
      if (this.clientEnded) this.closeWhenAnswered();
    });
    upstream.on('drain', () => this.resumeClient());
    upstream.on('error', () => this.upstreamGone());
    upstream.on('close', () => this.upstreamGone());
    if (this.auth.expiresAt) {
      const ms = Math.max(0, this.auth.expiresAt - Date.now());
      // Login accepts a token within the clock tolerance past its expiry: such a session
      // ends before anything the client pipelined behind its password is read.
      if (ms === 0) return this.fatal(ClientError.tokenExpired(), 'token_expired');
      this.expiryTimer = timeoutAt(
        this.auth.expiresAt,
        // A statement still running must not commit after the session's identity is gone.
        () => void this.endCancelling(ClientError.tokenExpired(), 'token_expired'),
      );
    }
    // PostgreSQL may have ended the backend while the recording was opened (and the catalog
    // read): its FATAL and the close came before the listeners above.
    if (upstream.destroyed || upstream.readableEnded) return this.upstreamGone();
    // What PostgreSQL sent after the login's ReadyForQuery, then the rest: the connection
    // was paused since.
    if (this.upstreamLeftover.length) scanner.push(this.upstreamLeftover);
    if (this.closed) return;
    upstream.resume();
    for (const b of leftover) if (b.length) this.onClientData(b);
    // The client may have gone while the upstream login and the recording were opened:
    // those events came before the listeners above.
    if (client.destroyed) return this.close();
    if (client.readableEnded) this.onClientEnd();
    client.resume();
  }

  get apiKey(): ApiKeyLogin | undefined {
    const a = this.auth;
    return a.apiKey && { ...a.apiKey, user: a.startup.user, identity: a.identity };
  }

  get jwt(): JwtLogin | undefined {
    const a = this.auth;
    return a.jwt === undefined
      ? undefined
      : { token: a.jwt, user: a.startup.user, clientAddr: a.clientAddr, identity: a.identity };
  }

  /**
   * End the session with `f`, a statement still running cancelled upstream first (closing
   * the connection alone would let it run on). What the client pipelined behind it is in
   * PostgreSQL's input already, and may still run. Resolves once the cancel is delivered.
   */
  private endCancelling(f: ErrorFields, reason?: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const cancelled = this.items.length > 0 ? this.cancelUpstream() : Promise.resolve();
    this.fatal(f, reason);
    return cancelled;
  }

  /** The shutdown's grace period is over: the client gets 57P01. */
  terminate(): Promise<void> {
    return this.endCancelling(ClientError.shuttingDown());
  }

  revoke(reason: string): void {
    if (this.closed) return;
    this.endReason = 'credential_revoked';
    void this.endCancelling(ClientError.credentialRevoked(reason));
  }

  idle(): boolean {
    return this.items.length === 0 && this.batch.length === 0 && !this.busy && !this.copyIn;
  }

  /**
   * The client half-closed: what it sent is still answered (PostgreSQL reads and runs every
   * whole message before it sees the end), then the session closes. A COPY FROM STDIN can
   * get no more data, and a group with no Sync no more messages: those end it now.
   */
  private onClientEnd(): void {
    if (this.closed) return;
    this.clientEnded = true;
    if (this.copyIn) return this.close();
    this.closeWhenAnswered();
  }

  private closeWhenAnswered(): void {
    // A COPY FROM STDIN that started after the client's end gets no more data.
    if (this.copyIn && !this.reader.hasFrame()) return this.close();
    if (this.items.length === 0 && !this.busy && !this.deferred && !this.reader.hasFrame())
      this.close();
  }

  /** Graceful shutdown: close now when idle, else after the in-flight work completes. */
  shutdown(_reason: 'shutdown'): void {
    this.draining = true;
    this.endReason = 'shutdown';
    if (this.idle()) this.fatal(ClientError.shuttingDown());
  }

  // ---- client → upstream -------------------------------------------------------------

  /** The client's socket closed (or failed): after a Terminate, answers are still awaited. */
  private clientGone(): void {
    if (this.terminated && !this.closed) this.closeWhenAnswered();
    else this.close();
  }

  private onClientData(chunk: Buffer): void {
    if (this.closed || this.terminated) return;
    this.reader.push(chunk);
    // While the session holds (or waits for a durable record), what the client sends is
    // not read: the socket is paused so that it cannot pile up in the gateway.
    if ((this.holding() || this.busy) && !this.copyIn) this.client.pause();
    this.pump();
    this.countReaderHeld();
  }

  /**
   * What the reader holds unread (a message half received, or messages behind a barrier)
   * counts against the gateway's budget for undecided input; past it the session ends.
   */
  private countReaderHeld(): void {
    if (this.closed) return;
    const now = this.reader.pending;
    if (now <= this.readerHeld) return this.releaseReaderHeld();
    if (!this.ctx.heldInput.take(now - this.readerHeld))
      return this.fatal(ClientError.outOfMemoryFatal(), 'error');
    this.readerHeld = now;
  }

  /**
   * A message taken out of the reader is no longer the reader's to count (the group that
   * holds it counts it): let go of its share before it is handled.
   */
  private releaseReaderHeld(): void {
    const now = this.reader.pending;
    if (now < this.readerHeld) {
      this.ctx.heldInput.release(this.readerHeld - now);
      this.readerHeld = now;
    }
  }

  /**
   * Reading waits on a barrier, except for the data of a running COPY FROM STDIN. It also
   * waits while a COPY FROM STDIN sent has not started or failed: PostgreSQL reads the
   * messages after it as COPY data (ignoring a Sync) only once it has started, so until then
   * the session cannot tell which unit of work a Sync or a Query belongs to.
   */
  private holding(): boolean {
    return (
      ((this.barrier || this.copyStartsDue > 0) && !this.copyIn) ||
      this.rowHold ||
      this.probing ||
      this.waitAnswers ||
      this.cancelsInFlight > 0 ||
      this.items.length >= MAX_ITEMS_IN_FLIGHT
    );
  }

  private pump(): void {
    if (this.busy || this.holding() || this.closed) return;
    if (!this.clientPaused && this.client.isPaused()) this.client.resume();
    // Frames for upstream are gathered during the pass and written at its end: usually one
    // write(2), without the stream's cork bookkeeping.
    this.out = [];
    try {
      while (!this.busy && !this.holding() && !this.closed) {
        if (this.deferred) {
          // A message that waited for earlier answers goes before anything read after it.
          const d = this.deferred;
          this.deferred = undefined;
          this.handle(d);
          continue;
        }
        if (this.heldDue) {
          // A group waited too long for its Sync: it goes as at a Flush (a message half
          // received behind it has a timeout of its own).
          this.heldDue = false;
          if (this.batch.length > 0 && !this.skipUntilSync)
            if (!this.flushBatch(false, undefined)) this.awaitAnswers(undefined);
          continue;
        }
        // Judge the type byte before waiting for a body, as PostgreSQL does: an unknown type
        // claiming a long length would otherwise hold the session until the message timeout.
        const t = this.reader.peekType();
        if (t !== undefined && !FRONTEND_TYPES.has(t))
          throw new FrameError(
            `unexpected message type 0x${t.toString(16).padStart(2, '0')} from client`,
            '08P01',
          );
        if (
          (t === F.Query || t === F.FunctionCall) &&
          (this.batch.length > 0 || this.unsynced) &&
          !this.skipUntilSync
        ) {
          // A Query (or FunctionCall) after extended messages with no Sync: PostgreSQL runs
          // those first, and skips the Query (up to the next Sync) if one of them failed.
          // They go upstream now, with a probe; the Query is read once it answers.
          if (!this.flushBatch(false, undefined, true)) this.awaitAnswers(undefined);
          continue;
        }
        if (
          (t === F.CopyData || t === F.CopyDone || t === F.CopyFail) &&
          this.batch.length > 0 &&
          !this.skipUntilSync &&
          !this.copyIn
        ) {
          // COPY data right after an Execute with no Sync (or Flush): PostgreSQL runs the
          // COPY and reads the data, so the group is decided and sent first, as at a Flush.
          if (!this.flushBatch(false, undefined)) this.awaitAnswers(undefined);
          continue;
        }
        const f = this.reader.next();
        if (!f) break;
        this.releaseReaderHeld();
        if (f.oversized !== undefined) this.onOversized(f, f.oversized);
        else this.handle(f);
      }
    } catch (err) {
      if (err instanceof FrameError) {
        this.ctx.metrics.protocolErrors.inc();
        // The messages before the bad one run, as in PostgreSQL (and as recorded).
        this.flushOut();
        this.fatal(
          ClientError.protocolViolation(
            /exceeds the limit/.test(err.message)
              ? `${err.message} (session.maxMessageBytes)`
              : err.message,
          ),
          'protocol_error',
        );
      } else {
        this.log.error('session error', { err });
        this.fatal(ClientError.internal());
      }
    } finally {
      this.flushOut();
    }
    if (this.clientEnded) this.closeWhenAnswered();
    else {
      this.armMessageTimer();
      this.armHeldTimer();
    }
  }

  /** A group waiting for its Sync, with the session free to send it, is sent in time. */
  private armHeldTimer(): void {
    if (this.batch.length > 0 && !this.closed && !this.holding()) {
      this.heldTimer ??= setTimeout(() => {
        this.heldTimer = undefined;
        this.heldDue = true;
        this.pump();
      }, HELD_GROUP_MS);
    } else if (this.heldTimer) {
      clearTimeout(this.heldTimer);
      this.heldTimer = undefined;
    }
  }

  private flushOut(): void {
    const out = this.out;
    this.out = undefined;
    if (!out || out.length === 0 || this.closed) return;
    if (out.length === 1) return this.sendUp(out[0]);
    this.upstream.cork();
    for (const b of out) this.sendUp(b);
    this.upstream.uncork();
  }

  /** A message left half-sent for too long ends the session (slowloris). */
  private armMessageTimer(): void {
    if (this.reader.midMessage && !this.closed && !this.holding()) {
      if (!this.messageTimer) {
        this.messageTimer = setTimeout(
          () =>
            this.fatal(
              ClientError.protocolViolation('incomplete message timed out'),
              'protocol_error',
            ),
          this.ctx.settings().limits.messageTimeoutMs,
        );
      }
    } else if (this.messageTimer) {
      clearTimeout(this.messageTimer);
      this.messageTimer = undefined;
    }
  }

  /**
   * A Query, Parse, Bind or CopyData over session.maxMessageBytes, dropped as it arrives: it
   * fails as a statement PostgreSQL cannot take would, and the session goes on (a client
   * storing a large file reads why, instead of finding its connection closed).
   */
  private onOversized(f: Frame, length: number): void {
    const type = f.type;
    const limit = this.ctx.settings().limits.maxMessageBytes;
    const why = `a message of ${length + 1} bytes is over the gateway's limit of ${limit} bytes`;
    this.log.warn('message over the limit dropped', { bytes: length + 1, limit });
    if (this.copyIn) {
      // In COPY IN only COPY messages may come (see handle).
      if (type !== F.CopyData) return this.copyViolation(type);
      // The COPY fails (57014, naming the reason); what the client still sends for it is
      // dropped, as PostgreSQL drops it.
      this.copyIn = false;
      this.write(copyFailMessage(`${why} (session.maxMessageBytes)`));
      return;
    }
    // COPY data outside a COPY is ignored, as PostgreSQL ignores it (and as handle does).
    if (type === F.CopyData) return;
    // After an error in an extended group PostgreSQL skips everything up to Sync.
    if (this.skipUntilSync) return;
    const err = ClientError.tooLarge(why, 'raise session.maxMessageBytes, or send less at once');
    this.audit.unread('', why);
    if (type === F.Query) {
      this.countDecision('deny');
      return this.refuse(err, 'simple');
    }
    // A Parse or Bind: the messages before it in its group run, and the group fails there,
    // as at an error (see batch.ts); the client's Sync ends it.
    this.add({ type: 'oversized', frame: f, fields: err });
  }

  private handle(f: Frame): void {
    // In copy-in mode PostgreSQL reads only COPY messages (and ignores Sync and Flush); any
    // other message ends the COPY with a protocol error there, so it ends the session here.
    if (this.copyIn && !COPY_IN_TYPES.has(f.type)) return this.copyViolation(f.type);
    switch (f.type) {
      case F.Query:
        // After an error in an extended group PostgreSQL skips everything up to Sync.
        if (this.skipUntilSync) return;
        return this.onQuery(f);
      case F.Parse: {
        if (this.skipUntilSync) return;
        const p = parseParse(f.body);
        return this.add({ type: 'parse', frame: f, name: p.name, sql: p.sql, types: p.paramTypes });
      }
      case F.Bind: {
        if (this.skipUntilSync) return;
        const b = parseBind(f.body);
        return this.add({
          type: 'bind',
          frame: f,
          portal: b.portal,
          statement: b.statement,
          params: new BindParams(b),
          invalid: b.invalid,
        });
      }
      case F.Execute: {
        if (this.skipUntilSync) return;
        const e = parseExecute(f.body);
        return this.add({ type: 'execute', frame: f, portal: e.portal, maxRows: e.maxRows });
      }
      case F.Describe:
        if (this.skipUntilSync) return;
        parseDescribeOrClose(f.body);
        return this.add({ type: 'describe', frame: f });
      case F.Close: {
        if (this.skipUntilSync) return;
        const c = parseDescribeOrClose(f.body);
        return this.add({ type: 'close', frame: f, kind: c.kind, name: c.name });
      }
      case F.Sync:
        // In copy-in mode the server ignores Sync (and Flush): no unit of work ends here,
        // unless a row before it fails the COPY (see syncsInCopy).
        if (this.copyIn) {
          this.syncsInCopy++;
          return this.write(f.raw);
        }
        this.openItem.bySync = true;
        this.unsynced = false;
        if (this.skipUntilSync) {
          this.skipUntilSync = false;
          this.settingsInDoubt = false;
          this.sendItem(SYNC);
          this.syncSent(false);
          return;
        }
        if (!this.flushBatch(true, f.raw)) this.awaitAnswers(f);
        return;
      case F.Flush:
        if (this.copyIn) return this.write(f.raw);
        if (this.skipUntilSync) return;
        if (!this.flushBatch(false, f.raw)) this.awaitAnswers(f);
        return;
      case F.CopyData:
      case F.CopyDone:
      case F.CopyFail:
        // Outside COPY IN (the data of a COPY that failed to start, or none) these are
        // ignored, as PostgreSQL does. Nothing is read behind a COPY FROM STDIN until it
        // has started or failed, so no data comes early.
        if (!this.copyIn) return;
        if (f.type !== F.CopyData) this.copyIn = false;
        this.write(f.raw);
        return;
      case F.FunctionCall:
        if (this.skipUntilSync) return;
        // The fast-path interface runs a function by OID with no SQL text to decide on.
        this.countDecision('deny');
        this.audit.unread(
          `FunctionCall (function OID ${f.body.length >= 4 ? f.body.readUInt32BE(0) : '?'})`,
          'the fast-path FunctionCall is refused: it names no SQL to decide on',
        );
        this.refuse(ClientError.functionCallRefused(), 'simple');
        return;
      case F.Terminate:
        this.endReason = 'client_terminate';
        // What was read before it runs, as in PostgreSQL (and as recorded).
        this.flushOut();
        if (this.items.length > 0 && !this.copyIn) {
          // PostgreSQL answers what it read before the Terminate, then exits: the session
          // reads those answers (for their outcomes in the recording) and then closes. The
          // client is leaving: nothing more is read from it or written to it.
          this.terminated = true;
          this.reader.drain();
          this.clientEnded = true;
          this.client.end();
          return;
        }
        this.closed = true;
        this.upstream.end(TERMINATE);
        this.client.end();
        this.finish();
        return;
      default:
        throw new FrameError(
          `unexpected message type 0x${f.type.toString(16).padStart(2, '0')} from client`,
          '08P01',
        );
    }
  }

  private analyzeOpts() {
    const s = this.ctx.settings();
    return {
      searchPath: this.searchPath,
      database: this.auth.startup.database,
      catalog: this.ctx.catalog(this.target.name),
      maxBytes: s.limits.maxQueryBytes,
      maxStatements: s.limits.maxStatementsPerQuery,
    };
  }

  private onQuery(f: Frame): void {
    const body = f.body;
    const n = body.length - 1;
    if (n < 0 || body[n] !== 0 || body.indexOf(0) !== n)
      throw new FrameError('invalid Query message', '08P01');
    if (this.settingsInDoubt) {
      this.settingsInDoubt = false;
      this.countDecision('deny');
      this.audit.unread(body.toString('utf8', 0, n), settingsInDoubtError().message);
      this.refuse(settingsInDoubtError(), 'simple');
      this.barrier = true;
      return;
    }
    const t0 = performance.now();
    const bytes = body.subarray(0, n);
    if (!isUtf8(bytes)) {
      this.countDecision('deny');
      // Recorded as PostgreSQL would have read it, invalid bytes shown as U+FFFD.
      this.audit.unread(bytes.toString('utf8'), 'query text is not valid UTF-8');
      return this.refuse(
        { severity: 'ERROR', code: '22021', message: 'query text is not valid UTF-8' },
        'simple',
      );
    }
    // PostgreSQL reads a Query's text as it comes, under the settings the work before it
    // left, which are reported only at that work's ReadyForQuery: a Query pipelined behind
    // unanswered work waits for it (see guard.ts for the extended protocol).
    if (this.items.length > 0) return this.awaitAnswers(f);
    const a = analyze(bytes.toString('utf8'), this.analyzeOpts());
    if (a.error) {
      this.countDecision('deny');
      this.audit.refusal(undefined, bytes.toString('utf8'), a.error.message, 'simple');
      return this.refuse(ClientError.unanalysed(a.error), 'simple');
    }
    const count = a.statements.length;
    const decided: DecidedRun[] = [];
    let settings = false;
    // Deny wins across the whole string: a statement waiting for approval does not stop the
    // later ones from being decided, so a batch that also holds a denied statement is denied.
    let held:
      { facts: StatementFacts; rec: DecisionRecord; index: number; inTxn: boolean } | undefined;
    // A BEGIN (or COMMIT) earlier in the string changes the transaction state the later
    // statements are decided and recorded in; the session's own state follows
    // ReadyForQuery.
    const ahead = this.txnAhead();
    if (ahead === UNCERTAIN) return this.awaitAnswers(f);
    const wasInTxn = this.facts.in_transaction;
    let inTxn = ahead;
    const pulled = count > 1 && !inTxn ? pulledIntoBlock(a.statements) : undefined;
    try {
      for (let i = 0; i < count; i++) {
        // Before a BEGIN later in the string, a statement runs in the block it opens.
        const runTxn = inTxn || pulled?.[i] === true;
        this.facts.in_transaction = runTxn;
        const facts = this.names.effective(a.statements[i]);
        if (facts === UNCERTAIN) {
          this.names.rollback();
          return this.awaitAnswers(f);
        }
        // What a FETCH reads is decided again when a reload changed the policy since, or
        // in the transaction state it is read in.
        const stale = this.names.redecideFetched(
          facts,
          this.ctx.policy().version,
          'simple',
          runTxn,
          i,
          count,
        );
        if (stale) {
          this.countDecision(stale.rec.decision.kind);
          this.names.rollback();
          this.audit.refusal(stale.facts, facts.text, undefined, 'simple', stale.rec, null, {
            index: i,
            count,
            inTransaction: runTxn,
          });
          return this.refuse(stale.fields ?? refusalFields(stale.rec), 'simple', stale.rec);
        }
        // A FETCH reads under its cursor's budget.
        const budget = this.names.fetchBudget(facts);
        if (budget === UNCERTAIN) {
          this.names.rollback();
          return this.awaitAnswers(f);
        }

        let rec = this.decisions.decide(facts, 'simple', null, i, count);
        // A FETCH, MOVE or COMMIT that runs a cursor's query runs in that query's time.
        rec = this.names.timeRuling(facts, rec) ?? rec;
        this.names.noteBlockLimit(rec, runTxn);
        if (rec.decision.kind === 'approval') held ??= { facts, rec, index: i, inTxn: runTxn };
        else if (rec.decision.kind !== 'allow') {
          this.countDecision(rec.decision.kind);
          this.names.rollback();
          this.audit.refusal(facts, facts.text, undefined, 'simple', rec, null, {
            index: i,
            count,
            inTransaction: runTxn,
          });
          return this.refuse(refusalFields(rec), 'simple', rec);
        }
        this.names.stage(facts, rec, i);
        if (mayChangeSettings(facts)) settings = true;
        const run: DecidedRun = {
          facts,
          rec,
          protocol: 'simple',
          params: null,
          budget,
          runs: this.names.runsOf(facts),
        };
        if (runTxn !== wasInTxn) run.inTransaction = runTxn;
        decided.push(run);
        inTxn = inTransactionAfter(facts, inTxn);
      }
    } finally {
      this.facts.in_transaction = wasInTxn;
    }
    // Each statement's names are resolved as it runs, under the search_path the ones before
    // it left (see path-moves.ts); a Query behind a group with no Sync yet runs in that
    // group's implicit transaction, so after what the group moved.
    const before = this.openItem.pathMovedBy;
    const moved =
      count > 1 || before !== undefined
        ? afterPathMove(decided, 'query', before, this.fetchedFacts).refused
        : undefined;
    if (moved) {
      const run = decided[moved.index];
      return this.refusePathMove(run, moved.by, 'simple', {
        index: moved.index,
        count,
        inTransaction: run.inTransaction ?? wasInTxn,
      });
    }
    if (!held && this.commitMustWait(decided)) {
      this.names.rollback();
      return this.awaitAnswers(f);
    }
    if (held) {
      this.countDecision('approval');
      this.names.rollback();
      this.audit.refusal(held.facts, held.facts.text, undefined, 'simple', held.rec, null, {
        index: held.index,
        count,
        inTransaction: held.inTxn,
      });
      return this.refuse(refusalFields(held.rec), 'simple', held.rec);
    }
    this.ctx.metrics.decisionSeconds.observe((performance.now() - t0) / 1000);
    const changes = this.names.commit();
    this.countDecision('allow', count);
    this.audit.allowed += count;
    this.forwardRecorded(decided, [f.raw], true, changes, 0);
    if (settings) this.barrier = true;
  }

  /**
   * Whether these runs (a COMMIT) must wait for answers before going upstream (see
   * commitWaits); when they wait for the open item's statements, their completion ends
   * the wait.
   */
  private commitMustWait(runs: readonly DecidedRun[] | undefined): boolean {
    const waits = commitWaits(this.inFlight.limited > 0, this.openItem, runs);
    if (waits === 'runs') {
      this.waitRuns = true;
      // Their completions may sit in PostgreSQL's output buffer until a Flush (a group
      // sent early for its COPY data ends with none): ask for them.
      this.write(FLUSH);
    }
    return waits !== false;
  }

  /** A COMMIT held for the open item's statements (see commitWaits) is read again. */
  private runsDone(): void {
    if (this.waitRuns) this.stopWaiting();
  }

  /** What waited for answers (`deferred`, or the message the reader holds) is read again. */
  private stopWaiting(): void {
    this.waitAnswers = false;
    this.waitRuns = false;
    this.readSoon();
  }

  /** The transaction state the next statement read runs in (see txn-state.ts). */
  private txnAhead(): boolean | typeof UNCERTAIN {
    return txnAhead(this.inFlight.txnControl > 0, this.openItem, this.facts.in_transaction);
  }

  /**
   * Add an extended message to the group. PostgreSQL runs each as it comes; the gateway
   * holds the group to its Sync: past a bound on what it holds, the group so far is
   * decided and sent as at a Flush.
   */
  private add(m: Pending): void {
    const n = m.frame.raw.length;
    if (!this.ctx.heldInput.take(n)) {
      // The gateway holds as much undecided input as it may, all sessions together: this
      // group is refused (and what it held let go), as PostgreSQL refuses what it has no
      // memory for; the client's Sync ends it.
      this.dropBatch();
      this.audit.unread('', 'the gateway holds as much undecided input as it may');
      return this.refuse(ClientError.outOfMemory(), 'flush');
    }
    this.batch.push(m);
    this.batchBytes += n;
    // A group without a Sync is bounded by its bytes and by its count of messages (each held
    // message costs far more than its bytes: a flood of 7-byte Describes held hundreds of
    // megabytes): past either, it is decided and sent as at a Flush.
    if (
      this.batchBytes > 4 * this.ctx.settings().limits.maxMessageBytes ||
      this.batch.length >= MAX_HELD_MESSAGES
    )
      if (!this.flushBatch(false, undefined)) this.awaitAnswers(undefined);
  }

  /** Let go of the messages held for the group (sent, refused, or skipped). */
  private dropBatch(): void {
    this.ctx.heldInput.release(this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
  }

  /**
   * Wait for every answer still to come before deciding `f` (or, with undefined, the
   * message the reader holds): it names something whose last change is not answered yet.
   */
  private awaitAnswers(f: Frame | undefined): void {
    // Uncertain names belong to items still in flight; with none there is nothing to
    // wait for, and deciding again would loop.
    if (this.items.length === 0 && !this.waitRuns)
      throw new Error('a name is uncertain with nothing in flight');
    this.deferred = f;
    this.waitAnswers = true;
  }

  /**
   * Decide a whole extended-protocol batch; forward all of it or none. With `probe`, a probe
   * follows it (see `probing`). False: it must wait for earlier answers (nothing was done).
   */
  private flushBatch(sync: boolean, boundary: Buffer | undefined, probe = false): boolean {
    const batch = this.batch;
    const t0 = performance.now();
    // Statement text behind work not yet answered is guarded too: the settings a statement
    // of it changes are reported only at its ReadyForQuery.
    const inDoubt: Doubt = this.settingsInDoubt
      ? 'group'
      : this.items.length > 0
        ? 'in_flight'
        : 'none';
    const ahead = this.txnAhead();
    if (ahead === UNCERTAIN) return false;
    const v = decideBatch(batch, inDoubt, this.batchContext, ahead);
    if ('wait' in v || this.commitMustWait(v.runs)) {
      this.names.rollback();
      return false;
    }
    const open = this.openItem;
    const held = this.unsyncedBytes + this.batchBytes;
    this.dropBatch();
    // Until the unit of work ends (see pushItem).
    this.unsyncedBytes = held;
    if (sync) {
      this.settingsInDoubt = false;
      this.unsynced = false;
    }
    if (
      open.runs.length + (v.runs?.length ?? 0) > MAX_UNSYNCED_RUNS ||
      (open.changes?.length ?? 0) + batch.length > MAX_UNSYNCED_RUNS ||
      held > MAX_UNSYNCED_BYTES
    ) {
      this.names.rollback();
      const why = `more than ${MAX_UNSYNCED_RUNS} statements or ${MAX_UNSYNCED_BYTES / 1048576} MiB of messages without a Sync`;
      this.audit.unread('', why);
      this.refuse(ClientError.tooLarge(`${why}: send a Sync sooner`), sync ? 'sync' : 'flush');
      return true;
    }
    const refusal = v.allowed ? undefined : v.refusal;
    const failAt = refusal?.at;
    if (refusal && failAt === undefined) {
      const r = refusal;
      this.names.rollback();
      this.countDecision(r.rec?.decision.kind ?? 'deny');
      this.audit.refusal(
        r.facts,
        r.facts?.text ?? r.text ?? '',
        r.parseError,
        'extended',
        r.rec,
        r.params,
        { index: 0, count: 1, inTransaction: r.inTransaction },
      );
      this.refuse(r.fields, sync ? 'sync' : 'flush', r.rec);
      return true;
    }
    const runs = v.runs ?? [];
    // Each statement is planned under the search_path the ones before it in the unit left
    // (see path-moves.ts), a statement prepared earlier too: PostgreSQL plans it again then.
    const path = afterPathMove(runs, 'group', open.pathMovedBy, this.fetchedFacts);
    if (path.refused) {
      const run = runs[path.refused.index];
      this.refusePathMove(run, path.refused.by, sync ? 'sync' : 'flush', {
        index: 0,
        count: 1,
        inTransaction: run.inTransaction ?? this.facts.in_transaction,
      });
      return true;
    }
    if (path.by !== undefined) open.pathMovedBy = path.by;
    this.ctx.metrics.decisionSeconds.observe((performance.now() - t0) / 1000);
    const changes = this.names.commit();
    this.countDecision('allow', runs.length);
    this.audit.allowed += runs.length;
    const raws: Buffer[] = [];
    /** Where the settings guards go among the messages sent (see guard.ts). */
    let guards: number[] | undefined;
    let msgs = 0;
    let nextGuard = 0;
    for (let i = 0; i < (failAt ?? batch.length); i++) {
      if (v.guards?.[nextGuard] === i) {
        nextGuard++;
        msgs = this.pushGuard(raws, (guards ??= []), msgs);
      }
      raws.push(batch[i].frame.raw);
      msgs++;
    }
    let fail: Buffer | undefined;
    if (refusal && failAt !== undefined) {
      // The messages before the one naming what PostgreSQL does not have run; that one
      // becomes a Parse that fails, whose error the client gets as ours; PostgreSQL skips
      // the rest up to Sync, and so does the session.
      this.audit.refused++;
      this.countDecision('deny');
      fail = errorResponse(refusal.fields);
      raws.push(this.markerParse());
      msgs++;
      if (!sync) {
        raws.push(FLUSH);
        this.skipUntilSync = true;
      }
    }
    if (boundary && (sync || failAt === undefined)) raws.push(boundary);
    if (probe && failAt === undefined) {
      // The held Query is statement text too (where no guard can be sent, it is refused).
      if (v.doubt && this.batchContext.guardable)
        msgs = this.pushGuard(raws, (guards ??= []), msgs);
      // Close of a portal no client can have named, then Flush: answered unless an error
      // came first.
      raws.push(closeMessage('P', `probe ${randomUUID()}`), FLUSH);
      this.probeAt = (this.openItem.sent ?? 0) + msgs++;
      this.probing = true;
    }
    this.forwardRecorded(runs, coalesce(raws), sync, changes, msgs, fail, guards, v.bound);
    if (!sync && batch.length) this.unsynced = true;
    if (sync) this.syncSent(runs.some((r) => mayChangeSettings(r.facts)));
    if (!sync) this.settingsInDoubt = (v.doubt ?? false) && !(probe && this.batchContext.guardable);
    return true;
  }

  /**
   * A Sync went upstream, behind statements that may have changed a parser setting
   * (`changed`, or a group whose Sync PostgreSQL ignored: see onCopyIn): nothing more is
   * read until its ReadyForQuery, the only answer that lifts the barrier.
   */
  private syncSent(changed: boolean): void {
    if (changed || this.barrierAtSync) this.barrier = true;
    this.barrierAtSync = false;
  }

  /**
   * Refuse a unit of work whose statement `run` names something by a search_path that `by`
   * may have moved earlier in it (see path-moves.ts); recorded as the gateway's refusal.
   */
  private refusePathMove(
    run: DecidedRun,
    by: string,
    mode: 'simple' | 'sync' | 'flush',
    at: { index: number; count: number; inTransaction: boolean },
  ): void {
    const rec = gatewayRefusal(pathMoveReason(by), this.ctx.policy().version);
    this.countDecision('deny');
    this.names.rollback();
    const simple = mode === 'simple';
    this.audit.refusal(
      run.facts,
      run.facts.text,
      undefined,
      simple ? 'simple' : 'extended',
      rec,
      run.params?.value ?? null,
      at,
    );
    this.refuse(pathMoveError(by, simple ? 'query' : 'group'), mode, rec);
  }

  /** The facts of the query a FETCH or MOVE runs (see path-moves.ts). */
  private readonly fetchedFacts = (f: StatementFacts): StatementFacts | undefined =>
    this.names.fetchedFacts(f);

  /** Add a settings guard to `raws` after `msgs` messages; the count after it. */
  private pushGuard(raws: Buffer[], at: number[], msgs: number): number {
    raws.push((this.guard ??= guardMessages()));
    at.push(msgs);
    return msgs + GUARD_MESSAGES;
  }

  /**
   * Write-ahead: when recording is on, the statements' records must be durable before the
   * bytes are forwarded. Reading stops meanwhile so order is kept.
   */
  private forwardRecorded(
    runs: readonly DecidedRun[],
    frames: Buffer[],
    endsItem: boolean,
    changes: Change[],
    msgs: number,
    fail?: Buffer,
    guards?: number[],
    /** Binds no Execute runs, whose code PostgreSQL runs all the same: recorded too. */
    bound?: readonly DecidedRun[],
  ): void {
    const rec = this.audit.port;
    if (!rec || (runs.length === 0 && !bound)) {
      this.forward(frames, endsItem, runs, undefined, changes, msgs, fail, guards, bound);
      return;
    }
    const written = rec.statements(this.audit.events(bound ? [...runs, ...bound] : runs));
    if (Array.isArray(written)) {
      // Nothing to wait for ('off' durability): forward in this turn.
      this.forward(frames, endsItem, runs, written, changes, msgs, fail, guards, bound);
      if (bound) this.audit.boundOnly(written.slice(runs.length));
      return;
    }
    this.busy = true;
    this.syncWaiting = endsItem;
    this.writeAhead = written.then(
      (seqs) => {
        this.writeAhead = undefined;
        this.busy = false;
        this.syncWaiting = false;
        // The client left while the records were written: nothing went upstream.
        if (this.closed) return this.audit.notForwarded(seqs);
        this.upstream.cork();
        this.forward(frames, endsItem, runs, seqs, changes, msgs, fail, guards, bound);
        this.upstream.uncork();
        if (bound) this.audit.boundOnly(seqs.slice(runs.length));
        this.pump();
      },
      () => {
        this.writeAhead = undefined;
        this.busy = false;
        this.syncWaiting = false;
        if (this.closed) return;
        this.log.error('recording unavailable: statement refused');
        // Nothing of the group went upstream: its statements count as refused (refuse
        // counts the group once).
        this.audit.unwritten(runs.length);
        for (const c of changes) c.settle(false);
        this.probing = false;
        this.upstream.cork();
        this.refuse(
          ClientError.recordingUnavailable(),
          endsItem ? (runs[0].protocol === 'simple' ? 'simple' : 'sync') : 'flush',
        );
        this.upstream.uncork();
        this.pump();
      },
    );
  }

  /**
   * Send a decided batch upstream; each statement's outcome and row limit are tracked, and
   * its name changes settle at the item's ReadyForQuery. `msgs`: its extended messages;
   * with `fail`, the last is a marker Parse whose error is replaced by this one; `guards`:
   * where settings guards start among them.
   */
  private forward(
    frames: Buffer[],
    endsItem: boolean,
    decided: readonly DecidedRun[],
    seqs: number[] | undefined,
    changes: Change[],
    msgs: number,
    fail?: Buffer,
    guards?: number[],
    bound?: readonly DecidedRun[],
  ): void {
    const now = performance.now();
    const item = this.openItem;
    const head = this.items.length === 0 && item.runs.length === 0;
    /** The smallest time limit of this group's statements. */
    let groupMs: number | undefined;
    const first = item.runs.length;
    const commits = trackRuns(item, decided, this.facts.in_transaction);
    for (let i = 0; i < decided.length; i++) {
      const f = decided[i].facts;
      if (f.class === 'ddl' || f.opaque) this.schemaTouched = true;
      const copy = f.copy as CopyFact | undefined;
      // Not when the item already failed (its error came during the write-ahead wait):
      // PostgreSQL skips the COPY, and nothing will answer it.
      if (copy && copy.direction === 'from' && copy.stdio && item.errAt === undefined) {
        item.startsDue = (item.startsDue ?? 0) + 1;
        this.copyStartsDue++;
      }
      const d = decided[i].rec.decision;
      const limits = d.kind === 'allow' ? d.limits : undefined;
      if (limits?.timeout_ms !== undefined && limits.timeout_ms < (groupMs ?? Infinity))
        groupMs = limits.timeout_ms;
      const maxRows = limits?.max_rows;
      const txn = txnEffect(f);
      item.runs.push({
        seq: seqs ? seqs[i] : -1,
        started: now,
        maxRows,
        budget: decided[i].budget,
        ...(commits[i] ? { commitsChanges: true } : {}),
        ...(copy?.direction === 'to' && copy.header ? { copyHeader: true } : {}),
        ...(txn ? { txn } : {}),
      });
    }
    // A Bind no Execute runs plans its statement, which may run code: under its limit too.
    if (bound) {
      item.bindsRun = true;
      for (const b of bound) {
        const ms = b.rec.decision.kind === 'allow' ? b.rec.decision.limits?.timeout_ms : undefined;
        if (ms !== undefined && ms < (groupMs ?? Infinity)) groupMs = ms;
      }
    }
    const base = item.sent ?? 0;
    if (changes.length) {
      for (const c of changes) {
        // A change's message index in the group, past the guards sent before it.
        if (c.at >= 0) c.pos = base + c.at + guardsBefore(guards, c.at) * GUARD_MESSAGES;
        else c.ran = item.runs[first + runOf(c.at)];
      }
      if (item.changes) item.changes.push(...changes);
      else item.changes = changes;
    }
    if (fail) item.replace.push({ at: base + msgs - 1, err: fail });
    if (guards) {
      for (const g of guards) (item.guards ??= []).push(base + g);
      this.guardsOut += guards.length;
      this.scanner.watchGuards(true);
    }
    if (msgs) item.sent = base + msgs;
    // The first statement of an idle session: its rows are counted from now.
    if (head && decided.length > 0) this.armRows();
    for (const b of frames) this.write(b);
    // A time limit runs from when its statement goes upstream, also in a part of the item
    // sent before its Sync (at a Flush, for COPY data): PostgreSQL runs it then, unless an
    // earlier item is still running (the limit starts when that one is answered: a cancel
    // now would stop that one instead).
    if (groupMs !== undefined) {
      item.timeoutMs = Math.min(item.timeoutMs ?? Infinity, groupMs);
      if (this.items.length === 0) this.armTimeout(item, groupMs);
    }
    if (endsItem) {
      item.started = now;
      this.pushItem(item);
    }
  }

  /** The open item is sent whole: its answer is awaited, and a new item opens. */
  private pushItem(item: Item): void {
    this.items.push(item);
    this.countInFlight(item, 1);
    // The unit of work ended (a Sync, a Query): what it sent without a Sync counts no more.
    this.unsyncedBytes = 0;
    // Its time ran out while the client held its Sync back: the commit it sets off is not
    // given time of its own (the cancel connects after the Sync is written).
    if (item.overdue) void this.cancelUpstream();
    // A time limit cancels what PostgreSQL runs when it runs out: work sent behind the item
    // would take that cancel when the item completes just as it is sent. Nothing more goes
    // upstream until the item is answered (and a cancel it set off has landed).
    if (item.timeoutMs !== undefined) this.barrier = true;
    this.openItem = newItem();
    // What it changed is uncertain to later groups until its ReadyForQuery.
    this.names.endSpan();
  }

  /**
   * An item with a policy time limit cancels its upstream statement when it runs out, `ms`
   * from now, or at an earlier deadline already set (a later group's lower limit does not
   * stretch it). Only the item PostgreSQL runs (the oldest one unanswered) is armed.
   */
  private armTimeout(item: Item, ms = item.timeoutMs): void {
    if (ms === undefined) return;
    const at = performance.now() + ms;
    // Set with the timer, cleared when it fires.
    if (item.deadline !== undefined && item.deadline <= at) return;
    clearTimeout(item.timer);
    item.deadline = at;
    item.timer = setTimeout(() => this.timeUp(), ms);
    item.timer.unref();
  }

  /** The running item's time limit ran out: cancel what it runs, if anything. */
  private timeUp(): void {
    const item = this.items[0] ?? this.openItem;
    item.timer = undefined;
    item.deadline = undefined;
    // Every statement of it sent so far was answered (a group sent at a Flush): nothing runs
    // now, and the limit of a group sent later starts when that is sent. But the commit at
    // its Sync may still do the statements' work (a WITH HOLD cursor's query run whole,
    // deferred triggers): it is cancelled as it goes, or now if it is going.
    if (item.runs.length === 0) {
      if (!item.implicitChanges && !item.holdAtEnd && !item.bindsRun) return;
      if (item === this.openItem) {
        item.overdue = true;
        return;
      }
    }
    if (this.copyIn) {
      // PostgreSQL holds a cancel while a COPY FROM STDIN waits for data: a client that sends
      // none would keep it (and its locks) past the limit. A CopyFail ends it then, with
      // 57014; what the client still sends for it is dropped, as PostgreSQL would drop it.
      // But PostgreSQL reads the CopyFail only after the data sent before it: one still
      // loading rows (a trigger on each) is cancelled too.
      this.copyIn = false;
      this.upstream.write(copyFailMessage("the statement's time limit (timeout_ms) ran out"));
    }
    // Still running once PostgreSQL has had the cancel a while: the session is ended.
    void this.cancelUpstream().then(() =>
      setTimeout(() => this.pastCancel(item), CANCEL_GRACE_MS).unref(),
    );
  }

  /**
   * The item whose time limit ran out is still unanswered a while after its cancel: the code
   * it runs caught the cancel, or it is stuck sending rows the client does not read. The
   * client is told (57014) and the session ends; the upstream backend is terminated, as
   * closing its connection alone would let it run on until it next writes.
   */
  private pastCancel(item: Item): void {
    if (this.closed) return;
    const running = this.items[0] ?? this.openItem;
    if (running !== item || (item === this.openItem && item.runs.length === 0)) return;
    this.log.warn('statement went on past its time limit after it was cancelled: session ended', {
      sub: this.auth.identity.sub,
    });
    const pid = this.upstreamKey.pid;
    const target = this.target;
    this.fatal(ClientError.timeLimitIgnored(), 'error');
    void terminateBackend(target, pid).catch((err: unknown) =>
      this.log.warn('could not terminate the upstream backend of a statement past its time limit', {
        err: (err as Error).message,
      }),
    );
  }

  /** Count an item into (1) or out of (-1) the items in flight (see `inFlight`). */
  private countInFlight(it: Item, sign: 1 | -1): void {
    if (it.txnControl) this.inFlight.txnControl += sign;
    if (it.limitedInTxn) this.inFlight.limited += sign;
  }

  /**
   * `n` of the item's COPY FROM STDIN started, or (all of them, by default) none will: an
   * error makes PostgreSQL skip the rest of the item. Reading resumes when none is due.
   */
  private copyStartsSettled(item: Item, n = item.startsDue ?? 0): void {
    if (n <= 0) return;
    item.startsDue = (item.startsDue ?? 0) - n;
    this.copyStartsDue -= n;
    if (this.copyStartsDue === 0) this.readSoon();
  }

  /**
   * Cancel the running upstream statement (policy time limit), as a client's cancel would.
   * Resolves once the cancel connection has closed (PostgreSQL has the signal by then).
   */
  private cancelUpstream(): Promise<void> {
    const { pid, secret } = this.upstreamKey;
    // Until PostgreSQL has the signal, nothing more goes upstream: a statement the client
    // sends once the cancelled one is answered would take the cancel instead. (One already
    // sent behind it may still take it, when the cancelled one ends just as it is sent.)
    this.cancelsInFlight++;
    return new Promise((resolve) => {
      const sock = connect({ host: this.target.host, port: this.target.port });
      sock.on('close', () => {
        if (--this.cancelsInFlight === 0) this.readSoon();
        resolve();
      });
      sock.on('error', () => sock.destroy());
      sock.setTimeout(5000, () => sock.destroy());
      sock.on('connect', () => sock.end(cancelRequest(pid, secret)));
    });
  }

  /** Forward a frame that ends an item (Sync after a skipped batch). */
  private sendItem(frame: Buffer): void {
    this.write(frame);
    this.openItem.started = performance.now();
    this.pushItem(this.openItem);
  }

  /**
   * Refuse the current unit of work. The upstream gets a statement that fails to parse, so
   * it reports an error and aborts an open transaction exactly as a real error would; the
   * client gets our error in its place, then the upstream's ReadyForQuery.
   */
  private refuse(
    fields: ErrorFields,
    mode: 'simple' | 'sync' | 'flush',
    rec?: DecisionRecord,
  ): void {
    this.audit.refused++;
    // The policy's reasons, never the statement: its text (or a parse error quoting it)
    // may carry values; the recording has it.
    this.log.info(
      'statement refused',
      rec
        ? {
            sub: this.auth.identity.sub,
            decision: rec.decision.kind,
            decision_id: rec.id,
            reasons: rec.decision.reasons,
          }
        : { sub: this.auth.identity.sub, code: fields.code },
    );
    const err = errorResponse(fields);
    this.openItem.replace.push({ at: this.openItem.sent ?? 0, err });
    if (mode === 'simple') {
      this.sendItem(queryMessage(MARKER_SQL));
    } else if (mode === 'sync') {
      this.writeMarkerParse();
      this.sendItem(SYNC);
    } else {
      // Flush: the error is due now; everything up to the next Sync is discarded, as
      // PostgreSQL does after an error in the extended protocol.
      this.writeMarkerParse();
      this.write(FLUSH);
      this.skipUntilSync = true;
    }
  }

  /**
   * A Parse that fails upstream. It names a statement no client can name: a failed Parse of
   * the unnamed statement would drop the client's.
   */
  private markerParse(): Buffer {
    return (this.marker ??= parseMessage(`refused ${randomUUID()}`, MARKER_SQL));
  }

  /** A Parse that fails upstream, in place of a refused group (one extended message). */
  private writeMarkerParse(): void {
    this.write(this.markerParse());
    this.openItem.sent = (this.openItem.sent ?? 0) + 1;
  }

  private write(b: Buffer): void {
    if (this.out) this.out.push(b);
    else this.sendUp(b);
  }

  private sendUp(b: Buffer): void {
    if (!this.upstream.write(b) && !this.clientPaused) {
      this.clientPaused = true;
      this.client.pause();
    }
  }

  private resumeClient(): void {
    if (this.clientPaused && !this.closed) {
      this.clientPaused = false;
      this.client.resume();
    }
  }

  private resumeUpstream(): void {
    if (this.upstreamPaused && !this.closed) {
      this.upstreamPaused = false;
      this.upstream.resume();
    }
  }

  // ---- upstream → client -------------------------------------------------------------

  /** Handle a watched backend message (see responses.ts). */
  onBackendMessage(type: number, body: Buffer): Buffer | null | undefined {
    if (this.guardsOut > 0 && this.guardAnswered(type)) return null;
    switch (type) {
      case B.ReadyForQuery:
        return this.onReadyForQuery(body);
      case B.ErrorResponse:
        return this.onError(body);
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        return this.onCompletion(type, body);
      case B.ParameterStatus:
        return this.onParameterStatus(body);
      case B.CopyInResponse:
      case B.CopyBothResponse:
        return this.onCopyIn();
      case B.CopyOutResponse:
        return this.onCopyOut(body);
      case B.CloseComplete:
        return this.onCloseComplete();
      case B.ParseComplete:
        // Watched for the guards'.
        return undefined;
      default:
        // Authentication or BackendKeyData after login: the upstream is not behaving.
        setImmediate(() => this.upstreamGone());
        return null;
    }
  }

  /**
   * A COPY TO STDOUT begins: in binary (the overall format, first byte) its last CopyData is
   * the trailer, told apart by its bytes (see ResponseScanner.copyOutBinary), and with
   * HEADER its first is the header line; neither is a row.
   */
  private onCopyOut(body: Buffer): undefined {
    const run = (this.items[0] ?? this.openItem).runs[0];
    if (body[0] === 1) this.scanner.copyOutBinary();
    this.scanner.countNotRows(run?.copyHeader ? 1 : 0);
    return undefined;
  }

  /**
   * Whether a message is the answer to a message of a settings guard: the client never sees
   * those. The first guard of the item being answered is settled by its last answer.
   */
  private guardAnswered(type: number): boolean {
    const item = this.items[0] ?? this.openItem;
    const g = item.guards?.[0];
    if (g === undefined) return false;
    if (!TERMINAL_ANSWERS.has(type)) return false;
    const at = this.scanner.terminals - this.termBase - 1;
    if (at < g || at >= g + GUARD_MESSAGES) return false;
    if (at === g + GUARD_MESSAGES - 1) this.guardsSettled(item, 1);
    return true;
  }

  /**
   * A guard failed, and PostgreSQL skips the rest of its group: what the client gets. Its
   * check failing means a setting changed; any other error (a cancel, a FATAL) is
   * PostgreSQL's, passed on as it came.
   */
  private guardFailed(body: Buffer, code: string | undefined): Buffer {
    if (code !== undefined && GUARD_FAILED_CODES.has(code)) {
      this.log.warn(
        'a pipelined statement changed a parser setting: the rest of its group refused',
      );
      this.countDecision('deny');
      return errorResponse(settingsChangedError());
    }
    return new MessageWriter(B.ErrorResponse).bytes(body).end();
  }

  /** The first `n` guards of `item` were answered, or skipped after an error. */
  private guardsSettled(item: Item, n: number): void {
    item.guards!.splice(0, n);
    this.guardsOut -= n;
    if (this.guardsOut === 0) this.scanner.watchGuards(false);
  }

  /** The unit at the head of the queue is answered whole. */
  private onReadyForQuery(body: Buffer): null | undefined {
    const st = String.fromCharCode(body[0]) as TxStatus;
    const was = this.status;
    this.status = st;
    this.facts.in_transaction = st !== 'I';
    if (st === 'I' && this.schemaTouched) {
      // Committed (or rolled back): the gateway's catalog of the target is read again.
      this.schemaTouched = false;
      this.ctx.schemaChanged(this.target.name);
    }
    this.copyIn = false;
    this.termBase = this.scanner.terminals;
    const done = this.items.shift();
    // Reading stopped at the bound on units in flight: it goes on.
    if (this.items.length === MAX_ITEMS_IN_FLIGHT - 1) this.readSoon();
    let aborting = false;
    if (done) {
      this.countInFlight(done, -1);
      this.copyStartsSettled(done);
      // Guards behind an error were skipped.
      if (done.guards?.length) this.guardsSettled(done, done.guards.length);
      clearTimeout(done.timer);
      if (done.changes) settleChanges(done);
      // Protocol portals end with their transaction.
      // It committed unless it failed: an error in it, or a COMMIT of a failed block.
      if (st === 'I') this.names.transactionEnded(done.errAt === undefined && was !== 'E');
      this.ctx.metrics.statementSeconds.observe((performance.now() - done.started) / 1000);
      // Statements that produced no completion (skipped after an earlier error).
      this.audit.cancelled(done.runs);
      // A group pipelined behind it starts now (its time limit likewise: see below).
      const next = this.items[0] ?? this.openItem;
      if (next.runs.length > 0) startsNow(next);
      if (done.abortOpenTxn) {
        this.releaseRowHold();
        if (st === 'T') {
          // The client saw an error for a statement the upstream completed inside a
          // transaction: make the upstream transaction fail too (a marker that does not
          // parse), drop its error, and let its ReadyForQuery ('E') answer the client.
          this.status = 'E';
          aborting = true;
          const marker = newItem();
          marker.replace.push({ at: 0, err: null });
          marker.sent = 1;
          marker.bySync = true;
          this.items.unshift(marker);
          this.countInFlight(marker, 1);
          this.upstream.write(Buffer.concat([this.markerParse(), SYNC]));
        }
      }
    }
    this.armRows();
    // The next item runs now: its time limit starts.
    const next = this.items[0] ?? this.openItem;
    if (
      next.timeoutMs !== undefined &&
      next.timer === undefined &&
      (next !== this.openItem || next.runs.length > 0)
    )
      this.armTimeout(next);
    if (this.waitAnswers && this.items.length === 0) this.stopWaiting();
    if (aborting) return null;
    if (this.draining && this.idle()) setImmediate(() => this.fatal(ClientError.shuttingDown()));
    this.liftBarrier();
    return undefined;
  }

  /** An ErrorResponse: whose it is, and whether the client sees ours instead. */
  private onError(body: Buffer): Buffer | null | undefined {
    // The unit these answers belong to: the oldest one sent whole, else the open one.
    const item = this.items[0] ?? this.openItem;
    // PostgreSQL skips the rest of the open item: none of its runs will complete.
    if (item === this.openItem) this.runsDone();
    this.copyIn = false;
    // …nor will a COPY FROM STDIN after the error start.
    this.copyStartsSettled(item);
    if (this.syncsInCopy > 0) {
      // The COPY failed with a Sync sent inside its data (see syncsInCopy): nothing after
      // this error reaches the client, whose answers it may be.
      this.scanner.halt();
      setImmediate(() =>
        this.fatal(ClientError.protocolViolation(SYNC_IN_FAILED_COPY), 'protocol_error'),
      );
      return undefined;
    }
    // FATAL or PANIC: the upstream ends the session and has said why.
    const fields = parseErrorFields(body);
    if (fields.V === 'FATAL' || fields.V === 'PANIC') this.upstreamFatal = true;
    // PostgreSQL skips the rest of an extended group after its first error.
    const at = this.scanner.terminals - this.termBase;
    item.errAt ??= at;
    if (item === this.openItem && !this.syncWaiting) {
      // Extended messages sent without a Sync failed: PostgreSQL skips everything up to
      // the next Sync, so the session drops what it holds and skips to Sync too (a
      // held Query among it). Not when the client's Sync is read already and waits,
      // with its group, for the recording.
      this.skipUntilSync = true;
      this.dropBatch();
      if (this.probing) {
        this.probing = false;
        this.readSoon();
      }
    }
    // The gateway's own error in place of PostgreSQL's (a refusal's marker, a name it does
    // not have, a settings guard's): it ends the implicit transaction all the same.
    const g = item.guards?.[0];
    let replaced: Buffer | null | undefined;
    if (g !== undefined && at >= g && at < g + GUARD_MESSAGES) {
      replaced = this.guardFailed(body, fields.C);
      this.guardsSettled(item, item.guards!.length);
    } else if (item.replace.length && item.replace[0].at === at)
      replaced = item.replace.shift()!.err;
    if (replaced === undefined) {
      const run = item.runs.shift();
      this.spendRows(run);
      this.armRows();
      this.audit.failed(run, fields.C ?? '');
    }
    // Outside a transaction block, the item's statements since its last COMMIT or
    // ROLLBACK ran in one implicit transaction: an error in it (or at its commit, after the
    // last statement completed) undoes those that completed. In a block nothing is undone
    // yet (the client's ROLLBACK does that).
    if (item.okSeqs && !(item.inBlock ?? this.status !== 'I')) {
      // The SQLSTATE the client was given (none for a marker whose error is dropped).
      const code =
        replaced === undefined ? fields.C : replaced && parseErrorFields(replaced.subarray(5)).C;
      this.audit.rolledBack(item.okSeqs, code || '');
      item.okSeqs = undefined;
    }
    return replaced;
  }

  /** A statement's results ended: its row limit and its outcome. */
  private onCompletion(type: number, body: Buffer): Buffer | null | undefined {
    this.syncsInCopy = 0;
    const item = this.items[0] ?? this.openItem;
    const run = item.runs.shift();
    if (run) run.ok = true;
    // PostgreSQL runs a group's statements one after another: the next one starts now.
    if (item.runs.length > 0) startsNow(item);
    const over = this.scanner.rowsOver;
    // A suspended portal has no command tag: its rows are known when they were counted
    // (under a limit), else not at all.
    const suspendedRows =
      type === B.PortalSuspended && run && runLimit(run.maxRows, run.budget) !== undefined
        ? this.scanner.rowsPassed
        : null;
    this.spendRows(run);
    this.armRows();
    if (over && run) {
      const tag =
        type === B.CommandComplete ? body.toString('utf8', 0, Math.max(0, body.length - 1)) : '';
      return this.rowLimitHit(item, run, statedLimit(run.maxRows, run.budget), tag);
    }
    // Not after a cut: a cut in the open item closes the session, and a held COMMIT must
    // not go first.
    if (item === this.openItem && item.runs.length === 0) this.runsDone();
    if (run && this.audit.port) {
      this.audit.completed(
        run,
        type === B.CommandComplete ? body.toString('utf8', 0, Math.max(0, body.length - 1)) : '',
        suspendedRows,
      );
      if (run.seq >= 0) (item.okSeqs ??= []).push(run.seq);
    }
    if (
      run?.txn === 'end_chain' &&
      type === B.CommandComplete &&
      body.toString('latin1', 0, 9) === 'ROLLBACK\0'
    )
      run.rolledBack = true;
    if (run?.txn) {
      // A BEGIN takes what ran before it into its block; a COMMIT or ROLLBACK ends what a
      // later error could undo, and so may a procedure outside a block (it may COMMIT).
      const inBlock = item.inBlock ?? this.status !== 'I';
      if (run.txn === 'begin') item.inBlock = true;
      else if (run.txn === 'opaque') {
        if (!inBlock) item.okSeqs = undefined;
      } else {
        item.okSeqs = undefined;
        item.inBlock = run.txn === 'end_chain';
      }
    }
    return undefined;
  }

  /**
   * Settings the parser, the names and the policy depend on (the parser's settings, the
   * identity, the search_path) must keep the values they were decided under.
   */
  private onParameterStatus(body: Buffer): null | undefined {
    const p = parseParameterStatus(body);
    // Decisions assume these; a session where they change is closed (fail closed).
    if (
      !safeParameterStatus(p.name, p.value) ||
      this.escalated(p.name, p.value) ||
      this.leftPinnedPath(p.name, p.value)
    ) {
      // Nothing PostgreSQL ran after the change reaches the client.
      this.scanner.halt();
      setImmediate(() =>
        this.fatal(
          ClientError.unsafeSetting(`the session setting ${p.name} changed to an unsafe value`),
        ),
      );
      return null;
    }
    return undefined;
  }

  /**
   * The upstream session became a superuser, or another user, that the gateway's credential
   * did not log in as (SET ROLE to a superuser role, or an upstream that lies): the policy
   * decided this session for the identity it logged in with.
   */
  private escalated(name: string, value: string): boolean {
    if (this.loginIdentity.superuser) return false;
    if (name === 'is_superuser') return value === 'on';
    if (name === 'session_authorization') return value !== this.loginIdentity.authorization;
    return false;
  }

  /**
   * The search_path moved off the one pinned at login: a function the policy allowed called
   * set_config('search_path', …), and later statements' unqualified names would read other
   * schemas' tables than the ones decided. PostgreSQL (18 on) reports the value a Query or
   * Sync leaves, formatted as it reported the pinned one at login, so a report that differs
   * from the login one is a change (a SET of the pinned value, a SET LOCAL, a function's own
   * `SET search_path` clause leave none). Before 18 there is no login report and no later one:
   * such a change goes unseen, as it always did.
   */
  private leftPinnedPath(name: string, value: string): boolean {
    if (name !== 'search_path' || this.loginSearchPath === undefined) return false;
    // An empty path (pg_dump and pg_restore set one with set_config) resolves a name only
    // where the pinned one resolves it the same (pg_temp and pg_catalog, searched anyway);
    // PostgreSQL reports it as sent, '' from set_config and "" from SET.
    return value !== this.loginSearchPath && value !== '' && value !== '""';
  }

  /** A COPY FROM STDIN starts reading. */
  private onCopyIn(): undefined {
    const item = this.items[0] ?? this.openItem;
    if (item.startsDue) this.copyStartsSettled(item, 1);
    this.copyIn = true;
    // COPY data is read through a barrier (the statement itself is running), and reading
    // waited for this start.
    this.readSoon();
    if (this.waitAnswers) this.copyStartedWhileWaiting();
    // The server ignored the Sync that ended this COPY's batch (libpq sends Execute and
    // Sync before the data): its ReadyForQuery follows the client's next Sync, after
    // CopyDone. Fold the item into the next one (the open one, as nothing behind the COPY
    // was read) so the queue stays in step.
    const head = this.items[0];
    if (head?.bySync) {
      this.items.shift();
      this.countInFlight(head, -1);
      const next = this.items[0] ?? this.openItem;
      // The COPY goes on running in the open item: its time limit goes with it.
      if (next === this.openItem && next.timer === undefined) {
        next.timer = head.timer;
        next.deadline = head.deadline;
      } else clearTimeout(head.timer);
      const inFlight = next !== this.openItem;
      if (inFlight) this.countInFlight(next, -1);
      const shift = foldInto(head, next);
      if (inFlight) this.countInFlight(next, 1);
      if (next === this.openItem && this.probing) this.probeAt += shift;
      if (next === this.openItem) {
        // For PostgreSQL the group goes on to the client's next Sync: a Query before it
        // is skipped if the COPY fails, so it must be probed as after any unsynced group.
        this.unsynced = true;
        // Statement text after the COPY runs behind what ran before it in the group.
        this.settingsInDoubt = true;
        // A barrier for its answer would hold the Sync that brings it: the next one raises it.
        if (this.barrier) {
          this.barrier = false;
          this.barrierAtSync = true;
        }
        // Its name changes are seen by the open item's groups, as within one item.
        for (const c of head.changes ?? []) c.resume();
        // A message held for the answers may have waited for `head`, whose answer now
        // comes with the open item's, after a Sync not read yet: decide it again.
        if (this.waitAnswers) this.stopWaiting();
      }
      if (head.timeoutMs !== undefined && next !== this.openItem) this.armTimeout(next);
    }
    return undefined;
  }

  /**
   * A COPY FROM STDIN started while a later message waits for the answers (this COPY's
   * among them): PostgreSQL reads that message as part of the copy. COPY data, Sync and
   * Flush are read on; anything else is a protocol violation there (an ERROR, then a
   * FATAL), and ends the session here the same way: it would wait for an answer that
   * waits for the data.
   */
  private copyStartedWhileWaiting(): void {
    // The first message PostgreSQL would read: an extended message held in the group, else
    // the held one.
    const t = this.batch.length
      ? this.batch[0].frame.type
      : (this.deferred?.type ?? this.reader.peekType());
    if (t !== undefined && !COPY_IN_TYPES.has(t)) {
      // A message sent upstream after the COPY statement may already be that violation
      // there: PostgreSQL's own ERROR and FATAL then end the COPY and the session. If it
      // keeps reading data instead, nothing else will.
      setTimeout(() => {
        if (this.copyIn && this.waitAnswers) this.copyViolation(t);
      }, COPY_VIOLATION_GRACE_MS).unref();
      return;
    }
    this.stopWaiting();
  }

  /** A message other than COPY data during COPY FROM STDIN: as PostgreSQL, ERROR then FATAL. */
  private copyViolation(type: number): void {
    if (this.closed) return;
    this.ctx.metrics.protocolErrors.inc();
    if (!this.scanner.midMessage) this.client.write(toWire(ClientError.unexpectedDuringCopy(type)));
    this.fatal(ClientError.protocolSyncLost(), 'protocol_error');
  }

  /** The probe's answer, or a client Close's. */
  private onCloseComplete(): null | undefined {
    const item = this.items[0] ?? this.openItem;
    if (
      this.probing &&
      item === this.openItem &&
      this.scanner.terminals - this.termBase - 1 === this.probeAt
    ) {
      // The probe: the extended messages before the held Query succeeded.
      this.probing = false;
      this.unsynced = false;
      this.readSoon();
      return null;
    }
    return undefined;
  }

  /** Everything sent has its answer: read the client's messages again. */
  private liftBarrier(): void {
    if (this.barrier && this.items.length === 0) this.readSoon(true);
  }

  /** Read the client's messages again, after anything already scheduled (a fatal). */
  private readSoon(liftBarrier = false): void {
    setImmediate(() => {
      if (liftBarrier) this.barrier = false;
      if (this.closed) return;
      if (!this.clientPaused) this.client.resume();
      this.pump();
    });
  }

  emitToClient(chunks: Buffer[]): void {
    if (this.closed || this.terminated) return;
    const c = this.client;
    if (chunks.length > 1) c.cork();
    let ok = true;
    for (const b of chunks) ok = c.write(b);
    if (chunks.length > 1) c.uncork();
    if (!ok && !this.upstreamPaused) {
      this.upstreamPaused = true;
      this.upstream.pause();
    }
    if (c.writableLength > this.ctx.settings().limits.maxClientBacklogBytes) {
      this.log.warn('client is not reading; session cut');
      this.close();
    }
  }

  // ---- row limits ---------------------------------------------------------------------

  /** Count the rows of the statement whose results come next against its limit. */
  private armRows(): void {
    const run = (this.items[0] ?? this.openItem).runs[0];
    this.scanner.limitRows(run ? runLimit(run.maxRows, run.budget) : undefined);
  }

  /** The run whose results just ended returned its rows: take them from its budget. */
  private spendRows(run: StatementRun | undefined): void {
    if (run?.budget) run.budget.left -= this.scanner.rowsPassed;
  }

  /**
   * A statement returned more rows than its limit: the rows past it were dropped, its
   * completion becomes an error. Alone in its batch, the session stays consistent (an open
   * transaction is aborted upstream at the ReadyForQuery); with more statements of the
   * batch already sent the client's view cannot be kept, so the session is closed. So is it
   * when the statement's completion committed a change (see StatementRun.commitsChanges).
   */
  private rowLimitHit(item: Item, run: StatementRun, limit: number, tag: string): Buffer | null {
    this.ctx.metrics.statements.inc({ decision: 'row_limit' });
    this.log.warn('result cut at the policy row limit', { max_rows: limit });
    if (run.commitsChanges) {
      // Outside a block PostgreSQL commits the implicit transaction as its statement
      // completes (or at the Sync): the changes stand, and an ordinary error would tell the
      // client (and the record) they did not. The session ends, the record says it ran.
      this.audit.rowLimitCommitted(run, tag);
      return this.endWith(ClientError.rowLimitCommitted(limit, tag));
    }
    this.audit.rowLimit(run, limit);
    // Also when the client's next messages are upstream already (a part of the open item,
    // sent at a Flush, a probe or for COPY data): the abort marker would land behind them.
    if (
      item.runs.length > 0 ||
      this.items.length > 1 ||
      item === this.openItem ||
      (this.openItem.sent ?? 0) > 0
    ) {
      return this.endWith(ClientError.rowLimitInBatch(limit));
    }
    item.abortOpenTxn = true;
    // Nothing more from the client until the transaction states agree again.
    this.rowHold = true;
    return toWire(ClientError.rowLimit(limit));
  }

  /**
   * `f` is the last message the client gets in place of the upstream's current one; the
   * session then closes, recorded as ended by the gateway (an error), not by the client.
   */
  private endWith(f: ErrorFields): Buffer {
    if (this.endReason === 'client_disconnect') this.endReason = 'error';
    this.scanner.halt();
    setImmediate(() => this.close());
    return toWire(f);
  }

  private releaseRowHold(): void {
    if (!this.rowHold) return;
    this.rowHold = false;
    setImmediate(() => this.pump());
  }

  // ---- endings -----------------------------------------------------------------------

  private countDecision(kind: string, n = 1): void {
    if (n > 0) this.ctx.metrics.statements.inc(DECISION_LABELS[kind] ?? { decision: kind }, n);
  }

  /**
   * Send a fatal error to the client and close both sides. `reason` is what the recording's
   * session_end says, unless an earlier cause (a shutdown, a revoked key, the upstream lost,
   * the client's Terminate) already set one: the client did not just disconnect.
   */
  fatal(f: ErrorFields, reason = 'error'): void {
    if (this.closed) return;
    if (this.endReason === 'client_disconnect') this.endReason = reason;
    // In the middle of a relayed message an error would be read as the rest of it: the
    // connection just ends. A client that sent Terminate has gone.
    if (this.terminated) this.client.destroy();
    else if (this.scanner.midMessage) this.client.end();
    else this.client.end(toWire(f));
    this.close();
  }

  private upstreamGone(): void {
    if (this.closed) return;
    this.endReason = 'upstream_lost';
    // The client already has the upstream's own FATAL error.
    if (this.upstreamFatal) this.close();
    else this.fatal(ClientError.upstreamLost());
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      if (!this.upstream.destroyed) this.upstream.end(TERMINATE);
      setTimeout(() => {
        this.upstream.destroy();
        this.client.destroy();
      }, 1000).unref();
      if (!this.client.writableEnded) this.client.end();
    }
    this.finish();
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.dropBatch();
    this.ctx.heldInput.release(this.readerHeld);
    this.readerHeld = 0;
    clearTimeout(this.messageTimer);
    clearTimeout(this.heldTimer);
    this.expiryTimer?.clear();
    for (const it of this.items) clearTimeout(it.timer);
    clearTimeout(this.openItem.timer);
    this.ctx.cancels.release(this.cancelPid);
    this.ctx.releaseUpstream(this.target.name);
    if (this.schemaTouched) this.ctx.schemaChanged(this.target.name);
    this.ctx.metrics.connections.add(-1);
    this.ctx.metrics.upstreamConnections.add(-1);
    this.ctx.sessions.delete(this);
    // Every recorded statement gets an outcome before session_end closes the chain.
    for (const it of this.items) this.audit.unanswered(it.runs);
    this.audit.unanswered(this.openItem.runs);
    // Statements answered in a group no Sync ended (sent at a Flush) ran in a transaction
    // nothing committed: PostgreSQL undoes them as the session ends.
    if (this.openItem.okSeqs?.length) this.audit.rolledBack(this.openItem.okSeqs, '');
    if (this.writeAhead) void this.writeAhead.finally(() => this.audit.end(this.endReason));
    else this.audit.end(this.endReason);
  }
}

const SYNC_IN_FAILED_COPY =
  'a COPY FROM STDIN failed with a Sync sent inside its data: the server may have read that Sync as the end of a unit of work';

/** Constant label objects, so metrics render each series key once. */
const DECISION_LABELS: Record<string, { decision: string }> = {
  allow: { decision: 'allow' },
  deny: { decision: 'deny' },
  approval: { decision: 'approval' },
};
