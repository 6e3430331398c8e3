// Upstream login state machine: answers the real PostgreSQL's Authentication* requests with our credential.
import { registerSecret } from '../util/logger.js';
import { AuthError } from './errors.js';
import { md5Password } from './md5.js';
import { SCRAM_MECHANISM, createScramClient, type ScramClient, type ScramLimits } from './scram.js';

/** Upstream auth methods, named as in libpq's `require_auth` ('trust' = no challenge). */
export type UpstreamAuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface UpstreamAuthOptions extends ScramLimits {
  user: string;
  password: string;
  /** Methods the gateway accepts from the upstream. Default: all four, as libpq. */
  allow?: UpstreamAuthMethod[];
  /**
   * The connection is encrypted (TLS). Unlike libpq, a cleartext password is sent only
   * then: the credential is what the gateway exists to keep, and an upstream (or whoever
   * sits on the path) that asks for it in clear over plain TCP would get it. Default true.
   */
  encrypted?: boolean;
}

/** What to send next. `password`, `sasl-initial` and `sasl-response` are 'p' messages. */
export type UpstreamAuthReply =
  | { kind: 'password'; password: string }
  | { kind: 'sasl-initial'; mechanism: string; data: string }
  | { kind: 'sasl-response'; data: string }
  | { kind: 'none' }
  | { kind: 'done' };

export interface UpstreamAuth {
  /**
   * Handle one Authentication message: `code` is its Int32 request code, `body` the bytes after it.
   * Throws AuthError for a disallowed method, out-of-order message or hostile SCRAM data.
   */
  handle(code: number, body: Uint8Array): UpstreamAuthReply;
  /**
   * Work to finish before `handle` for the same message, off the event loop (the SCRAM key
   * derivation); undefined when there is none.
   */
  prepare(code: number, body: Uint8Array): Promise<void> | undefined;
}

// Authentication request codes (protocol docs, "Message Formats").
const AUTH_OK = 0;
const AUTH_CLEARTEXT = 3;
const AUTH_MD5 = 5;
const AUTH_SASL = 10;
const AUTH_SASL_CONTINUE = 11;
const AUTH_SASL_FINAL = 12;
const MAX_MECHANISM_LIST = 1024;

/**
 * @example
 * const auth = createUpstreamAuth({ user: 'svc', password, allow: ['scram-sha-256'] });
 * // for each 'R' message: const reply = auth.handle(code, rest); send(encodeUpstreamAuthReply(reply))
 */
export function createUpstreamAuth(opts: UpstreamAuthOptions): UpstreamAuth {
  registerSecret(opts.password); // no log line may ever contain the upstream password
  const allow = new Set<UpstreamAuthMethod>(
    opts.allow ?? ['scram-sha-256', 'md5', 'password', 'trust'],
  );
  let scram: ScramClient | undefined;
  let challenged = false;
  let finished = false;

  const need = (m: UpstreamAuthMethod) => {
    if (!allow.has(m)) throw new AuthError('unsupported', `upstream asked for ${m}, not allowed`);
  };

  return {
    prepare(code, body) {
      return code === AUTH_SASL_CONTINUE && scram ? scram.prepareServerFirst(body) : undefined;
    },

    handle(code, body) {
      if (finished) throw new AuthError('state', 'authentication message after AuthenticationOk');
      switch (code) {
        case AUTH_OK:
          if (scram && !scram.verified) {
            throw new AuthError('state', 'AuthenticationOk before the SCRAM exchange completed');
          }
          if (!challenged) need('trust');
          finished = true;
          return { kind: 'done' };
        case AUTH_CLEARTEXT:
          need('password');
          if (opts.encrypted === false) {
            throw new AuthError(
              'unsupported',
              'upstream asked for a cleartext password over an unencrypted connection (set tls on the target, or use scram-sha-256)',
            );
          }
          if (challenged) throw new AuthError('state', 'second password challenge');
          challenged = true;
          return { kind: 'password', password: opts.password };
        case AUTH_MD5:
          need('md5');
          if (challenged) throw new AuthError('state', 'second password challenge');
          challenged = true;
          return { kind: 'password', password: md5Password(opts.user, opts.password, body) };
        case AUTH_SASL: {
          need('scram-sha-256');
          if (challenged) throw new AuthError('state', 'second SASL challenge');
          challenged = true;
          if (body.byteLength > MAX_MECHANISM_LIST) {
            throw new AuthError('oversized', 'SASL mechanism list too long');
          }
          const mechanisms = Buffer.from(body).toString('latin1').split('\0').filter(Boolean);
          if (!mechanisms.includes(SCRAM_MECHANISM)) {
            throw new AuthError('unsupported', 'upstream offers no SCRAM-SHA-256');
          }
          scram = createScramClient(opts.user, opts.password, opts);
          return { kind: 'sasl-initial', mechanism: SCRAM_MECHANISM, data: scram.clientFirst() };
        }
        case AUTH_SASL_CONTINUE:
          if (!scram) throw new AuthError('state', 'SASLContinue without SASL');
          return { kind: 'sasl-response', data: scram.handleServerFirst(body) };
        case AUTH_SASL_FINAL:
          if (!scram) throw new AuthError('state', 'SASLFinal without SASL');
          scram.verifyServerFinal(body);
          return { kind: 'none' };
        default:
          throw new AuthError('unsupported', `upstream auth request ${code} not supported`);
      }
    },
  };
}

/** Frame a reply as a frontend 'p' message (PasswordMessage, SASLInitialResponse, SASLResponse). */
export function encodeUpstreamAuthReply(reply: UpstreamAuthReply): Buffer | undefined {
  let payload: Buffer;
  switch (reply.kind) {
    case 'password':
      payload = Buffer.from(reply.password + '\0');
      break;
    case 'sasl-initial': {
      const data = Buffer.from(reply.data);
      const len = Buffer.alloc(4);
      len.writeInt32BE(data.length);
      payload = Buffer.concat([Buffer.from(reply.mechanism + '\0'), len, data]);
      break;
    }
    case 'sasl-response':
      payload = Buffer.from(reply.data);
      break;
    default:
      return undefined;
  }
  const head = Buffer.alloc(5);
  head[0] = 0x70; // 'p'
  head.writeInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}
