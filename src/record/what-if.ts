// Re-deciding recorded statements under a candidate policy (`portcullis policy replay`).
import type {
  Decision,
  Identity,
  PolicyEngine,
  PolicyInput,
  SessionFacts,
} from '../policy/types.js';
import type { RecordedEvent } from './event.js';
import { enforceable } from '../policy/decision.js';

export interface WhatIfChange {
  /** A statement re-decided, or a login re-decided by the `connect` rule. */
  kind: 'statement' | 'connect';
  session_id: string;
  seq: number;
  ts: string;
  /** The statement; for a login, '' (`sub` and `database` say who asked for what). */
  sql: string;
  sub: string | null;
  database: string | null;
  before: Decision['kind'];
  after: Decision['kind'];
  /** Reasons of the new decision. */
  reasons: string[];
  before_reasons: string[];
}

/** The identity as recorded (claims are not recorded: policies reading them see {}). */
function identityOf(ev: RecordedEvent, start?: RecordedEvent): Identity {
  return {
    sub: ev.sub ?? '',
    iss: ev.iss ?? undefined,
    email: (start?.email as string | null) ?? undefined,
    groups: ev.groups ?? [],
    agent: ev.agent ?? undefined,
    on_behalf_of: ev.on_behalf_of ?? undefined,
    method: (ev.auth_method as Identity['method']) ?? 'jwt',
    claims: {},
  };
}

/** The session facts recorded at login (`session_start`, or a policy's `connect_refused`). */
function sessionOf(id: string, start: RecordedEvent | undefined, inTxn: boolean): SessionFacts {
  const session: SessionFacts = {
    id,
    database: (start?.database as string) ?? '',
    target: (start?.target as string) ?? '',
    application_name: (start?.application_name as string) ?? '',
    client_addr: (start?.client_addr as string) ?? '',
    tls: (start?.tls as boolean) ?? false,
    in_transaction: inTxn,
  };
  const pinned = start?.pinned;
  if (pinned && typeof pinned === 'object' && !Array.isArray(pinned))
    session.pinned = pinned as Record<string, string>;
  if (typeof start?.default_read_only === 'boolean')
    session.default_read_only = start.default_read_only;
  return session;
}

/**
 * Rebuild the input the `connect` rule decided a login with, from its `session_start` or
 * `connect_refused` event. The rule saw no session id (there was none yet) and no
 * `default_read_only` (read from PostgreSQL after the login).
 */
export function connectInputOf(ev: RecordedEvent): PolicyInput {
  const session = sessionOf('', ev, false);
  delete session.default_read_only;
  return { identity: identityOf(ev, ev), session, now_ns: Date.parse(ev.ts) * 1e6 };
}

/** Rebuild the policy input a statement event was decided with. */
export function policyInputOf(ev: RecordedEvent, start?: RecordedEvent): PolicyInput {
  const session = sessionOf(ev.session_id, start, ev.in_transaction === true);
  const extra = (ev.extra as Record<string, unknown> | null) ?? {};
  const statement: PolicyInput['statement'] = {
    ...extra,
    text: ev.sql as string,
    fingerprint: ev.fingerprint as string,
    command: ev.command as string,
    class: ev.class as never,
    relations: (ev.relations as never) ?? [],
    columns: (ev.columns as never) ?? [],
    functions: (ev.functions as never) ?? [],
    has_where: ev.has_where === true,
    opaque: ev.opaque === true,
    ...(typeof ev.parse_error === 'string' ? { parse_error: ev.parse_error } : {}),
    protocol: ev.protocol === 'simple' ? 'simple' : 'extended',
    // Redacted parameters are gone; the candidate policy sees none.
    params: Array.isArray(ev.params) ? (ev.params as (string | null)[]) : null,
    index: (ev.index as number) ?? 0,
    count: (ev.count as number) ?? 1,
  };
  return { identity: identityOf(ev, start), session, statement, now_ns: Date.parse(ev.ts) * 1e6 };
}

/**
 * Re-decide every recorded login and statement (at or after `since`) and return those whose
 * decision kind would change (all of them with `all: true`). A login is re-decided by the
 * candidate's `connect` rule: a session it would refuse has each statement listed as
 * refused (none would have run), and a login the policy refused (`connect_refused` with its
 * session facts) may now be let in.
 * @example
 * for (const c of whatIf(await reader.allEvents(), engine)) console.log(c.seq, c.before, '→', c.after);
 */
export function whatIf(
  events: RecordedEvent[],
  engine: PolicyEngine,
  opts: { since?: number; all?: boolean } = {},
): WhatIfChange[] {
  const starts = new Map<string, RecordedEvent>();
  /** Sessions the candidate refuses at login, with its reasons. */
  const refused = new Map<string, string[]>();
  const out: WhatIfChange[] = [];
  const keep = (c: WhatIfChange) => {
    if (opts.all || c.after !== c.before) out.push(c);
  };
  const since = (ev: RecordedEvent) => opts.since === undefined || Date.parse(ev.ts) >= opts.since;
  for (const ev of events) {
    if (ev.type === 'session_start') {
      starts.set(ev.session_id, ev);
      const verdict = engine.connect(connectInputOf(ev));
      if (!verdict.allowed) refused.set(ev.session_id, [loginReason(verdict.reason)]);
      if (since(ev)) keep(login(ev, 'allow', verdict));
      continue;
    }
    // A login the policy refused: recorded with what its connect rule saw (a database not
    // served, or an older gateway's event, carries no target and is not re-decided).
    if (ev.type === 'connect_refused' && typeof ev.target === 'string') {
      if (since(ev)) keep(login(ev, 'deny', engine.connect(connectInputOf(ev))));
      continue;
    }
    if (ev.type !== 'statement') continue;
    // Refused by the gateway itself: no policy decides it otherwise.
    if (ev.decided_by === 'gateway') continue;
    if (!since(ev)) continue;
    const noLogin = refused.get(ev.session_id);
    const after = noLogin
      ? { kind: 'deny' as const, reasons: noLogin }
      : enforceable(engine.decide(policyInputOf(ev, starts.get(ev.session_id))));
    keep({
      kind: 'statement',
      session_id: ev.session_id,
      seq: ev.seq,
      ts: ev.ts,
      sql: ev.sql as string,
      sub: ev.sub,
      database: (starts.get(ev.session_id)?.database as string | undefined) ?? null,
      before: ev.decision as Decision['kind'],
      after: after.kind,
      reasons: after.reasons,
      before_reasons: (ev.reasons as string[]) ?? [],
    });
  }
  return out;
}

function loginReason(reason: string | undefined): string {
  return 'the login would be refused: ' + (reason ?? 'connection refused by policy');
}

function login(
  ev: RecordedEvent,
  before: 'allow' | 'deny',
  verdict: { allowed: boolean; reason?: string },
): WhatIfChange {
  return {
    kind: 'connect',
    session_id: ev.session_id,
    seq: ev.seq,
    ts: ev.ts,
    sql: '',
    sub: ev.sub,
    database: (ev.database as string | undefined) ?? null,
    before,
    after: verdict.allowed ? 'allow' : 'deny',
    reasons: verdict.allowed ? [] : [loginReason(verdict.reason)],
    before_reasons: before === 'deny' && typeof ev.reason === 'string' ? [ev.reason] : [],
  };
}
