// The decision contract between the session and a policy engine (see docs/policy-api.md).
import type { StatementFacts } from '../sql/types.js';

export interface Identity {
  sub: string;
  iss?: string;
  email?: string;
  groups: string[];
  agent?: string;
  on_behalf_of?: string;
  method: 'jwt' | 'api_key';
  claims: Record<string, unknown>;
}

export interface SessionFacts {
  id: string;
  database: string;
  target: string;
  application_name: string;
  client_addr: string;
  tls: boolean;
  in_transaction: boolean;
  /**
   * Settings the gateway pins on every upstream session (search_path, client_encoding,
   * standard_conforming_strings, statement_timeout and idle_in_transaction_session_timeout
   * when configured), as sent at login. Absent where no session is (policy replay).
   */
  pinned?: Record<string, string>;
  /**
   * Whether the upstream session began with default_transaction_read_only on (set for the
   * gateway's database role or the database, or asked for at login), as PostgreSQL
   * reported it; absent where the server does not report it.
   */
  default_read_only?: boolean;
}

export interface StatementInput extends StatementFacts {
  protocol: 'simple' | 'extended';
  params: (string | null)[] | null;
  index: number;
  count: number;
}

export interface PolicyInput {
  identity: Identity;
  session: SessionFacts;
  statement?: StatementInput;
  now_ns: number;
}

export interface ApprovalRequirement {
  reason: string;
  approvers: string[];
  quorum: number;
  ttl_seconds: number;
}

export interface Limits {
  max_rows?: number;
  timeout_ms?: number;
}

/**
 * What the recording leaves out of a statement's event (the policy's `redact` set):
 * `params` records its bound parameters as "redacted", `literals` its text with every
 * constant and comment replaced.
 */
export type Redaction = 'params' | 'literals';

export type Decision = (
  | { kind: 'allow'; mask: Record<string, string>; limits: Limits; reasons: string[] }
  | { kind: 'deny'; reasons: string[]; hint?: string }
  | { kind: 'approval'; approval: ApprovalRequirement; reasons: string[]; hint?: string }
) & {
  /** Present only when the policy's `redact` set is not empty; sorted. */
  redact?: Redaction[];
};

/** A decision together with the bookkeeping the recorder and the client error need. */
export interface DecisionRecord {
  decision: Decision;
  /** Unique per decision, shown to agents in error DETAIL. */
  id: string;
  policyVersion: string;
  /** The policy read the text, parameters or clock: decide again at Bind, never cache. */
  volatile?: boolean;
  /**
   * Made by the gateway, not the policy (a statement it cannot read, a cursor it never saw):
   * a policy cannot change it, so `policy replay` does not re-decide it.
   */
  by?: 'gateway';
}

/** What any policy engine offers the session (built-in Rego, opa-wasm, allow-all). */
export interface PolicyEngine {
  /** Content hash or label of the loaded policy. */
  readonly version: string;
  /** Decide one statement. Must not throw: an engine error is a deny. */
  decide(input: PolicyInput): Decision;
  /** Evaluate the `connect` rule; undefined rule means allowed. */
  connect(input: PolicyInput): { allowed: boolean; reason?: string };
  /**
   * Whether decisions depend on anything but facts, identity and session state
   * (statement text, parameters, time). When false, the session may cache them.
   */
  readonly readsVolatileInput: boolean;
  /** Whether decisions read bound parameter values (decide again at Bind). */
  readonly readsParams: boolean;
  /**
   * Whether the policy may redact anything (it has a `redact` rule): statements refused
   * before they could be decided are then recorded with their literals redacted.
   */
  readonly mayRedact?: boolean;
}
