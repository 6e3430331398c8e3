// Admin routes that need the running gateway: POST /explain, GET /sessions[/:id].
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { GatewayConfig } from '../config/index.js';
import { explain } from '../policy/explain.js';
import { guard } from '../admin/guard.js';
import { sessionsRoutes } from '../admin/sessions.js';
import { createReader } from '../record/read.js';
import { resolveSources } from '../record/sources.js';
import type { Gateway } from './gateway.js';
import { explainInputs } from './explain-input.js';

export function mountRoutes(app: Hono, gw: Gateway, config: GatewayConfig, baseDir: string): void {
  const access = guard({ host: gw.snapshot.admin.host, token: () => gw.snapshot.admin.token });
  for (const path of ['/sessions', '/sessions/*', '/explain']) app.use(path, access);
  // SQL is at most 1 MiB; a JSON body around it needs no more than a few.
  app.use(
    '/explain',
    bodyLimit({
      maxSize: 4 * 1024 * 1024,
      onError: (c) => c.json({ error: 'body too large (limit 4 MiB)' }, 413),
    }),
  );
  if (config.recording?.enabled !== false) {
    const sources = resolveSources({}, { config: config as never, baseDir });
    app.route('/', sessionsRoutes(createReader(sources)));
  } else {
    const off = { error: 'recording is disabled (recording.enabled: false): no sessions to show' };
    for (const path of ['/sessions', '/sessions/*']) app.get(path, (c) => c.json(off, 404));
  }
  app.post('/explain', async (c) => {
    let body: { sql?: unknown; identity?: unknown; database?: unknown };
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'body must be JSON: {"sql": "...", "identity": {...}}' }, 400);
    }
    if (!body || typeof body !== 'object' || typeof body.sql !== 'string')
      return c.json({ error: '"sql" (string) is required' }, 400);
    const identity =
      body.identity && typeof body.identity === 'object'
        ? (body.identity as Record<string, unknown>)
        : {};
    const { inputs, error } = explainInputs(body.sql, identity, {
      searchPath: gw.snapshot.settings.searchPath,
      database: typeof body.database === 'string' ? body.database : undefined,
      session: { pinned: gw.snapshot.settings.pinned },
    });
    if (error) return c.json({ decision: { kind: 'deny', reasons: [`parse error: ${error}`] } });
    const engine = gw.snapshot.policy;
    return c.json(
      inputs.map((input) => ({ statement: input.statement?.text, ...explain(engine, input) })),
    );
  });
}
