// Without admin.token the recorded-statement routes answer only while the admin listener is
// bound to loopback. Before, isLoopback (src/util/net.ts) took any name that starts with
// "127." for loopback, so an admin host *name* such as "127.0.0.1.nip.io" or
// "127.mgmt.corp.example" (resolving wherever its DNS says) was treated as loopback and
// served /sessions and /explain to anyone with no token. The guard already refused such
// names in the Host header (loopbackName); the bind host needs the same.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { isLoopback } from '../util/net.js';
import { guard } from './guard.js';

function app(host: string): Hono {
  const a = new Hono();
  a.use('/sessions', guard({ host, token: () => undefined }));
  a.get('/sessions', (c) => c.json({ sessions: ['recorded'] }));
  return a;
}

describe('admin guard without a token', () => {
  it('treats an admin host name that merely starts with "127." as non-loopback', async () => {
    for (const host of ['127.0.0.1.nip.io', '127.mgmt.corp.example', '127.evil.example']) {
      const r = await app(host).request('/sessions', { headers: { host: 'localhost' } });
      expect(r.status, host).toBe(403);
    }
    // Real loopback stays open.
    expect((await app('127.0.0.1').request('/sessions')).status).toBe(200);
  });

  it('reads addresses in 127.0.0.0/8 (IPv4-mapped too), ::1 and localhost as loopback, names never', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::ffff:127.0.0.1', '::1', 'localhost'])
      expect(isLoopback(a), a).toBe(true);
    for (const a of ['127.0.0.1.nip.io', '127.example', '::ffff:127.x', '10.0.0.1', '0.0.0.0', ''])
      expect(isLoopback(a), a).toBe(false);
  });
});
