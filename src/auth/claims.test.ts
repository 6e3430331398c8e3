import { describe, expect, it } from 'vitest';
import { claimAt, mapClaims } from './claims.js';

describe('claim mapping', () => {
  it('maps the default claim names', () => {
    const claims = {
      sub: 'alice',
      iss: 'idp',
      email: 'a@x.test',
      groups: ['g1', 'g2', 'g1'],
      agent_id: 'bot',
      act: { sub: 'bob' },
    };
    expect(mapClaims(claims, 'jwt')).toEqual({
      ok: true,
      identity: {
        sub: 'alice',
        iss: 'idp',
        email: 'a@x.test',
        groups: ['g1', 'g2'],
        agent: 'bot',
        on_behalf_of: 'bob',
        method: 'jwt',
        claims,
      },
    });
  });

  it('accepts groups as a space or comma separated string', () => {
    const r = mapClaims({ sub: 's', groups: 'a b,c ,, d' }, 'jwt');
    expect(r.ok && r.identity.groups).toEqual(['a', 'b', 'c', 'd']);
    const none = mapClaims({ sub: 's' }, 'jwt');
    expect(none.ok && none.identity.groups).toEqual([]);
  });

  it('uses configured names and dotted paths, exact keys first', () => {
    const claims = {
      uid: 'u1',
      'https://example.com/roles': ['admin'],
      realm_access: { roles: 'r1 r2' },
      ctx: { agent: { id: 'a-9' } },
      on_behalf_of: 'carol',
      mail: 'm@x.test',
    };
    const r = mapClaims(claims, 'jwt', {
      sub: 'uid',
      groups: 'realm_access.roles',
      agent: 'ctx.agent.id',
      email: 'mail',
    });
    expect(r).toMatchObject({
      ok: true,
      identity: {
        sub: 'u1',
        groups: ['r1', 'r2'],
        agent: 'a-9',
        email: 'm@x.test',
        on_behalf_of: 'carol',
      },
    });
    const urlGroups = mapClaims(claims, 'jwt', { sub: 'uid', groups: 'https://example.com/roles' });
    expect(urlGroups.ok && urlGroups.identity.groups).toEqual(['admin']);
    const obo = mapClaims({ sub: 's', delegator: { name: 'dan' } }, 'jwt', {
      onBehalfOf: 'delegator.name',
    });
    expect(obo.ok && obo.identity.on_behalf_of).toBe('dan');
  });

  it('prefers act.sub over on_behalf_of by default', () => {
    const r = mapClaims({ sub: 's', act: { sub: 'x' }, on_behalf_of: 'y' }, 'jwt');
    expect(r.ok && r.identity.on_behalf_of).toBe('x');
  });

  it('fails on a missing subject or a malformed mapped claim', () => {
    expect(mapClaims({}, 'jwt')).toMatchObject({ ok: false, reason: 'claim sub missing' });
    expect(mapClaims({ sub: '' }, 'jwt').ok).toBe(false);
    expect(mapClaims({ sub: 42 }, 'jwt').ok).toBe(false);
    expect(mapClaims({ sub: 's', groups: [1] }, 'jwt').ok).toBe(false);
    expect(mapClaims({ sub: 's', groups: { a: 1 } }, 'jwt').ok).toBe(false);
    expect(mapClaims({ sub: 's', email: ['x'] }, 'jwt').ok).toBe(false);
    expect(
      mapClaims({ sub: 's', groups: Array.from({ length: 300 }, (_, i) => `g${i}`) }, 'jwt').ok,
    ).toBe(false);
  });

  it('does not walk into prototypes or arrays', () => {
    expect(claimAt({ a: [{ b: 1 }] }, 'a.0.b')).toBeUndefined();
    expect(claimAt({}, 'constructor.name')).toBeUndefined();
    expect(claimAt({ a: { b: 'c' } }, 'a.b')).toBe('c');
  });
});
