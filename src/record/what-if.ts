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
  session_id: string;
  seq: number;
  ts: string;
  sql: string;
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

/** Rebuild the policy input a statement event was decided with. */
export function policyInputOf(ev: RecordedEvent, start?: RecordedEvent): PolicyInput {
  const session: SessionFacts = {
    id: ev.session_id,
    database: (start?.database as string) ?? '',
    target: (start?.target as string) ?? '',
    application_name: (start?.application_name as string) ?? '',
    client_addr: (start?.client_addr as string) ?? '',
    tls: (start?.tls as boolean) ?? false,
    in_transaction: ev.in_transaction === true,
  };
  const pinned = start?.pinned;
  if (pinned && typeof pinned === 'object' && !Array.isArray(pinned))
    session.pinned = pinned as Record<string, string>;
  if (typeof start?.default_read_only === 'boolean')
    session.default_read_only = start.default_read_only;
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
 * Re-decide every recorded statement (at or after `since`) and return those whose
 * decision kind would change (all of them with `all: true`).
 * @example
 * for (const c of whatIf(await reader.allEvents(), engine)) console.log(c.seq, c.before, '→', c.after);
 */
export function whatIf(
  events: RecordedEvent[],
  engine: PolicyEngine,
  opts: { since?: number; all?: boolean } = {},
): WhatIfChange[] {
  const starts = new Map<string, RecordedEvent>();
  const out: WhatIfChange[] = [];
  for (const ev of events) {
    if (ev.type === 'session_start') starts.set(ev.session_id, ev);
    if (ev.type !== 'statement') continue;
    // Refused by the gateway itself: no policy decides it otherwise.
    if (ev.decided_by === 'gateway') continue;
    if (opts.since !== undefined && Date.parse(ev.ts) < opts.since) continue;
    const after = enforceable(engine.decide(policyInputOf(ev, starts.get(ev.session_id))));
    const before = ev.decision as Decision['kind'];
    if (opts.all || after.kind !== before)
      out.push({
        session_id: ev.session_id,
        seq: ev.seq,
        ts: ev.ts,
        sql: ev.sql as string,
        before,
        after: after.kind,
        reasons: after.reasons,
        before_reasons: (ev.reasons as string[]) ?? [],
      });
  }
  return out;
}
