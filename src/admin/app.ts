// The admin HTTP API (Hono): health, readiness and Prometheus metrics; other stages mount
// their routes (sessions, explain) on it.
import { Hono } from 'hono';

export interface AdminDeps {
  /** True once the listener accepts clients and the upstream answered. */
  ready(): boolean;
  metrics(): string;
}

export function adminApp(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) =>
    deps.ready() ? c.json({ status: 'ready' }) : c.json({ status: 'not ready' }, 503),
  );
  app.get('/metrics', (c) =>
    c.body(deps.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }),
  );
  return app;
}
