// Access to the admin routes that show recorded statements or run the policy: a bearer
// token when one is configured, else only an admin listener on loopback.
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { isIP } from 'node:net';
import { isLoopback } from '../util/net.js';

/**
 * @example app.use('/sessions/*', guard({ host: '0.0.0.0', token: () => process.env.T }))
 * `token` is read per request, so a reload that changes it applies at once.
 */
export function guard(o: { host: string; token: () => string | undefined }): MiddlewareHandler {
  return async (c, next) => {
    const token = o.token();
    if (token) return bearerAuth({ token })(c, next);
    if (isLoopback(o.host)) {
      // No token: a web page the operator opens could still reach a loopback port, by DNS
      // rebinding (its own name, resolved to 127.0.0.1) or a form post. Only a loopback
      // Host is answered, and a POST must say it sends JSON (a browser cannot, cross-site,
      // without asking first).
      const host = c.req.header('host');
      if (host !== undefined && !loopbackName(hostName(host)))
        return c.json({ error: 'the Host header must name a loopback address' }, 403);
      const type = c.req.header('content-type') ?? '';
      if (c.req.method === 'POST' && !/^application\/json\b/i.test(type))
        return c.json({ error: 'the body must be sent as application/json' }, 415);
      return next();
    }
    return c.json(
      {
        error:
          'this route shows recorded statements: set admin.token (sent as a Bearer token) to use it on a non-loopback admin address',
      },
      403,
    );
  };
}

/** The host name of a Host header: `[::1]:9187` → `::1`, `localhost:9187` → `localhost`. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') >>> 0);
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** `localhost`, or a loopback IP literal (not a name that merely starts like one). */
function loopbackName(h: string): boolean {
  return h === 'localhost' || (isIP(h) !== 0 && isLoopback(h));
}
