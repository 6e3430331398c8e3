import { describe, expect, it } from 'vitest';
import { generateApiKey } from './api-key.js';
import { createAuthenticator, type AuthResult } from './authenticator.js';
import { addressKey, createFailureLimiter } from './limiter.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const good = generateApiKey('etl');
const wrong = good.key.slice(0, -2) + (good.key.endsWith('AA') ? 'BB' : 'AA');
const locked = (r: AuthResult) => !r.ok && /locked out|in flight/.test(r.reason);

function setup(c = clock()) {
  const auth = createAuthenticator({
    apiKeys: [{ id: 'etl', hash: good.hash, sub: 'svc' }],
    now: c.now,
  });
  return { auth, c };
}

const agent1 = generateApiKey('a1');
const agent2 = generateApiKey('a2');

/** The startup user name bound to the identity's sub: a per-user limit means something. */
function boundSetup(c = clock()) {
  const auth = createAuthenticator({
    apiKeys: [
      { id: 'a1', hash: agent1.hash, sub: 'agent1' },
      { id: 'a2', hash: agent2.hash, sub: 'agent2' },
    ],
    bindUser: 'sub',
    now: c.now,
  });
  return { auth, c };
}

describe('failure limiter', () => {
  it('locks an address out after 20 failures in a minute, refusing even the right key', async () => {
    const { auth, c } = setup();
    const ctx = { user: 'u', clientAddr: '203.0.113.5' };
    for (let i = 0; i < 20; i++) {
      const r = await auth.authenticate(wrong, ctx);
      expect(r).toEqual({ ok: false, code: 'invalid', reason: 'api key etl: wrong secret' });
    }
    const r = await auth.authenticate(good.key, ctx);
    expect(r).toMatchObject({
      ok: false,
      code: 'locked',
      reason: 'client address locked out',
      retryAfterMs: 300_000,
    });
    // Another address is unaffected.
    expect((await auth.authenticate(good.key, { ...ctx, clientAddr: '203.0.113.6' })).ok).toBe(
      true,
    );
    c.advance(299_999);
    expect((await auth.authenticate(good.key, ctx)).ok).toBe(false);
    c.advance(1);
    expect((await auth.authenticate(good.key, ctx)).ok).toBe(true);
  });

  it('lets 1,000 sequential wrong attempts verify only 20 of them', async () => {
    const { auth } = setup();
    let verified = 0;
    for (let i = 0; i < 1000; i++) {
      const r = await auth.authenticate(wrong, { user: 'u', clientAddr: '198.51.100.1' });
      expect(r.ok).toBe(false);
      if (!locked(r)) verified++;
    }
    expect(verified).toBe(20);
  });

  it('bounds a concurrent burst of 1,000 wrong attempts', async () => {
    const { auth } = setup();
    const results = await Promise.all(
      Array.from({ length: 1000 }, () =>
        auth.authenticate(wrong, { user: 'u', clientAddr: '198.51.100.2' }),
      ),
    );
    const verified = results.filter((r) => !locked(r)).length;
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(verified).toBeLessThanOrEqual(64);
    expect((await auth.authenticate(good.key, { user: 'u', clientAddr: '198.51.100.2' })).ok).toBe(
      false,
    );
  });

  it('locks a bound user out across addresses after 50 failures', async () => {
    const { auth, c } = boundSetup();
    for (let i = 0; i < 50; i++) {
      await auth.authenticate(wrong, { user: 'agent1', clientAddr: `10.0.${i >> 4}.${i}` });
    }
    const r = await auth.authenticate(agent1.key, { user: 'agent1', clientAddr: '10.9.9.9' });
    expect(r).toMatchObject({ ok: false, code: 'locked', reason: 'user locked out' });
    const other = await auth.authenticate(agent2.key, { user: 'agent2', clientAddr: '10.9.9.9' });
    expect(other.ok).toBe(true);
    c.advance(300_000);
    const again = await auth.authenticate(agent1.key, { user: 'agent1', clientAddr: '10.9.9.9' });
    expect(again.ok).toBe(true);
  });

  it('does not let failures under an unbound user name lock that name out', async () => {
    const { auth } = setup();
    for (let i = 0; i < 60; i++) {
      await auth.authenticate(wrong, { user: 'victim', clientAddr: `10.1.${i >> 4}.${i}` });
    }
    const r = await auth.authenticate(good.key, { user: 'victim', clientAddr: '10.9.9.9' });
    expect(r.ok).toBe(true);
  });

  it('forgets failures once the window has passed', async () => {
    const { auth, c } = setup();
    const ctx = { user: 'u', clientAddr: '192.0.2.1' };
    for (let i = 0; i < 19; i++) await auth.authenticate(wrong, ctx);
    c.advance(60_000);
    for (let i = 0; i < 19; i++) await auth.authenticate(wrong, ctx);
    expect((await auth.authenticate(good.key, ctx)).ok).toBe(true);
  });

  it('refuses without verifying while locked', () => {
    const c = clock();
    const l = createFailureLimiter({
      now: c.now,
      perUser: false,
      perAddress: { maxFailures: 2, windowMs: 1000, lockoutMs: 5000 },
    });
    for (let i = 0; i < 2; i++) {
      const a = l.begin('a', 'u');
      expect(a.ok).toBe(true);
      if (a.ok) a.finish('failure');
    }
    expect(l.begin('a', 'u')).toMatchObject({ ok: false, retryAfterMs: 5000 });
    c.advance(5000);
    expect(l.begin('a', 'u').ok).toBe(true);
  });

  it('makes no entry for the user names of attempts from a locked-out address', () => {
    const c = clock();
    const l = createFailureLimiter({
      now: c.now,
      perAddress: { maxFailures: 2, windowMs: 1000, lockoutMs: 5000 },
    });
    for (let i = 0; i < 2; i++) {
      const a = l.begin('a', `u${i}`);
      if (a.ok) a.finish('failure');
    }
    const before = l.size;
    for (let i = 0; i < 1000; i++) expect(l.begin('a', `made-up-${i}`).ok).toBe(false);
    expect(l.size).toBe(before);
  });

  it('forgets clean keys and stays bounded', () => {
    const c = clock();
    const l = createFailureLimiter({ now: c.now, maxEntries: 100 });
    for (let i = 0; i < 10; i++) {
      const a = l.begin(`ok-${i}`, 'u');
      if (a.ok) a.finish('success');
    }
    expect(l.size).toBe(0);
    for (let i = 0; i < 1000; i++) {
      const a = l.begin(`bad-${i}`, `user-${i}`);
      if (a.ok) a.finish('failure');
    }
    expect(l.size).toBeLessThanOrEqual(100);
  });

  it('can be shared across authenticators (config reload keeps lockouts)', async () => {
    const c = clock();
    const limiter = createFailureLimiter({ now: c.now });
    const make = () =>
      createAuthenticator({
        apiKeys: [{ id: 'etl', hash: good.hash, sub: 'svc' }],
        rateLimit: limiter,
      });
    const ctx = { user: 'u', clientAddr: '192.0.2.9' };
    for (let i = 0; i < 20; i++) await make().authenticate(wrong, ctx);
    expect(await make().authenticate(good.key, ctx)).toMatchObject({
      ok: false,
      code: 'locked',
      reason: 'client address locked out',
    });
  });

  it('limits IPv6 clients by /64 and unwraps IPv4-mapped addresses', () => {
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
    const c = clock();
    const l = createFailureLimiter({
      now: c.now,
      perUser: false,
      perAddress: { maxFailures: 3, windowMs: 1000, lockoutMs: 5000 },
    });
    for (let i = 1; i <= 3; i++) {
      const a = l.begin(`2001:db8:1:2::${i}`, `u${i}`);
      if (a.ok) a.finish('failure');
    }
    expect(l.begin('2001:db8:1:2:ffff::7', 'x').ok).toBe(false);
    expect(l.begin('2001:db8:1:3::1', 'x').ok).toBe(true);
  });
});
