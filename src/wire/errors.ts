// The catalogue of errors the gateway sends to clients: named constructors with SQLSTATEs.
// Internal messages and secrets never pass through here.
import { errorResponse, type ErrorFields } from './backend.js';

const e = (code: string, message: string, extra?: Partial<ErrorFields>): ErrorFields => ({
  severity: 'ERROR',
  code,
  message,
  ...extra,
});
const fatal = (code: string, message: string, extra?: Partial<ErrorFields>): ErrorFields => ({
  severity: 'FATAL',
  code,
  message,
  ...extra,
});

export const ClientError = {
  /** 28P01: the same text whatever failed (unknown key, bad signature, expired). */
  authFailed: (user: string) => fatal('28P01', `password authentication failed for user "${user}"`),
  authTimeout: () => fatal('08006', 'authentication timed out'),
  /** API-key logins refused without a check while a lockout lasts (see auth/limiter.ts). */
  loginLocked: (why: string, retryAfterMs: number) =>
    fatal(
      '28P01',
      `too many API-key logins (${why}); try again in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s (a JWT is still accepted)`,
    ),
  tokenExpired: () => fatal('28000', 'the session token has expired; reconnect with a fresh token'),
  credentialRevoked: (reason: string) =>
    fatal('28000', `the session's credential was revoked: ${reason}`),
  tlsRequired: () => fatal('28000', 'TLS is required for connections from this address'),
  connectRefused: (reason: string) => fatal('28000', reason),
  startupParamRefused: (name: string) =>
    fatal('42501', `startup parameter "${name}" is not allowed through the gateway`),
  /** The upstream refused a setting the client chose (invalid value, or not permitted). */
  startupSettingRefused: (name: string, sqlstate: string) =>
    fatal(sqlstate, `the database refused the value of startup parameter "${name}"`),
  noDatabase: () => fatal('3D000', 'a database name is required'),
  unknownDatabase: (db: string) => fatal('3D000', `database "${db}" is not served by this gateway`),
  tooManyConnections: () => fatal('53300', 'sorry, too many clients already'),
  upstreamUnavailable: () => fatal('08006', 'the upstream database is unavailable'),
  upstreamLost: () => fatal('08006', 'lost the connection to the upstream database'),
  protocolViolation: (msg: string) => fatal('08P01', msg),
  /** PostgreSQL's FATAL after an error that leaves it unable to tell where messages start. */
  protocolSyncLost: () =>
    fatal('08P01', 'terminating connection because protocol synchronization was lost'),
  /** A message other than COPY data read during COPY FROM STDIN (an ERROR, then the above). */
  unexpectedDuringCopy: (type: number) =>
    e(
      '08P01',
      `unexpected message type 0x${type.toString(16).padStart(2, '0')} during COPY from stdin`,
    ),
  unsupportedProtocol: (msg: string) => fatal('0A000', msg),
  shuttingDown: () => fatal('57P01', 'terminating connection because the gateway is shutting down'),
  unsafeSetting: (msg: string) => fatal('42501', msg),
  /** A statement went on after the cancel its time limit sent (it caught it, or is stuck). */
  timeLimitIgnored: () =>
    fatal(
      '57014',
      'terminating connection: the statement ran past its time limit (timeout_ms) and went on after it was cancelled',
    ),

  syntax: (msg: string) => e('42601', msg),
  tooLarge: (msg: string, hint?: string) => e('54000', msg, { hint }),
  /** 53200: the gateway holds as much undecided client input as it may, all sessions together. */
  outOfMemory: () =>
    e(
      '53200',
      'the gateway holds as much undecided input as it may, all sessions together: try again shortly, or send smaller groups',
    ),
  /** The same, for a message half received: the session cannot go on. */
  outOfMemoryFatal: () =>
    fatal(
      '53200',
      'the gateway holds as much undecided input as it may, all sessions together: reconnect shortly, or send smaller messages',
    ),
  /** A statement the analysis refused: too large (54000), too complex (54001), or syntax. */
  unanalysed: (error: { code: string; message: string }) =>
    error.code === '54000' || error.code === '54001'
      ? e(error.code, error.message)
      : ClientError.syntax(error.message),
  denied: (message: string, detail?: string, hint?: string) =>
    e('42501', message, { detail, hint }),
  unknownStatement: (name: string) =>
    e(
      '26000',
      name === ''
        ? 'unnamed prepared statement does not exist'
        : `prepared statement "${name}" does not exist`,
    ),
  unknownCursor: (name: string) =>
    e('34000', `cursor "${name}" does not exist`, {
      detail: 'the gateway reads only portals bound through it and SQL cursors declared through it',
    }),
  unknownPortal: (name: string) =>
    e('34000', `portal "${name}" does not exist`, {
      detail: 'the gateway runs only portals bound through it and SQL cursors declared through it',
    }),
  functionCallRefused: () =>
    e('42501', 'the fast-path function call interface is not allowed through the gateway', {
      hint: 'call the function from a SQL statement instead',
    }),
  recordingUnavailable: () =>
    e('58030', 'the statement was refused because the audit record could not be written'),
  internal: () => e('XX000', 'internal gateway error'),
  /** 54000: the result passed the policy's limits.max_rows; the rows past it were dropped. */
  rowLimit: (limit: number) =>
    e(
      '54000',
      `the result has more than ${limit} rows, the limit the policy sets for this statement`,
      {
        detail: `limits.max_rows is ${limit}; rows past it were not returned`,
        hint: 'narrow the query (WHERE, LIMIT) or fetch it in smaller pieces',
      },
    ),
  rowLimitInBatch: (limit: number) =>
    fatal(
      '54000',
      `a result passed the policy's row limit (${limit}) with more statements of the same batch already running; the session is closed`,
    ),
  /**
   * 54000, FATAL: the result passed the row limit of a statement whose implicit transaction
   * PostgreSQL committed with it; an ordinary error would read as rolled back.
   */
  rowLimitCommitted: (limit: number, tag: string) =>
    fatal(
      '54000',
      `a result passed the policy's row limit (${limit}), but the statement completed${tag ? ` (${tag})` : ''} and its changes, with those of the statements before it in the same implicit transaction, were committed; the session is closed`,
    ),
};

export function toWire(f: ErrorFields): Buffer {
  return errorResponse(f);
}
