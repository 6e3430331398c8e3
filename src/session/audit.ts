// What a session reports to its recording: the statement events written ahead of
// forwarding, each statement's outcome as it is answered, refusals, and the session's
// totals at its end. Without a recording only the totals are kept.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FACTS_KEY, redactExtra, redactLiterals } from '../sql/index.js';
import type { StatementFacts } from '../sql/types.js';
import type { DecisionRecord, PolicyEngine, Redaction, SessionFacts } from '../policy/types.js';
import type { StatementEventInput, StatementRuns } from '../record/types.js';
import type { SessionRecordingPort } from './context.js';
import { emptyFacts, type DecidedRun } from './batch.js';
import type { StatementRun } from './items.js';
import type { RunsOf } from './statements.js';

/** Most characters of a refused statement's text recorded whole (see refusedText). */
const REFUSED_TEXT_CHARS = 8192;

/**
 * A refused statement's text as recorded: nothing of it ran, so past 8 KiB its start
 * stands for it, with its length and SHA-256 (a flood of large refused statements would
 * fill the spool, and a full spool refuses every agent).
 */
export function refusedText(text: string): string {
  if (text.length <= REFUSED_TEXT_CHARS) return text;
  const bytes = Buffer.byteLength(text);
  const sha = createHash('sha256').update(text).digest('hex');
  return `${text.slice(0, REFUSED_TEXT_CHARS)}\n[refused text cut: ${bytes} bytes in all, sha256 ${sha}]`;
}

export class SessionAudit {
  /** Statements forwarded. */
  allowed = 0;
  /** Statements refused (policy, parse error, unknown name, recording unavailable). */
  refused = 0;
  /** Statements that failed upstream, or were cut at a row limit. */
  errors = 0;
  /** Rows returned or affected, from command tags (counted only when recording). */
  rows = 0;
  private readonly startedAt = Date.now();

  constructor(
    /** Set when the session starts, if recording is on. */
    public port: SessionRecordingPort | undefined,
    private readonly session: SessionFacts,
    private readonly policy: () => Pick<PolicyEngine, 'version' | 'mayRedact'>,
    private readonly onLost: (what: string) => void,
  ) {}

  /** The statement events of a decided group, to be written before it is forwarded. */
  events(runs: readonly DecidedRun[]): StatementEventInput[] {
    return runs.map((r, i) => {
      const ev = this.event(
        r.facts,
        r.rec,
        r.protocol,
        r.params?.value ?? null,
        i,
        runs.length,
        r.inTransaction,
        r.params?.formats,
      );
      if (r.runs) ev.runs = runsEvent(r.runs, r.rec.decision.redact);
      return ev;
    });
  }

  /**
   * Something refused before it could be read as a statement (a FunctionCall, text that is
   * not UTF-8): recorded as a refused statement of class unknown, with the reason.
   */
  unread(text: string, reason: string): void {
    this.refusal(undefined, text, undefined, 'simple', this.undecided([reason]));
  }

  /**
   * The record of a refusal the policy never decided (no facts to decide on): where the
   * policy redacts anything, such a statement's literals and parameters are left out too
   * (it never ran; what it held may be what the policy keeps out), and the quoted tokens of
   * its reasons (a parse error quotes the token it failed at).
   */
  private undecided(reasons: string[]): DecisionRecord {
    const { mayRedact, version } = this.policy();
    const shown = mayRedact ? (r: string) => cutMessage(scrubQuoted(r)) : cutMessage;
    return {
      decision: {
        kind: 'deny',
        reasons: reasons.map(shown),
        ...(mayRedact ? { redact: ['literals' as const, 'params' as const] } : {}),
      },
      id: '',
      policyVersion: version,
      by: 'gateway',
    };
  }

  /** A refused statement: its event and a `refused` outcome (never awaited). */
  refusal(
    facts: StatementFacts | undefined,
    text: string,
    parseError: string | undefined,
    protocol: 'simple' | 'extended',
    rec?: DecisionRecord,
    params: (string | null)[] | null = null,
    /** Where it stood in its query string, and the transaction state it was decided in. */
    at: { index: number; count: number; inTransaction?: boolean } = { index: 0, count: 1 },
  ): void {
    const r = this.port;
    if (!r) return;
    const f = facts ?? {
      ...emptyFacts(),
      text,
      class: 'unknown' as const,
      parse_error: parseError === undefined ? undefined : cutMessage(parseError),
    };
    const d = rec ?? this.undecided([parseError ? `parse error: ${parseError}` : 'refused']);
    // Redacting, a long text is cut before it is scanned (bounded work), and its hash is left
    // out (a short secret's could be guessed); otherwise it is cut after, with its hash.
    const cut = d.decision.redact?.includes('literals') && text.length > REFUSED_TEXT_CHARS;
    const shown = cut ? text.slice(0, REFUSED_TEXT_CHARS) : text;
    const ev = this.event(
      f.text === shown ? f : { ...f, text: shown },
      d,
      protocol,
      params,
      at.index,
      at.count,
      at.inTransaction,
    );
    ev.sql = cut
      ? `${ev.sql}\n[refused text cut: ${Buffer.byteLength(text)} bytes in all]`
      : refusedText(ev.sql);
    r.refused(ev, {
      outcome: 'refused',
      duration_ms: 0,
    });
  }

  /** Statements that produced no completion (skipped after an earlier error). */
  cancelled(runs: readonly StatementRun[]): void {
    if (this.port)
      for (const r of runs) this.port.result(r.seq, { outcome: 'cancelled', duration_ms: 0 });
  }

  /**
   * A group of `n` statements counted as allowed whose records could not be written: it is
   * refused whole (the refusal counts once), so they count as refused.
   */
  unwritten(n: number): void {
    this.allowed -= n;
    this.refused += n - 1;
  }

  /** Recorded statements the client left before they were forwarded: not run. */
  notForwarded(seqs: readonly number[]): void {
    if (this.port)
      for (const seq of seqs) this.port.result(seq, { outcome: 'cancelled', duration_ms: 0 });
  }

  /**
   * Binds forwarded with no Execute to run them, of statements that may run code when bound
   * (a domain's CHECK on a parameter, a function folded as the statement is planned): what
   * they ran is not answered on its own, so their outcome is unknown.
   */
  boundOnly(seqs: readonly number[]): void {
    if (this.port)
      for (const seq of seqs) this.port.result(seq, { outcome: 'unknown', duration_ms: 0 });
  }

  /** Forwarded statements whose answer never came (the session ended first). */
  unanswered(runs: readonly StatementRun[]): void {
    if (!this.port) return;
    const now = performance.now();
    for (const r of runs)
      if (r.seq >= 0) this.port.result(r.seq, { outcome: 'unknown', duration_ms: now - r.started });
  }

  /** A statement's ErrorResponse, with its SQLSTATE. */
  failed(run: StatementRun | undefined, sqlstate: string): void {
    this.errors++;
    if (!run || !this.port) return;
    this.port.result(run.seq, {
      outcome: 'error',
      sqlstate,
      duration_ms: performance.now() - run.started,
    });
  }

  /**
   * A statement's completion; `tag` is the CommandComplete body ('' for the others).
   * `untagged`: the rows when there is no tag to read them from (a suspended portal's,
   * null when not counted).
   */
  completed(run: StatementRun | undefined, tag: string, untagged: number | null = 0): void {
    if (!run || !this.port) return;
    const m = /(\d+)$/.exec(tag);
    const rows = m ? Number(m[1]) : untagged;
    if (rows !== null) this.rows += rows;
    this.port.result(run.seq, {
      outcome: 'ok',
      command_tag: tag,
      rows,
      duration_ms: performance.now() - run.started,
    });
  }

  /**
   * Statements recorded as completed whose implicit transaction then failed (`sqlstate`):
   * PostgreSQL undid what they changed.
   */
  rolledBack(seqs: readonly number[], sqlstate: string): void {
    this.port
      ?.event('rolled_back', { statement_seqs: seqs, sqlstate })
      .catch(() => this.onLost('could not record a rollback'));
  }

  /** A statement whose result was cut at its row limit. */
  rowLimit(run: StatementRun, limit: number): void {
    this.errors++;
    if (this.port && run.seq >= 0)
      this.port.result(run.seq, {
        outcome: 'error',
        sqlstate: '54000',
        rows: limit,
        duration_ms: performance.now() - run.started,
      });
  }

  /**
   * A statement whose result was cut at its row limit, but which completed and was committed
   * with its implicit transaction: recorded `ok` with its command tag (what PostgreSQL did),
   * and sqlstate 54000 (what the client was told).
   */
  rowLimitCommitted(run: StatementRun, tag: string): void {
    this.errors++;
    if (!this.port || run.seq < 0) return;
    const m = /(\d+)$/.exec(tag);
    const rows = m ? Number(m[1]) : null;
    if (rows !== null) this.rows += rows;
    this.port.result(run.seq, {
      outcome: 'ok',
      command_tag: tag || null,
      rows,
      sqlstate: '54000',
      duration_ms: performance.now() - run.started,
    });
  }

  /** The session's end with its totals. */
  end(reason: string): void {
    this.port
      ?.end({
        statements: this.allowed + this.refused,
        allowed: this.allowed,
        denied: this.refused,
        held: 0,
        errors: this.errors,
        rows: this.rows,
        duration_ms: Date.now() - this.startedAt,
        reason,
      })
      .catch(() => this.onLost('could not record the session end'));
  }

  private event(
    f: StatementFacts,
    rec: DecisionRecord,
    protocol: 'simple' | 'extended',
    params: (string | null)[] | null,
    index: number,
    count: number,
    inTransaction = this.session.in_transaction,
    formats?: number[],
  ): StatementEventInput {
    const key = (f as unknown as Record<symbol, string | undefined>)[FACTS_KEY];
    const ev: StatementEventInput = {
      sql: f.text,
      fingerprint: f.fingerprint,
      command: f.command,
      class: f.class,
      relations: f.relations,
      columns: f.columns,
      functions: f.functions,
      has_where: f.has_where,
      opaque: f.opaque,
      parse_error: f.parse_error,
      extra: () => extraFacts(f),
      facts_key: key,
      protocol,
      params,
      index,
      count,
      in_transaction: inTransaction,
      ...(formats && Array.isArray(params) ? { param_formats: formats } : {}),
      decision: rec.decision,
      decision_id: rec.id,
      policy_version: rec.policyVersion,
    };
    if (rec.by === 'gateway') ev.decided_by = 'gateway';
    const redact = rec.decision.redact;
    if (redact) redactEvent(ev, f, redact);
    return ev;
  }
}

/**
 * The statement an EXECUTE, FETCH or MOVE runs, as recorded: redacted as the statement's
 * own decision asks, and as the decision of the statement it runs asks.
 */
function runsEvent(r: RunsOf, own: Redaction[] | undefined): StatementRuns {
  const redacts = (what: Redaction) => own?.includes(what) || r.redact?.includes(what);
  const out: StatementRuns = { sql: redacts('literals') ? redactLiterals(r.sql) : r.sql };
  if (r.name !== undefined) out.name = r.name;
  if (r.portal !== undefined) out.portal = r.portal;
  if (r.params) {
    if (redacts('params')) out.params = 'redacted';
    else {
      out.params = r.params.value;
      const formats = r.params.formats;
      if (formats) out.param_formats = formats;
    }
  }
  return out;
}

/** What the policy's `redact` set leaves out of a statement's event. */
function redactEvent(ev: StatementEventInput, f: StatementFacts, redact: Redaction[]): void {
  if (redact.includes('params') && ev.params !== null) {
    ev.params = 'redacted';
    delete ev.param_formats;
  }
  if (redact.includes('literals')) {
    ev.sql = redactLiterals(f.text, isSet(f));
    if (ev.parse_error !== undefined) ev.parse_error = scrubQuoted(ev.parse_error);
    ev.extra = () => redactExtra(extraFacts(f));
    // The recorder shares serialised facts by key: these differ from the plain ones.
    if (ev.facts_key !== undefined) ev.facts_key += '\0redacted';
  }
}

/**
 * A parse error without the text it quotes: PostgreSQL quotes the token it failed at raw
 * (up to the end of the input for an unterminated literal), so everything from the first
 * `"` goes: `syntax error at or near "'4111…'"` → `syntax error at or near "?"`.
 */
function scrubQuoted(message: string): string {
  const q = message.indexOf('"');
  return q === -1 ? message : message.slice(0, q) + '"?"';
}

/** Most characters of a parse error recorded (one quotes the rest of the input). */
const MAX_ERROR_CHARS = 1024;

/** A message cut to MAX_ERROR_CHARS. */
function cutMessage(message: string): string {
  return message.length <= MAX_ERROR_CHARS
    ? message
    : `${message.slice(0, MAX_ERROR_CHARS)}… [${message.length} characters in all]`;
}

/** Commands whose SET clause gives a setting a value (ALTER ROLE bob SET app.k = v). */
const SETS_VALUE =
  /^(ALTER (ROLE|USER|GROUP|DATABASE|SYSTEM|FUNCTION|PROCEDURE|ROUTINE)|CREATE (FUNCTION|PROCEDURE))\b/;

/** A SET, or an ALTER that may set a value (which may be a bare word). */
function isSet(f: StatementFacts): boolean {
  // Text never decided has no facts: any SET in it may be one.
  return f.set !== undefined || SETS_VALUE.test(f.command) || f.class === 'unknown';
}

/** Facts beyond the base fields every statement event names (copy, transaction, set...). */
function extraFacts(f: StatementFacts): Record<string, unknown> {
  const {
    text: _text,
    fingerprint: _fingerprint,
    command: _command,
    class: _class,
    relations: _relations,
    columns: _columns,
    functions: _functions,
    has_where: _hasWhere,
    opaque: _opaque,
    parse_error: _parseError,
    ...extra
  } = f;
  return extra;
}
