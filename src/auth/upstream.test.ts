import { describe, expect, it } from 'vitest';
import { AuthError } from './errors.js';
import { md5Password } from './md5.js';
import { createUpstreamAuth, encodeUpstreamAuthReply } from './upstream.js';

const none = new Uint8Array(0);
const mechanisms = (...m: string[]) => Buffer.from(m.map((x) => x + '\0').join('') + '\0');

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    expect(e).toBeInstanceOf(AuthError);
    return (e as AuthError).code;
  }
}

describe('upstream auth state machine', () => {
  it('answers cleartext, md5 and trust when allowed', () => {
    const a = createUpstreamAuth({ user: 'svc', password: 'pw' });
    expect(a.handle(3, none)).toEqual({ kind: 'password', password: 'pw' });
    expect(a.handle(0, none)).toEqual({ kind: 'done' });
    const salt = Uint8Array.from([9, 8, 7, 6]);
    const b = createUpstreamAuth({ user: 'svc', password: 'pw' });
    expect(b.handle(5, salt)).toEqual({
      kind: 'password',
      password: md5Password('svc', 'pw', salt),
    });
    expect(createUpstreamAuth({ user: 'svc', password: 'pw' }).handle(0, none)).toEqual({
      kind: 'done',
    });
  });

  it('sends a cleartext password only over an encrypted connection', () => {
    const plain = createUpstreamAuth({ user: 'svc', password: 'pw', encrypted: false });
    expect(codeOf(() => plain.handle(3, none))).toBe('unsupported');
    const md5 = createUpstreamAuth({ user: 'svc', password: 'pw', encrypted: false });
    expect(md5.handle(5, Uint8Array.from([1, 2, 3, 4])).kind).toBe('password');
    const tls = createUpstreamAuth({ user: 'svc', password: 'pw', encrypted: true });
    expect(tls.handle(3, none)).toEqual({ kind: 'password', password: 'pw' });
  });

  it('refuses methods that are not allowed (downgrade protection)', () => {
    const opts = { user: 'svc', password: 'pw', allow: ['scram-sha-256' as const] };
    expect(codeOf(() => createUpstreamAuth(opts).handle(3, none))).toBe('unsupported');
    expect(codeOf(() => createUpstreamAuth(opts).handle(5, new Uint8Array(4)))).toBe('unsupported');
    expect(codeOf(() => createUpstreamAuth(opts).handle(0, none))).toBe('unsupported'); // trust
    expect(codeOf(() => createUpstreamAuth(opts).handle(7, none))).toBe('unsupported'); // GSS
  });

  it('starts SCRAM only when SCRAM-SHA-256 is offered', () => {
    const a = createUpstreamAuth({ user: 'svc', password: 'pw' });
    const r = a.handle(10, mechanisms('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'));
    expect(r).toMatchObject({ kind: 'sasl-initial', mechanism: 'SCRAM-SHA-256' });
    const b = createUpstreamAuth({ user: 'svc', password: 'pw' });
    expect(codeOf(() => b.handle(10, mechanisms('SCRAM-SHA-1')))).toBe('unsupported');
    const c = createUpstreamAuth({ user: 'svc', password: 'pw' });
    expect(codeOf(() => c.handle(10, Buffer.alloc(5000, 0x41)))).toBe('oversized');
  });

  it('does not believe AuthenticationOk before the server proved the password', () => {
    const a = createUpstreamAuth({ user: 'svc', password: 'pw' });
    a.handle(10, mechanisms('SCRAM-SHA-256'));
    expect(codeOf(() => a.handle(0, none))).toBe('state');
  });

  it('rejects out-of-order and repeated challenges', () => {
    expect(codeOf(() => createUpstreamAuth({ user: 'u', password: 'p' }).handle(11, none))).toBe(
      'state',
    );
    expect(codeOf(() => createUpstreamAuth({ user: 'u', password: 'p' }).handle(12, none))).toBe(
      'state',
    );
    const a = createUpstreamAuth({ user: 'u', password: 'p' });
    a.handle(3, none);
    expect(codeOf(() => a.handle(3, none))).toBe('state');
    const b = createUpstreamAuth({ user: 'u', password: 'p' });
    b.handle(0, none);
    expect(codeOf(() => b.handle(0, none))).toBe('state');
  });

  it('passes hostile SCRAM data to the client checks', () => {
    const a = createUpstreamAuth({ user: 'u', password: 'p' });
    a.handle(10, mechanisms('SCRAM-SHA-256'));
    expect(codeOf(() => a.handle(11, Buffer.alloc(100_000, 0x41)))).toBe('oversized');
  });

  it('frames replies as the protocol docs describe', () => {
    expect(encodeUpstreamAuthReply({ kind: 'password', password: 'ab' })).toEqual(
      Buffer.from([0x70, 0, 0, 0, 7, 0x61, 0x62, 0]),
    );
    expect(encodeUpstreamAuthReply({ kind: 'sasl-initial', mechanism: 'M', data: 'xy' })).toEqual(
      Buffer.from([0x70, 0, 0, 0, 12, 0x4d, 0, 0, 0, 0, 2, 0x78, 0x79]),
    );
    expect(encodeUpstreamAuthReply({ kind: 'sasl-response', data: 'z' })).toEqual(
      Buffer.from([0x70, 0, 0, 0, 5, 0x7a]),
    );
    expect(encodeUpstreamAuthReply({ kind: 'none' })).toBeUndefined();
  });
});
