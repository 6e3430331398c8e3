// From an accepted TCP connection to a running session: startup, routing, the `connect`
// rule, an upstream login with the gateway's credential, and the client's own key data.
import type { Socket } from 'node:net';
import { UpstreamError, connectUpstream } from '../upstream/connect.js';
import { AUTH_OK, ClientError, backendKeyData, readyForQuery } from '../wire/index.js';
import { log } from '../util/logger.js';
import type { GatewayContext, SessionRecordingPort } from './context.js';
import { upstreamSettings } from './params.js';
import { Session } from './session.js';
import { refuse, runStartup } from './startup.js';

export async function acceptClient(
  ctx: GatewayContext,
  raw: Socket,
  maxClients: number,
): Promise<void> {
  raw.setNoDelay(true);
  raw.on('error', () => raw.destroy());
  ctx.metrics.connectionsTotal.inc();
  if (ctx.isShuttingDown()) return refuse(raw, ClientError.shuttingDown());
  // A CancelRequest is read (and honoured) even when the gateway is full, as in PostgreSQL:
  // the cap applies to logins.
  const a = await runStartup(ctx, raw);
  if (!a) return;
  const { socket } = a;
  // A login that was still under way when the shutdown began is refused like a new
  // connection: the shutdown tells only the sessions it finds, and one let in after it
  // would run statements until the grace period ends.
  if (ctx.isShuttingDown()) return refuse(socket, ClientError.shuttingDown());
  if (ctx.sessions.size >= maxClients) return refuse(socket, ClientError.tooManyConnections());
  const target = ctx.route(a.startup.database, a.identity);
  if (!target) {
    // An identity the gateway verified, refused what it asked for: recorded as a policy
    // refusal is, so that an audit shows who looked for which database.
    ctx.auditGateway('connect_refused', {
      sub: a.identity.sub,
      client_addr: a.clientAddr,
      database: a.startup.database,
      reason: 'database not served',
    });
    return refuse(socket, ClientError.unknownDatabase(a.startup.database));
  }
  // The settings this session is pinned with upstream, and analysed under, from here on.
  const settings = ctx.settings();
  const sessionFacts = {
    id: '',
    database: a.startup.database,
    target: target.name,
    application_name: a.startup.applicationName,
    client_addr: a.clientAddr,
    tls: a.tls,
    in_transaction: false,
    pinned: settings.pinned,
  };
  const verdict = ctx
    .policy()
    .connect({ identity: a.identity, session: sessionFacts, now_ns: Date.now() * 1e6 });
  if (!verdict.allowed) {
    // With what the rule saw, as a session_start records it: `policy replay` decides the
    // login again under a candidate policy.
    const id = a.identity;
    ctx.auditGateway('connect_refused', {
      sub: id.sub,
      iss: id.iss ?? null,
      auth_method: id.method,
      groups: id.groups,
      agent: id.agent ?? null,
      on_behalf_of: id.on_behalf_of ?? null,
      email: id.email ?? null,
      client_addr: a.clientAddr,
      application_name: sessionFacts.application_name,
      database: sessionFacts.database,
      target: sessionFacts.target,
      tls: sessionFacts.tls,
      pinned: sessionFacts.pinned,
      reason: verdict.reason ?? '',
    });
    return refuse(
      socket,
      ClientError.connectRefused(verdict.reason ?? 'connection refused by policy'),
    );
  }
  // The first login to a target waits for its catalog (read on a connection of the gateway's
  // own, beside the login's connect: an upstream that hangs costs one connect timeout, not
  // two); later ones start a read beside when it is due.
  const catalogRead = ctx.readCatalog(target);
  // The read holds a connection slot until it is done: a login that finds none free while
  // it runs waits for it before it is refused.
  if (!ctx.acquireUpstream(target.name)) {
    await catalogRead;
    if (socket.destroyed) return;
    if (!ctx.acquireUpstream(target.name)) return refuse(socket, ClientError.tooManyConnections());
  }
  let released = false;
  const release = () => {
    if (!released) ctx.releaseUpstream(target.name);
    released = true;
  };
  let up;
  try {
    up = await connectUpstream(target, upstreamSettings(a.startup.passthrough, settings.pinned));
  } catch (err) {
    release();
    const setting = refusedSetting(err, a.startup.passthrough);
    if (setting) {
      // The client's own choice (a bad TimeZone, say): its fault, not the upstream's. The
      // value is the client's, so it is neither logged nor echoed.
      log.info('upstream refused a startup setting', { target: target.name, setting });
      return refuse(socket, ClientError.startupSettingRefused(setting.name, setting.sqlstate));
    }
    log.error('upstream login failed', { target: target.name, err });
    ctx.metrics.upstreamLoginFailures.inc({ target: target.name });
    return refuse(socket, ClientError.upstreamUnavailable());
  }
  await catalogRead;
  if (socket.destroyed) {
    release();
    up.socket.destroy();
    return;
  }
  const keys = ctx.cancels.issue(target, up.pid, up.secret);
  const session = new Session(ctx, a, target, up, keys.pid, settings);
  let recording: SessionRecordingPort | undefined;
  const recorder = ctx.recorder();
  if (recorder) {
    try {
      recording = await recorder.openSession({
        sessionId: session.id,
        identity: a.identity,
        client_addr: a.clientAddr,
        application_name: a.startup.applicationName,
        database: a.startup.database,
        target: target.name,
        tls: a.tls,
        upstream_user: target.user,
        pinned: sessionFacts.pinned,
        settings: Object.fromEntries(
          Object.entries(a.startup.passthrough).filter(([k]) => k !== 'application_name'),
        ),
        default_read_only: session.startedReadOnly,
      });
    } catch (err) {
      log.error('recording unavailable: connection refused', { err });
      ctx.cancels.release(keys.pid);
      release();
      up.socket.destroy();
      return refuse(socket, ClientError.connectRefused('the session cannot be recorded right now'));
    }
  }
  // A reload while this login went on may have withdrawn its token's key (the reload's
  // sweep saw no session yet): it is verified again under the running config, as often as
  // reloads came meanwhile.
  const login = session.jwt;
  let stale: string | undefined;
  for (let gen = a.authGeneration; login && !stale && gen !== ctx.authGeneration();) {
    gen = ctx.authGeneration();
    stale = await ctx.staleJwt(login);
  }
  ctx.metrics.connections.add(1);
  ctx.metrics.upstreamConnections.add(1);
  ctx.sessions.add(session);
  // So for an API key a reload revoked (Gateway.revokeChangedKeys saw no session yet):
  // nothing it sent runs. So for a shutdown that began meanwhile.
  const revoked =
    (a.apiKey && ctx.revokedKey({ ...a.apiKey, user: a.startup.user, identity: a.identity })) ||
    stale;
  if (revoked || ctx.isShuttingDown()) {
    session.start(recording, []);
    return revoked ? session.revoke(revoked) : session.shutdown('shutdown');
  }
  socket.cork();
  socket.write(AUTH_OK);
  for (const p of up.parameterFrames) socket.write(p);
  socket.write(backendKeyData(keys.pid, keys.secret.readInt32BE(0)));
  socket.write(readyForQuery(up.status));
  socket.uncork();
  session.start(recording, [a.leftover]);
}

/** The client's startup setting an upstream login error names, if it names one. */
function refusedSetting(
  err: unknown,
  passthrough: Record<string, string>,
): { name: string; sqlstate: string } | undefined {
  if (!(err instanceof UpstreamError) || !err.sqlstate) return undefined;
  const m = /parameter "([^"]{1,63})"/.exec(err.message);
  if (!m || !(m[1].toLowerCase() in passthrough)) return undefined;
  return { name: m[1], sqlstate: err.sqlstate };
}
