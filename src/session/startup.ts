// The startup phase of one client: SSL/GSS negotiation, cancel requests, protocol version,
// startup parameters and token authentication. Ends with an authenticated client or a close.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Identity } from '../policy/types.js';
import {
  AUTH_CLEARTEXT,
  ClientError,
  F,
  FrameError,
  FrameReader,
  SSL_NO,
  SSL_YES,
  negotiateProtocolVersion,
  parsePassword,
  parseStartupPacket,
  toWire,
} from '../wire/index.js';
import type { ErrorFields } from '../wire/backend.js';
import type { GatewayContext } from './context.js';
import { checkStartupParams, type StartupDecision } from './params.js';
import { isLoopback } from '../util/net.js';
import { addressKey } from '../auth/index.js';
import { log } from '../util/logger.js';

/** PostgreSQL's own cap on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP_PACKET = 10_000;
/** A token is the password: JWTs are long but bounded. */
const MAX_PASSWORD_MESSAGE = 16 * 1024;

export interface Authenticated {
  socket: Socket;
  tls: boolean;
  clientAddr: string;
  startup: StartupDecision;
  identity: Identity;
  expiresAt?: number;
  /** The API key logged in with (its id and config entry's fingerprint), if one was. */
  apiKey?: { id: string; fingerprint: string };
  /** The JWT logged in with, if one was (a reload verifies it again). */
  jwt?: string;
  /** The reload count it was verified under (see GatewayContext.authGeneration). */
  authGeneration: number;
  /** Bytes the client sent after its password (pipelined queries). */
  leftover: Buffer;
}

/** Send a fatal error and close. */
export function refuse(socket: Socket, f: ErrorFields): void {
  if (!socket.destroyed && socket.writable) socket.end(toWire(f));
  else socket.destroy();
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * Run the startup phase. Resolves with the authenticated client, or undefined when the
 * connection was closed (cancel request, refusal, bad input, timeout).
 */
export function runStartup(ctx: GatewayContext, raw: Socket): Promise<Authenticated | undefined> {
  const settings = ctx.settings();
  const clientAddr = raw.remoteAddress ?? '';
  return new Promise((resolve) => {
    let socket: Socket = raw;
    let tls = false;
    let sslAsked = false;
    let gssAsked = false;
    let done = false;
    let phase: 'startup' | 'password' = 'startup';
    let startup: StartupDecision | undefined;
    const reader = new FrameReader(MAX_STARTUP_PACKET, false);

    /** `closeAfter`: what must be done before a connection that ends here is closed. */
    const finish = (result: Authenticated | undefined, closeAfter?: Promise<void>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (!result)
        (closeAfter ?? Promise.resolve()).then(() => setImmediate(() => socket.destroy()));
      resolve(result);
    };
    const fail = (f: ErrorFields) => {
      if (done) return;
      refuse(socket, f);
      finish(undefined);
    };
    const timer = setTimeout(() => fail(ClientError.authTimeout()), settings.limits.authTimeoutMs);

    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
        // Like PostgreSQL, judge the password message by its type byte before waiting for a
        // body: a second StartupMessage here would otherwise be read as a message of ~11 KB
        // and hold the connection until the authentication timeout.
        const next = () => {
          const t = phase === 'password' ? reader.peekType() : undefined;
          if (t !== undefined && t !== F.Password)
            throw new FrameError('expected a password message', '08P01');
          return reader.next();
        };
        for (let f = next(); f && !done; f = done ? undefined : next()) {
          if (phase === 'startup') handleStartup(f.body);
          else handlePassword(f.type, f.body);
        }
      } catch (err) {
        if (err instanceof FrameError) {
          ctx.metrics.protocolErrors.inc();
          fail(
            err.code === '0A000'
              ? ClientError.unsupportedProtocol(err.message)
              : ClientError.protocolViolation(err.message),
          );
        } else fail(ClientError.internal());
      }
    };

    const handleStartup = (body: Buffer) => {
      const pkt = parseStartupPacket(body);
      switch (pkt.kind) {
        case 'ssl': {
          const secure = ctx.tls();
          // A second SSLRequest (inside TLS, or after an 'N') is a protocol violation.
          if (tls)
            return fail(ClientError.protocolViolation('SSLRequest inside an encrypted session'));
          if (sslAsked) return fail(ClientError.protocolViolation('SSLRequest sent twice'));
          sslAsked = true;
          // Bytes pipelined behind SSLRequest were sent before the answer was read: with TLS
          // they would be read as if encrypted (CVE-2021-23214); PostgreSQL refuses them
          // after an 'N' too.
          if (!secure) socket.write(SSL_NO);
          if (reader.pending > 0) {
            return fail(
              ClientError.protocolViolation('received unencrypted data after SSL request'),
            );
          }
          if (!secure) return;
          socket.removeListener('data', onData);
          socket.write(SSL_YES);
          const t = new TLSSocket(socket, {
            isServer: true,
            secureContext: secure,
            requestCert: settings.bindClientCertToUser,
            rejectUnauthorized: false,
          });
          t.on('error', () => finish(undefined));
          t.setNoDelay(true);
          socket = t;
          tls = true;
          t.on('data', onData);
          return;
        }
        case 'gssenc':
          if (tls)
            return fail(ClientError.protocolViolation('GSSENCRequest inside an encrypted session'));
          if (gssAsked) return fail(ClientError.protocolViolation('GSSENCRequest sent twice'));
          gssAsked = true;
          // As PostgreSQL: the answer, then no bytes may have come before it was read.
          socket.write(SSL_NO);
          if (reader.pending > 0) {
            return fail(
              ClientError.protocolViolation('received unencrypted data after GSSENC request'),
            );
          }
          return;
        case 'cancel':
          // As PostgreSQL: the cancel connection closes once the cancel is on its way, so a
          // client that waits for the close (libpq does) cannot send its next statement
          // before the cancel reaches the server, and have that cancelled instead.
          return finish(undefined, ctx.cancels.cancel(pkt.pid, pkt.secret));
        case 'startup': {
          if (settings.requireTlsForRemote && !tls && !isLoopback(clientAddr)) {
            return fail(ClientError.tlsRequired());
          }
          const verdict = checkStartupParams(pkt.params, settings.searchPath);
          if (!verdict.ok) {
            return fail(
              verdict.kind === 'database'
                ? ClientError.noDatabase()
                : ClientError.startupParamRefused(verdict.refused),
            );
          }
          if (settings.bindClientCertToUser && tls) {
            const t = socket as TLSSocket;
            const cert = t.getPeerCertificate?.();
            const presented = cert !== undefined && cert !== null && Object.keys(cert).length > 0;
            // A certificate the configured CA did not issue names nobody: its CN is whatever
            // its maker wrote.
            if (presented && !peerVerified(t)) {
              return fail(ClientError.connectRefused('the client certificate is not trusted'));
            }
            // One CN, equal to the user: a certificate with none, or several, names no one
            // user (PostgreSQL's verify-full refuses it too).
            const cn: unknown = presented ? cert.subject?.CN : undefined;
            if (presented && (typeof cn !== 'string' || cn !== verdict.user)) {
              return fail(
                ClientError.connectRefused('the client certificate does not match the user'),
              );
            }
          }
          startup = verdict;
          // Protocol 3.x with x > 0, or _pq_ options: tell the client what we speak (3.0).
          if (pkt.minor > 0 || verdict.unsupportedOptions.length > 0) {
            socket.write(negotiateProtocolVersion(0, verdict.unsupportedOptions));
          }
          phase = 'password';
          reader.maxLength = MAX_PASSWORD_MESSAGE;
          reader.typed = true;
          socket.write(AUTH_CLEARTEXT);
          return;
        }
      }
    };

    const handlePassword = (type: number, body: Buffer) => {
      if (type !== F.Password) {
        return fail(ClientError.protocolViolation('expected a password message'));
      }
      const password = parsePassword(body);
      const st = startup!;
      phase = 'startup'; // nothing more is read until authentication resolves
      socket.pause();
      const leftover = reader.drain();
      const authGeneration = ctx.authGeneration();
      ctx
        .authenticate(password, { user: st.user, clientAddr })
        .then((res) => {
          if (done) return;
          if (!res.ok) {
            ctx.metrics.authFailures.inc();
            // Attempts refused by a lockout are recorded once per address and 10 s, the
            // user name as PostgreSQL would keep it (63 bytes): a flood of them must not
            // fill the spool.
            const user = Buffer.from(st.user).subarray(0, 63).toString();
            const locked = 'code' in res && res.code === 'locked';
            if (!locked || firstLockedAttempt(clientAddr))
              ctx.auditGateway('auth_failure', {
                user,
                client_addr: clientAddr,
                reason: res.reason,
              });
            logFailure(clientAddr, user, res.reason);
            return fail(
              locked
                ? ClientError.loginLocked(res.reason, res.retryAfterMs ?? 1000)
                : ClientError.authFailed(st.user),
            );
          }
          finish({
            socket,
            tls,
            clientAddr,
            startup: st,
            identity: res.identity,
            expiresAt: res.expiresAt,
            apiKey: res.apiKey,
            jwt: res.identity.method === 'jwt' ? password : undefined,
            authGeneration,
            leftover,
          });
        })
        .catch(() => fail(ClientError.authFailed(st.user)));
    };

    socket.on('data', onData);
    socket.on('error', () => finish(undefined));
    // The client stopped sending (the listener allows half-open sockets for sessions).
    socket.on('end', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}

/**
 * Whether the client's certificate verified against the listener's CA. Node sets
 * `authorized` only on sockets a tls.Server made; this one was made after SSLRequest, so
 * the handshake's own verification result is read from its handle (as tls.Server does).
 * Where that is not available, the certificate counts as unverified (fail closed).
 */
function peerVerified(t: TLSSocket): boolean {
  if (t.authorized) return true;
  const h = (t as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  return typeof h?.verifyError === 'function' && h.verifyError() === null;
}

/** Per address: when a failed login was last logged, and how many were not since. */
const failureLogged = new Map<string, { at: number; skipped: number }>();

/**
 * Log a failed login (the reason never holds the password), at most once a second per
 * address, with the count of those left out: a flood must not flood the log.
 */
function logFailure(clientAddr: string, user: string, reason: string): void {
  const key = addressKey(clientAddr);
  const t = Date.now();
  const last = failureLogged.get(key);
  if (last && t - last.at < 1000) {
    last.skipped++;
    return;
  }
  if (failureLogged.size >= 10_000) failureLogged.clear();
  failureLogged.set(key, { at: t, skipped: 0 });
  log.warn('login failed', {
    user,
    client_addr: clientAddr,
    reason,
    ...(last?.skipped ? { not_logged_since: last.skipped } : {}),
  });
}

/** Addresses whose locked-out attempts were last recorded, and when. */
const lockedAudited = new Map<string, number>();

/** By the limiter's address key: an IPv6 client is one however many /128s it uses. */
function firstLockedAttempt(addr: string): boolean {
  const key = addressKey(addr);
  const t = Date.now();
  const last = lockedAudited.get(key);
  if (last !== undefined && t - last < 10_000) return false;
  if (lockedAudited.size >= 10_000) lockedAudited.clear();
  lockedAudited.set(key, t);
  return true;
}
