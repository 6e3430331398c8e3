// Composition root: builds the runtime from config, runs the Postgres listener and the admin
// HTTP API, swaps config and policy on reload (old one kept on failure), shuts down gracefully.
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { GatewayConfig } from '../config/index.js';
import type { Identity } from '../policy/types.js';
import { loadConfig } from '../config/load.js';
import { adminApp } from '../admin/app.js';
import { initSql } from '../sql/index.js';
import { acceptClient } from '../session/accept.js';
import { createFailureLimiter, type FailureLimiter } from '../auth/index.js';
import { CancelRegistry } from '../session/cancel.js';
import { HeldInput } from '../session/held-input.js';
import type {
  GatewayContext,
  JwtLogin,
  LiveSession,
  SessionRecorderPort,
} from '../session/context.js';
import type { UpstreamTarget } from '../upstream/connect.js';
import { log } from '../util/logger.js';
import { isLoopback } from '../util/net.js';
import { Metrics } from '../util/metrics.js';
import { upstreamSettings } from '../session/params.js';
import { Catalogs } from './catalogs.js';
import { buildSnapshot, devKeyWarning, type Snapshot } from './snapshot.js';
import { StartupBudget } from './startup-budget.js';

export interface GatewayOptions {
  config: GatewayConfig;
  /** Where relative paths in the config are resolved. */
  baseDir: string;
  /** The config file, for reloads. */
  configFile?: string;
  /** Used when the config names no upstream (the embedded development database). */
  embedded?: UpstreamTarget;
  /** Recorder, when recording is on (built by the caller from config.recording). */
  recorder?: SessionRecorderPort & {
    gatewayEvent?(type: string, f: Record<string, unknown>): Promise<void>;
  };
  /** Extra admin routes mounted by other stages. */
  mountAdmin?: (app: ReturnType<typeof adminApp>, gw: Gateway) => void;
}

const RELOAD_OK = { result: 'ok' };
const RELOAD_FAILED = { result: 'failed' };

/** Most connections at once that have not logged in (TCP, TLS handshake, startup, auth). */
const STARTUP_BUDGET = 100;

export class Gateway {
  snapshot!: Snapshot;
  readonly metrics = new Metrics();
  readonly cancels = new CancelRegistry();
  readonly sessions = new Set<LiveSession>();
  private readonly upstreamInUse = new Map<string, number>();
  private server: Server | undefined;
  /** Connections still logging in, oldest first. */
  private readonly starting = new StartupBudget<Socket>(STARTUP_BUDGET);
  private admin: ServerType | undefined;
  private shuttingDown = false;
  /** Counts reloads (see GatewayContext.authGeneration). */
  private authGeneration = 0;
  /** The configuration running (the last one loaded). */
  private config: GatewayConfig;
  get runningConfig(): GatewayConfig {
    return this.config;
  }
  /**
   * The login limiter, one for every config, so that a reload keeps its lockouts (a change
   * of bindUser too: the authenticator leaves the per-user rule out while names are unbound).
   */
  private readonly limiter: FailureLimiter = createFailureLimiter();
  private ready = false;
  readonly context: GatewayContext;
  private readonly catalogs: Catalogs;
  port = 0;
  adminPort = 0;

  constructor(private readonly opts: GatewayOptions) {
    this.config = opts.config;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const gw = this;
    this.catalogs = new Catalogs({
      refreshMs: () => gw.snapshot.catalog.refreshMs,
      settings: () => upstreamSettings({}, gw.snapshot.settings.pinned),
      acquire: (target) => gw.context.acquireUpstream(target),
      release: (target) => gw.context.releaseUpstream(target),
    });
    this.context = {
      settings: () => gw.snapshot.settings,
      heldInput: new HeldInput(() => gw.snapshot.settings.limits.maxHeldInputBytes),
      tls: () => gw.snapshot.tls,
      authenticate: (password, ctx) => gw.snapshot.authenticator.authenticate(password, ctx),
      policy: () => gw.snapshot.policy,
      route: (database, identity) => {
        const s = gw.snapshot;
        let picked: string | undefined;
        try {
          picked = s.select?.({ database, identity });
        } catch (err) {
          log.error('upstream.select failed; refusing the connection', { err });
          return undefined;
        }
        if (picked !== undefined) return s.targets.get(picked);
        const name = s.routes.get(database) ?? s.routes.get('*');
        return name ? s.targets.get(name) : undefined;
      },
      catalog: (target) => gw.catalogs.current(target),
      readCatalog: (target) =>
        gw.snapshot.catalog.enabled ? gw.catalogs.ensure(target) : Promise.resolve(),
      schemaChanged: (target) => gw.catalogs.changed(target),
      acquireUpstream: (target) => {
        const max = gw.snapshot.targets.get(target)?.maxConnections ?? 0;
        const n = gw.upstreamInUse.get(target) ?? 0;
        if (n >= max) return false;
        gw.upstreamInUse.set(target, n + 1);
        return true;
      },
      releaseUpstream: (target) => {
        gw.upstreamInUse.set(target, Math.max(0, (gw.upstreamInUse.get(target) ?? 0) - 1));
      },
      revokedKey: ({ id, fingerprint, user, identity }) => {
        const now = gw.snapshot.apiKeys.get(id);
        if (now === undefined) return `API key ${id} was removed`;
        if (now !== fingerprint) return `API key ${id} was changed`;
        // A reload that binds the startup user (auth.jwt.bindUser) binds key logins too.
        if (!gw.snapshot.authenticator.binds(identity, user))
          return `API key ${id}: the startup user does not match auth.jwt.bindUser`;
        return undefined;
      },
      authGeneration: () => gw.authGeneration,
      staleJwt: (login) => gw.staleJwt(login),
      recorder: () => gw.opts.recorder,
      metrics: this.metrics,
      cancels: this.cancels,
      sessions: this.sessions,
      isShuttingDown: () => gw.shuttingDown,
      auditGateway: (type, fields) => {
        gw.opts.recorder
          ?.gatewayEvent?.(type, fields)
          .catch(() => log.error('could not record a gateway event', { type }));
      },
    };
  }

  /** Build the runtime and start listening. */
  async start(): Promise<void> {
    await initSql();
    this.snapshot = await buildSnapshot(this.opts.config, {
      baseDir: this.opts.baseDir,
      embedded: this.opts.embedded,
      limiter: this.limiter,
    });
    const { listen, admin } = this.snapshot;
    this.metrics.policy.set({ version: this.snapshot.policy.version });
    // allowHalfOpen: a client that half-closes after its last Query still gets the answer, as
    // from PostgreSQL (the session closes once in-flight work is answered).
    this.server = createServer({ pauseOnConnect: false, allowHalfOpen: true }, (sock: Socket) => {
      // Connections not yet logged in have a budget of their own (see StartupBudget).
      const starting = this.starting;
      starting.add(sock, sock.remoteAddress)?.destroy();
      sock.once('close', () => starting.delete(sock));
      acceptClient(this.context, sock, this.snapshot.listen.maxClients)
        .catch((err) => {
          log.error('client setup failed', { err });
          sock.destroy();
        })
        .finally(() => starting.delete(sock));
    });
    this.server.maxConnections = listen.maxClients + STARTUP_BUDGET;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(listen.port, listen.host, () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : listen.port;
    const app = adminApp({
      // Not ready while the recording refuses every statement (fail closed): a load
      // balancer sends clients to another gateway.
      ready: () => this.ready && !this.shuttingDown && (this.opts.recorder?.accepting ?? true),
      metrics: () => this.metrics.render(),
    });
    this.opts.mountAdmin?.(app, this);
    await new Promise<void>((resolve) => {
      this.admin = serve({ fetch: app.fetch, port: admin.port, hostname: admin.host }, (info) => {
        this.adminPort = info.port;
        resolve();
      });
    });
    this.ready = true;
    if (
      !isLoopback(listen.host) &&
      !this.snapshot.tls &&
      this.snapshot.settings.requireTlsForRemote
    )
      log.warn(
        'listening beyond loopback without listen.tls: remote clients are refused, since TLS is required for them (set listen.tls, or listen.requireTlsForRemote: false)',
        { host: listen.host },
      );
    const devKey = devKeyWarning(this.opts.config);
    if (devKey) log.warn(devKey);
    const auth = this.opts.config.auth;
    if (auth?.apiKeys?.length === 0 && !auth.jwt)
      log.warn('auth: auth.apiKeys is empty and auth.jwt is not set: no client can log in');
    log.info('gateway ready', {
      host: listen.host,
      port: this.port,
      admin_port: this.adminPort,
      policy: this.snapshot.policy.version,
    });
  }

  /**
   * Reload config and policy from disk: the new snapshot is built (policy compiled, its
   * tests run) before the swap; on failure the old one stays and the reason is logged.
   * Statements already decided keep the decision they got.
   */
  async reload(): Promise<boolean> {
    try {
      const file = this.opts.configFile;
      const config = file ? (await loadConfig(file)).config : this.opts.config;
      const baseDir = file ? dirname(file) : this.opts.baseDir;
      // Keys named before, the development key now (auth.jwt or every API key removed):
      // anyone who can read the data directory could mint tokens. Refused; a restart can.
      const devKey = devKeyWarning(config);
      if (devKey && !devKeyWarning(this.config))
        throw new Error(`the reloaded configuration would trust the development key: ${devKey}`);
      const next = await buildSnapshot(config, {
        baseDir,
        embedded: this.opts.embedded,
        limiter: this.limiter,
      });
      const prev = this.snapshot.policy.version;
      const { listen } = this.snapshot;
      // The admin token applies at once; the sockets stay bound.
      const admin = { ...this.snapshot.admin, token: next.admin.token };
      // Sockets stay bound: say so rather than let an edited address look applied.
      for (const [key, was, now] of [
        ['listen', listen, next.listen],
        [
          'admin',
          { host: admin.host, port: admin.port },
          { host: next.admin.host, port: next.admin.port },
        ],
      ] as const)
        if (JSON.stringify(was) !== JSON.stringify(now))
          log.warn(`${key} changes take effect at the next start`, {
            running: was,
            configured: now,
          });
      if (recordingShape(this.config.recording) !== recordingShape(config.recording))
        log.warn('recording changes take effect at the next start');
      this.snapshot = { ...next, listen, admin };
      // A target may name another database now: its catalog is read again.
      this.catalogs.clear();
      this.authGeneration++;
      this.revokeChangedKeys();
      await this.recheckJwtSessions();
      this.config = config;
      log.info('configuration reloaded', { policy: next.policy.version, previous_policy: prev });
      this.metrics.reloads.inc(RELOAD_OK);
      this.metrics.policy.set({ version: next.policy.version });
      this.context.auditGateway('config_reload', {
        ok: true,
        policy_version: next.policy.version,
        previous_policy_version: prev,
      });
      return true;
    } catch (err) {
      this.metrics.reloads.inc(RELOAD_FAILED);
      log.error('reload failed; keeping the running configuration', {
        err: (err as Error).message,
      });
      this.context.auditGateway('config_reload', { ok: false, error: (err as Error).message });
      return false;
    }
  }

  /**
   * End the sessions of API keys that a reload removed or changed (secret, identity): a
   * revoked key must not keep the sessions it opened.
   */
  private revokeChangedKeys(): void {
    for (const s of [...this.sessions]) {
      const why = s.apiKey && this.context.revokedKey(s.apiKey);
      if (!why) continue;
      log.warn('session ended: its API key was revoked or changed', {
        session: s.id,
        api_key_id: s.apiKey!.id,
      });
      s.revoke(why);
    }
  }

  /**
   * Why a JWT login may no longer run under the running config: its token does not verify
   * (its key was withdrawn, the issuer or audience changed) or maps to another identity.
   * Keys that cannot be fetched say nothing against it: the session stays.
   */
  private async staleJwt(login: JwtLogin): Promise<string | undefined> {
    const r = await this.snapshot.authenticator.recheck(login.token, {
      user: login.user,
      clientAddr: login.clientAddr,
    });
    if (!r.ok) {
      if (!r.unavailable) return 'its token does not verify under the reloaded configuration';
      log.warn('a session token could not be verified again: its keys are unavailable', {
        sub: login.identity.sub,
        reason: r.reason,
      });
      return undefined;
    }
    if (identityKey(r.identity) !== identityKey(login.identity))
      return 'its token maps to another identity under the reloaded configuration';
    return undefined;
  }

  /** End the JWT sessions whose tokens no longer verify under the reloaded config. */
  private async recheckJwtSessions(): Promise<void> {
    await Promise.all(
      [...this.sessions].map(async (s) => {
        const login = s.jwt;
        const why = login && (await this.staleJwt(login));
        if (!why) return;
        log.warn('session ended: its token no longer verifies', {
          session: s.id,
          sub: login.identity.sub,
        });
        s.revoke(why);
      }),
    );
  }

  /**
   * Stop accepting, let in-flight statements finish within `graceMs`, then close everyone.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.server?.close();
    for (const s of this.sessions) s.shutdown('shutdown');
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    if (this.sessions.size > 0) {
      log.warn('shutdown grace period over: ending the sessions still busy', {
        sessions: this.sessions.size,
      });
      // Their statements are cancelled upstream before the process may exit.
      const cancels = [...this.sessions].map((s) => s.terminate());
      await Promise.race([Promise.all(cancels), new Promise((r) => setTimeout(r, 3000))]);
    }
    await new Promise<void>((resolve) =>
      this.admin ? this.admin.close(() => resolve()) : resolve(),
    );
  }
}

/** The recording settings as text, each sink by its kind (sinks may hold clients). */
function recordingShape(r: GatewayConfig['recording']): string {
  if (!r) return '{}';
  const sinks = (r.sinks ?? []).map((k) => {
    if (!k || typeof k !== 'object') return typeof k;
    const o = k as Record<string, unknown>;
    return String(o.type ?? o.name ?? o.kind ?? o.constructor?.name ?? 'sink');
  });
  return JSON.stringify({ ...r, sinks });
}

/** What of an identity decides: a token that maps to another under a new config is stale. */
function identityKey(id: Identity): string {
  return JSON.stringify([id.sub, id.iss, id.email, id.groups, id.agent, id.on_behalf_of]);
}
