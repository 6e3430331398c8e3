// Opens an authenticated session on the real PostgreSQL with the gateway's own credential.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { connectDirect } from './direct-read.js';
import { createUpstreamAuth, encodeUpstreamAuthReply } from '../auth/upstream.js';
import {
  B,
  FrameReader,
  parseErrorFields,
  parseParameterStatus,
  startupMessage,
  type Frame,
  type TxStatus,
} from '../wire/index.js';

export interface UpstreamTarget {
  name: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  tls: 'disable' | 'require' | 'verify-full';
  ca?: string;
  connectTimeoutMs: number;
}

export interface UpstreamSession {
  socket: Socket;
  /** ParameterStatus frames as received, to pass on to the client. */
  parameterFrames: Buffer[];
  parameters: Map<string, string>;
  pid: number;
  secret: Buffer;
  status: TxStatus;
  /** Bytes received after the first ReadyForQuery (normally none). */
  leftover: Buffer;
}

export class UpstreamError extends Error {
  constructor(
    message: string,
    /** SQLSTATE from the server, when it sent one. */
    readonly sqlstate?: string,
  ) {
    super(message);
  }
}

const MAX_UPSTREAM_STARTUP_MESSAGE = 64 * 1024;

function openSocket(t: UpstreamTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // TLS reads through the socket's stream: only a plain connection reads directly.
    const sock =
      t.tls === 'disable' ? connectDirect(t) : netConnect({ host: t.host, port: t.port });
    sock.setNoDelay(true);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new UpstreamError('upstream connect timed out'));
    }, t.connectTimeoutMs);
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(new UpstreamError(`upstream connect failed: ${err.message}`));
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      if (t.tls === 'disable') return resolve(sock);
      // SSLRequest, then a one-byte answer.
      sock.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
      sock.once('data', (b) => {
        if (b[0] !== 0x53 || b.length !== 1) {
          sock.destroy();
          return reject(new UpstreamError('upstream refused TLS'));
        }
        const tls = tlsConnect({
          socket: sock,
          // SNI takes a name, not an address (Node warns); an address is still verified.
          ...(isIP(t.host) ? { host: t.host } : { servername: t.host }),
          rejectUnauthorized: t.tls === 'verify-full',
          ca: t.ca ? readFileSync(t.ca) : undefined,
        });
        tls.once('secureConnect', () => resolve(tls));
        tls.once('error', (err) =>
          reject(new UpstreamError(`upstream TLS failed: ${err.message}`)),
        );
      });
    });
  });
}

/**
 * Connect and log in. `settings` are sent as startup parameters (GUCs pinned by the gateway).
 * Resolves at the first ReadyForQuery, with the socket paused: what came after it in the
 * same read is `leftover`, and nothing more is read until the caller resumes it.
 */
export async function connectUpstream(
  t: UpstreamTarget,
  settings: Record<string, string>,
): Promise<UpstreamSession> {
  const socket = await openSocket(t);
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(MAX_UPSTREAM_STARTUP_MESSAGE);
    const auth = createUpstreamAuth({
      user: t.user,
      password: t.password,
      encrypted: t.tls !== 'disable',
    });
    const parameterFrames: Buffer[] = [];
    const parameters = new Map<string, string>();
    let pid = 0;
    let secret = Buffer.alloc(0);
    const timer = setTimeout(
      () => fail(new UpstreamError('upstream login timed out')),
      t.connectTimeoutMs,
    );
    let over = false;
    const fail = (err: Error) => {
      over = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.destroy();
      reject(err instanceof UpstreamError ? err : new UpstreamError(err.message));
    };
    const handle = (f: Frame): boolean => {
      switch (f.type) {
        case B.Authentication: {
          if (f.body.length < 4) throw new UpstreamError('malformed authentication request');
          const reply = auth.handle(f.body.readInt32BE(0), f.body.subarray(4));
          const bytes = encodeUpstreamAuthReply(reply);
          if (bytes) socket.write(bytes);
          return false;
        }
        case B.ParameterStatus:
          parameterFrames.push(f.raw);
          {
            const p = parseParameterStatus(f.body);
            parameters.set(p.name, p.value);
          }
          return false;
        case B.BackendKeyData:
          if (f.body.length < 8 || f.body.length > 260)
            throw new UpstreamError('malformed BackendKeyData');
          pid = f.body.readInt32BE(0);
          secret = Buffer.from(f.body.subarray(4));
          return false;
        case B.NoticeResponse:
        case B.NegotiateProtocolVersion:
          return false;
        case B.ErrorResponse: {
          const e = parseErrorFields(f.body);
          throw new UpstreamError(`upstream refused the login: ${e.M ?? 'unknown error'}`, e.C);
        }
        case B.ReadyForQuery:
          return true;
        default:
          throw new UpstreamError(
            `unexpected message ${String.fromCharCode(f.type)} during upstream login`,
          );
      }
    };
    /** A frame whose handling waits for work off the event loop (SCRAM key derivation). */
    let waiting = false;
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      drain();
    };
    const drain = (): void => {
      if (waiting) return;
      try {
        for (let f = reader.next(); f; f = reader.next()) {
          const ready =
            f.type === B.Authentication && f.body.length >= 4
              ? auth.prepare(f.body.readInt32BE(0), f.body.subarray(4))
              : undefined;
          if (ready) {
            waiting = true;
            const frame = f;
            ready.then(
              () => {
                waiting = false;
                if (over) return;
                try {
                  handle(frame);
                } catch (err) {
                  return fail(err as Error);
                }
                drain();
              },
              (err: Error) => fail(err),
            );
            return;
          }
          if (handle(f)) {
            clearTimeout(timer);
            // Nothing is read until the session takes the connection: what PostgreSQL
            // sends meanwhile (a FATAL, a notice) waits for it instead of being dropped.
            socket.pause();
            socket.removeListener('data', onData);
            socket.removeListener('error', fail);
            socket.removeListener('close', onClose);
            const status = String.fromCharCode(f.body[0] ?? 0x49) as TxStatus;
            resolve({
              socket,
              parameterFrames,
              parameters,
              pid,
              secret,
              status,
              leftover: reader.drain(),
            });
            return;
          }
        }
      } catch (err) {
        fail(err as Error);
      }
    };
    const onClose = () => fail(new UpstreamError('upstream closed the connection during login'));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('close', onClose);
    socket.write(startupMessage({ user: t.user, database: t.database, ...settings }));
  });
}
