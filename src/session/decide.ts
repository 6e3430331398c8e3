// The decision point: statement facts + identity + session state → a decision, cached per
// session when the policy reads nothing that changes between identical statements.
import { randomUUID } from 'node:crypto';
import { ClientError } from '../wire/index.js';
import type { ErrorFields } from '../wire/backend.js';
import type { StatementFacts } from '../sql/types.js';
import type {
  Decision,
  DecisionRecord,
  Identity,
  PolicyEngine,
  PolicyInput,
  SessionFacts,
  StatementInput,
} from '../policy/types.js';

const MAX_CACHED = 2048;

export class DecisionPoint {
  private cache = new Map<string, DecisionRecord>();
  private cachedFor: PolicyEngine | undefined;

  constructor(
    private readonly engine: () => PolicyEngine,
    readonly identity: Identity,
    readonly session: SessionFacts,
  ) {}

  decide(
    facts: StatementFacts,
    protocol: 'simple' | 'extended',
    params: (string | null)[] | null,
    index: number,
    count: number,
  ): DecisionRecord {
    const engine = this.engine();
    if (engine !== this.cachedFor) {
      this.cache.clear();
      this.cachedFor = engine;
    }
    const cacheable = !engine.readsVolatileInput && !(params && engine.readsParams);
    let key = '';
    if (cacheable) {
      key = `${facts.fingerprint}\0${protocol}\0${this.session.in_transaction ? 1 : 0}\0${index}\0${count}`;
      const hit = this.cache.get(key);
      if (hit) return hit;
    }
    const statement: StatementInput = { ...facts, protocol, params, index, count };
    const input: PolicyInput = {
      identity: this.identity,
      session: this.session,
      statement,
      now_ns: Date.now() * 1e6,
    };
    let decision: Decision;
    try {
      decision = engine.decide(input);
    } catch {
      decision = { kind: 'deny', reasons: ['the policy could not be evaluated'] };
    }
    const rec: DecisionRecord = {
      decision,
      id: decision.kind === 'allow' ? '' : randomUUID(),
      policyVersion: engine.version,
    };
    if (cacheable) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(key, rec);
    }
    return rec;
  }
}

/** The error an agent sees for a refused statement: reason, JSON detail, hint. */
export function refusalFields(rec: DecisionRecord): ErrorFields {
  const d = rec.decision;
  const reasons = d.reasons.length ? d.reasons : ['no policy rule allows this statement'];
  if (d.kind === 'approval') {
    return ClientError.denied(
      `statement requires approval: ${d.approval.reason || reasons[0]}`,
      JSON.stringify({ decision_id: rec.id, decision: 'approval', reasons, approval: d.approval }),
      d.hint ?? 'this gateway cannot hold statements for approval yet; ask an operator',
    );
  }
  return ClientError.denied(
    `statement denied by policy: ${reasons.join('; ')}`,
    JSON.stringify({
      decision_id: rec.id,
      decision: 'deny',
      reasons,
      policy_version: rec.policyVersion,
    }),
    d.kind === 'deny' ? d.hint : undefined,
  );
}
