// Access to the admin routes that show recorded statements or run the policy: a bearer
// token when one is configured, else only an admin listener on loopback.
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { isLoopback } from '../util/net.js';

/**
 * @example app.use('/sessions/*', guard({ host: '0.0.0.0', token: () => process.env.T }))
 * `token` is read per request, so a reload that changes it applies at once.
 */
export function guard(o: { host: string; token: () => string | undefined }): MiddlewareHandler {
  return async (c, next) => {
    const token = o.token();
    if (token) return bearerAuth({ token })(c, next);
    if (isLoopback(o.host)) return next();
    return c.json(
      {
        error:
          'this route shows recorded statements: set admin.token (sent as a Bearer token) to use it on a non-loopback admin address',
      },
      403,
    );
  };
}
