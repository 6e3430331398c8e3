import { describe, expect, it } from 'vitest';
import { AuthError, type AuthErrorCode } from './errors.js';
import { clearScramCache, createScramClient } from './scram.js';
import { saslprep } from './saslprep.js';

// RFC 7677 section 3 test vector.
const NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SERVER_FIRST = `r=${NONCE}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`;
const CLIENT_FINAL = `c=biws,r=${NONCE}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`;
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

function started(password = 'pencil') {
  const c = createScramClient('user', password, { nonce: NONCE });
  c.clientFirst();
  return c;
}

function code(fn: () => unknown): AuthErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AuthError);
    return (e as AuthError).code;
  }
  return 'no error';
}

describe('SCRAM-SHA-256 client', () => {
  it('reproduces the RFC 7677 exchange', () => {
    clearScramCache();
    const c = createScramClient('user', 'pencil', { nonce: NONCE });
    expect(c.clientFirst()).toBe(`n,,n=user,r=${NONCE}`);
    expect(c.handleServerFirst(SERVER_FIRST)).toBe(CLIENT_FINAL);
    expect(c.verified).toBe(false);
    c.verifyServerFinal(Buffer.from(SERVER_FINAL));
    expect(c.verified).toBe(true);
  });

  it('gives the same answer from the derived-key cache', () => {
    for (let i = 0; i < 3; i++)
      expect(started().handleServerFirst(SERVER_FIRST)).toBe(CLIENT_FINAL);
  });

  it('derives the keys off the event loop before handleServerFirst', async () => {
    clearScramCache();
    const c = started();
    await c.prepareServerFirst(SERVER_FIRST);
    expect(c.handleServerFirst(SERVER_FIRST)).toBe(CLIENT_FINAL);
    // A costly derivation (an upstream asking for 600,000 iterations) lets other work run.
    const slow = `r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=600000`;
    const order: string[] = [];
    const d = started();
    const done = d.prepareServerFirst(slow).then(() => order.push('derived'));
    setImmediate(() => order.push('other work'));
    await done;
    expect(order).toEqual(['other work', 'derived']);
    expect(d.handleServerFirst(slow)).toMatch(/^c=biws,r=/);
    // An invalid message is not derived; handleServerFirst says why.
    const e = started();
    await e.prepareServerFirst(`r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`);
    expect(code(() => e.handleServerFirst(`r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`))).toBe(
      'iterations',
    );
  });

  it('uses a fresh random printable nonce per client and escapes the user name', () => {
    const a = createScramClient('a,b=c', 'x').clientFirst();
    const b = createScramClient('a,b=c', 'x').clientFirst();
    expect(a).toMatch(/^n,,n=a=2Cb=3Dc,r=[\x21-\x2b\x2d-\x7e]{24}$/);
    expect(a).not.toBe(b);
  });

  it('rejects a server that does not know the password (wrong verifier)', () => {
    const c = started();
    c.handleServerFirst(SERVER_FIRST);
    expect(code(() => c.verifyServerFinal('v=' + Buffer.alloc(32, 7).toString('base64')))).toBe(
      'server-signature',
    );
    expect(c.verified).toBe(false);
  });

  it('rejects a verifier of the wrong length and an e= error', () => {
    const c = started();
    c.handleServerFirst(SERVER_FIRST);
    expect(code(() => c.verifyServerFinal('v=AAAA'))).toBe('server-signature');
    const d = started();
    d.handleServerFirst(SERVER_FIRST);
    expect(code(() => d.verifyServerFinal('e=invalid-proof'))).toBe('server-error');
  });

  it('derives a different proof for a different password', () => {
    expect(started('pencil2').handleServerFirst(SERVER_FIRST)).not.toBe(CLIENT_FINAL);
  });

  describe('hostile server-first-message', () => {
    const salt = 'W22ZaJ0SNY7soEsUEjb6gQ==';
    const cases: [string, string | Uint8Array, AuthErrorCode][] = [
      ['a 100 KB nonce', `r=${NONCE}${'A'.repeat(100_000)},s=${salt},i=4096`, 'oversized'],
      ['a 100 KB message as bytes', new Uint8Array(100_000).fill(0x41), 'oversized'],
      ['a nonce that does not extend ours', `r=someoneelse,s=${salt},i=4096`, 'nonce'],
      ['a nonce equal to ours', `r=${NONCE},s=${salt},i=4096`, 'nonce'],
      ['a nonce with a non-printable byte', `r=${NONCE}\x7f,s=${salt},i=4096`, 'malformed'],
      ['iterations 0', `r=${NONCE}x,s=${salt},i=0`, 'iterations'],
      ['iterations 10^9', `r=${NONCE}x,s=${salt},i=1000000000`, 'iterations'],
      ['iterations negative', `r=${NONCE}x,s=${salt},i=-1`, 'iterations'],
      ['iterations not a number', `r=${NONCE}x,s=${salt},i=4096abc`, 'iterations'],
      ['salt not base64', `r=${NONCE}x,s=***,i=4096`, 'salt'],
      ['empty salt', `r=${NONCE}x,s=,i=4096`, 'salt'],
      ['attributes out of order', `s=${salt},r=${NONCE}x,i=4096`, 'malformed'],
      ['missing iterations', `r=${NONCE}x,s=${salt}`, 'malformed'],
      ['garbage', 'hello world', 'malformed'],
      ['empty', '', 'malformed'],
      ['binary garbage', Uint8Array.from([0, 255, 1, 2, 3]), 'malformed'],
      ['a mandatory extension', `m=ext,r=${NONCE}x,s=${salt},i=4096`, 'unsupported'],
    ];
    for (const [name, msg, expected] of cases) {
      it(`rejects ${name}`, () => {
        const c = started();
        expect(code(() => c.handleServerFirst(msg))).toBe(expected);
        // A failed exchange cannot be continued.
        expect(code(() => c.verifyServerFinal(SERVER_FINAL))).toBe('state');
      });
    }

    it('rejects a salt over the cap even inside a small message', () => {
      const c = createScramClient('u', 'p', { nonce: NONCE, maxSaltBytes: 8 });
      c.clientFirst();
      expect(code(() => c.handleServerFirst(`r=${NONCE}x,s=${salt},i=4096`))).toBe('salt');
    });
  });

  it('enforces the message order', () => {
    const c = createScramClient('u', 'p');
    expect(code(() => c.handleServerFirst(SERVER_FIRST))).toBe('state');
    const d = started();
    expect(code(() => d.verifyServerFinal(SERVER_FINAL))).toBe('state');
    const e = started();
    e.handleServerFirst(SERVER_FIRST);
    expect(code(() => e.handleServerFirst(SERVER_FIRST))).toBe('state');
  });
});

describe('saslprep', () => {
  it('leaves ASCII alone and maps as RFC 4013 does', () => {
    expect(saslprep('pencil')).toBe('pencil');
    expect(saslprep('I\u00adX')).toBe('IX'); // soft hyphen mapped to nothing
    expect(saslprep('a\u00a0b')).toBe('a b'); // non-ASCII space
    expect(saslprep('\u2168')).toBe('IX'); // NFKC
    expect(saslprep('\u00aa')).toBe('a');
    expect(saslprep('x\u0007\u00e9')).toBe('x\u0007\u00e9'); // prohibited: raw password kept
  });
});
