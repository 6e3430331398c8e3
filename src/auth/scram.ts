// SCRAM-SHA-256 client (RFC 5802 / RFC 7677) for the gateway's own login to the upstream PostgreSQL.
import {
  createHash,
  createHmac,
  pbkdf2,
  pbkdf2Sync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { AuthError, quoteUntrusted } from './errors.js';
import { saslprep } from './saslprep.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';

/** Caps applied to what the server sends; a hostile upstream must not make us work or allocate. */
export interface ScramLimits {
  /** Max bytes of server-first-message and server-final-message. Default 1024. */
  maxMessageBytes?: number;
  /** Max decoded salt length in bytes. Default 1024. */
  maxSaltBytes?: number;
  /** Max PBKDF2 iteration count. Default 1,000,000 (PostgreSQL's default is 4096). */
  maxIterations?: number;
}

export interface ScramClientOptions extends ScramLimits {
  /** Fixed client nonce, for tests against RFC vectors only. */
  nonce?: string;
}

export interface ScramClient {
  /** The client-first-message (`n,,n=<user>,r=<nonce>`), the SASLInitialResponse data. */
  clientFirst(): string;
  /**
   * Derive the salted keys for this server-first-message off the event loop, so that
   * handleServerFirst finds them cached: an upstream asking for a million iterations must
   * not stall every other session. Resolves (without deriving) when the message is invalid;
   * handleServerFirst then says why.
   */
  prepareServerFirst(msg: string | Uint8Array): Promise<void>;
  /** Validate server-first-message and return client-final-message (the SASLResponse data). */
  handleServerFirst(msg: string | Uint8Array): string;
  /** Check server-final-message (AuthenticationSASLFinal data); throws unless the server proved the key. */
  verifyServerFinal(msg: string | Uint8Array): void;
  /** True once verifyServerFinal succeeded: only then may AuthenticationOk be believed. */
  readonly verified: boolean;
}

const GS2_HEADER = 'n,,'; // no channel binding, no authzid
const CHANNEL_BINDING = Buffer.from(GS2_HEADER).toString('base64'); // "biws"
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 5802 "printable": %x21-2B / %x2D-7E (any printable ASCII except ',').
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const ITERATIONS = /^[1-9][0-9]{0,9}$/;

interface DerivedKeys {
  clientKey: Buffer;
  serverKey: Buffer;
}

// The gateway reconnects often with one credential (`pgbench -C`); PBKDF2 with 4096 rounds
// costs ~1 ms each time, so cache the derived keys per (password, salt, iterations).
// Keys are HMACs of the password under a per-process secret, so the map never holds it in clear.
const CACHE_MAX = 64;
const cache = new Map<string, DerivedKeys>();
const cacheSecret = randomBytes(32);

function cacheKey(password: string, salt: Buffer, iterations: number): string {
  return createHmac('sha256', cacheSecret)
    .update(password)
    .update('\0')
    .update(salt)
    .update('\0' + iterations)
    .digest('base64');
}

function storeKeys(key: string, salted: Buffer): DerivedKeys {
  const keys = { clientKey: hmac(salted, 'Client Key'), serverKey: hmac(salted, 'Server Key') };
  salted.fill(0);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(key, keys);
  return keys;
}

function deriveKeys(password: string, salt: Buffer, iterations: number): DerivedKeys {
  const key = cacheKey(password, salt, iterations);
  return (
    cache.get(key) ?? storeKeys(key, pbkdf2Sync(saslprep(password), salt, iterations, 32, 'sha256'))
  );
}

/** Derive (and cache) the keys on the thread pool: the event loop does not wait for PBKDF2. */
function deriveKeysAsync(password: string, salt: Buffer, iterations: number): Promise<void> {
  const key = cacheKey(password, salt, iterations);
  if (cache.has(key)) return Promise.resolve();
  return new Promise((resolve, reject) =>
    pbkdf2(saslprep(password), salt, iterations, 32, 'sha256', (err, salted) => {
      if (err) return reject(err);
      storeKeys(key, salted);
      resolve();
    }),
  );
}

/** Forget cached derived keys (for a credential rotation, or tests). */
export function clearScramCache(): void {
  cache.clear();
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 5802 saslname: ',' and '=' escaped as =2C and =3D. */
function saslname(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function text(msg: string | Uint8Array, max: number, what: string): string {
  const bytes = typeof msg === 'string' ? Buffer.byteLength(msg) : msg.byteLength;
  if (bytes > max) throw new AuthError('oversized', `SCRAM ${what} is ${bytes} bytes (max ${max})`);
  const s = typeof msg === 'string' ? msg : Buffer.from(msg).toString('latin1');
  if (!/^[\x20-\x7e]*$/.test(s)) throw new AuthError('malformed', `SCRAM ${what} is not ASCII`);
  return s;
}

/** Split `a=v,b=w,...` into [name, value] pairs; names are single letters. */
function attributes(s: string, what: string): [string, string][] {
  return s.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) {
      throw new AuthError('malformed', `SCRAM ${what} attribute ${quoteUntrusted(part)}`);
    }
    return [part[0], part.slice(2)];
  });
}

/**
 * A one-shot SCRAM-SHA-256 client without channel binding (GS2 header `n,,`).
 *
 * @example
 * const scram = createScramClient('svc', password);
 * send(SASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
 * send(SASLResponse(scram.handleServerFirst(saslContinueData)));
 * scram.verifyServerFinal(saslFinalData); // throws AuthError unless the server knows the password
 */
export function createScramClient(
  user: string,
  password: string,
  opts: ScramClientOptions = {},
): ScramClient {
  const maxMessage = opts.maxMessageBytes ?? 1024;
  const maxSalt = opts.maxSaltBytes ?? 1024;
  const maxIterations = opts.maxIterations ?? 1_000_000;
  const clientNonce = opts.nonce ?? randomBytes(18).toString('base64');
  if (!PRINTABLE.test(clientNonce))
    throw new AuthError('config', 'SCRAM client nonce not printable');
  const clientFirstBare = `n=${saslname(user)},r=${clientNonce}`;
  let step: 'initial' | 'first-sent' | 'final-sent' | 'done' | 'failed' = 'initial';
  let expectedServerSignature: Buffer | undefined;

  const fail = (e: unknown): never => {
    step = 'failed';
    throw e;
  };

  /** Parse and check server-first-message (throws AuthError). */
  const parseServerFirst = (msg: string | Uint8Array) => {
    const serverFirst = text(msg, maxMessage, 'server-first-message');
    const attrs = attributes(serverFirst, 'server-first-message');
    if (attrs[0]?.[0] === 'm') throw new AuthError('unsupported', 'SCRAM mandatory extension');
    if (attrs.length < 3 || attrs[0][0] !== 'r' || attrs[1][0] !== 's' || attrs[2][0] !== 'i') {
      throw new AuthError('malformed', 'SCRAM server-first-message is not r=,s=,i=');
    }
    const nonce = attrs[0][1];
    if (!PRINTABLE.test(nonce)) throw new AuthError('nonce', 'SCRAM server nonce not printable');
    if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) {
      throw new AuthError('nonce', 'SCRAM server nonce does not extend the client nonce');
    }
    const saltB64 = attrs[1][1];
    if (saltB64.length === 0 || !BASE64.test(saltB64)) {
      throw new AuthError('salt', 'SCRAM salt is not base64');
    }
    const salt = Buffer.from(saltB64, 'base64');
    if (salt.length > maxSalt) throw new AuthError('salt', `SCRAM salt over ${maxSalt} bytes`);
    const iterText = attrs[2][1];
    const iterations = ITERATIONS.test(iterText) ? Number(iterText) : NaN;
    if (!(iterations >= 1 && iterations <= maxIterations)) {
      throw new AuthError(
        'iterations',
        `SCRAM iteration count ${quoteUntrusted(iterText, 16)} outside 1..${maxIterations}`,
      );
    }
    return { serverFirst, nonce, salt, iterations };
  };

  return {
    clientFirst() {
      if (step !== 'initial') fail(new AuthError('state', 'SCRAM clientFirst called twice'));
      step = 'first-sent';
      return GS2_HEADER + clientFirstBare;
    },

    prepareServerFirst(msg) {
      if (step !== 'first-sent') return Promise.resolve();
      let p: ReturnType<typeof parseServerFirst>;
      try {
        p = parseServerFirst(msg);
      } catch {
        return Promise.resolve();
      }
      return deriveKeysAsync(password, p.salt, p.iterations);
    },

    handleServerFirst(msg) {
      if (step !== 'first-sent')
        return fail(new AuthError('state', 'unexpected SCRAM server-first'));
      try {
        const { serverFirst, nonce, salt, iterations } = parseServerFirst(msg);

        const { clientKey, serverKey } = deriveKeys(password, salt, iterations);
        const storedKey = createHash('sha256').update(clientKey).digest();
        const finalWithoutProof = `c=${CHANNEL_BINDING},r=${nonce}`;
        const authMessage = `${clientFirstBare},${serverFirst},${finalWithoutProof}`;
        const signature = hmac(storedKey, authMessage);
        const proof = Buffer.alloc(32);
        for (let i = 0; i < 32; i++) proof[i] = clientKey[i] ^ signature[i];
        expectedServerSignature = hmac(serverKey, authMessage);
        step = 'final-sent';
        return `${finalWithoutProof},p=${proof.toString('base64')}`;
      } catch (e) {
        return fail(e);
      }
    },

    verifyServerFinal(msg) {
      if (step !== 'final-sent' || !expectedServerSignature) {
        return fail(new AuthError('state', 'unexpected SCRAM server-final'));
      }
      try {
        const serverFinal = text(msg, maxMessage, 'server-final-message');
        const [first] = attributes(serverFinal, 'server-final-message');
        if (first[0] === 'e') {
          throw new AuthError('server-error', `SCRAM server error ${quoteUntrusted(first[1])}`);
        }
        if (first[0] !== 'v' || !BASE64.test(first[1])) {
          throw new AuthError('malformed', 'SCRAM server-final-message has no verifier');
        }
        const got = Buffer.from(first[1], 'base64');
        if (got.length !== 32 || !timingSafeEqual(got, expectedServerSignature)) {
          throw new AuthError('server-signature', 'SCRAM server signature mismatch');
        }
        step = 'done';
      } catch (e) {
        fail(e);
      }
    },

    get verified() {
      return step === 'done';
    },
  };
}
