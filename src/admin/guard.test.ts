import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { isLoopback } from '../util/net.js';
import { guard } from './guard.js';

function app(host: string, token: string | undefined): Hono {
  const a = new Hono();
  a.use('/sessions', guard({ host, token: () => token }));
  a.get('/sessions', (c) => c.json({ sessions: ['recorded'] }));
  a.use('/explain', guard({ host, token: () => token }));
  a.post('/explain', (c) => c.json({ ok: true }));
  return a;
}

describe('admin guard', () => {
  it('without a token, answers on a loopback admin host only', async () => {
    expect((await app('127.0.0.1', undefined).request('/sessions')).status).toBe(200);
    expect((await app('::1', undefined).request('/sessions')).status).toBe(200);
    const r = await app('0.0.0.0', undefined).request('/sessions');
    expect(r.status).toBe(403);
    expect(await r.text()).toMatch(/admin\.token/);
  });

  it('without a token, answers only a loopback Host and JSON posts (DNS rebinding, CSRF)', async () => {
    const a = app('127.0.0.1', undefined);
    for (const host of ['localhost:9187', '127.0.0.1', '127.0.0.1:9187', '[::1]:9187', 'LOCALHOST'])
      expect((await a.request('/sessions', { headers: { host } })).status, host).toBe(200);
    for (const host of ['rebind.attacker.example', 'evil.example:9187', '127.0.0.1.evil.example'])
      expect((await a.request('/sessions', { headers: { host } })).status, host).toBe(403);
    const json = { host: 'localhost', 'content-type': 'application/json' };
    expect(
      (await a.request('/explain', { method: 'POST', headers: json, body: '{}' })).status,
    ).toBe(200);
    const text = { host: 'localhost', 'content-type': 'text/plain' };
    expect(
      (await a.request('/explain', { method: 'POST', headers: text, body: '{}' })).status,
    ).toBe(415);
  });

  it('with a token, every request must carry it, whatever the host', async () => {
    const a = app('127.0.0.1', 's3cret-token');
    expect((await a.request('/sessions')).status).toBe(401);
    const wrong = await a.request('/sessions', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const ok = await a.request('/sessions', { headers: { authorization: 'Bearer s3cret-token' } });
    expect(await ok.json()).toEqual({ sessions: ['recorded'] });
  });

  it('knows loopback spellings', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'admin.internal'])
      expect(isLoopback(h), h).toBe(false);
  });
});
