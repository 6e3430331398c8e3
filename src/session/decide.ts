// The decision point: statement facts + identity + session state → a decision, cached per
// session when the policy reads nothing that changes between identical statements.
import { randomUUID } from 'node:crypto';
import { ClientError } from '../wire/index.js';
import type { ErrorFields } from '../wire/backend.js';
import { FACTS_KEY } from '../sql/index.js';
import { enforceable } from '../policy/decision.js';
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
  /** Facts identity → (protocol, transaction state, position in the string) → decision. */
  private cache = new Map<string, Map<number, DecisionRecord>>();
  private cached = 0;
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
      this.cached = 0;
      this.cachedFor = engine;
    }
    // Cached decisions are keyed by the facts' identity (see factsKey) and the session
    // state the policy can see; a decision that read the text, the parameters or the
    // clock is never cached.
    const fk = factsKey(facts);
    // The facts identity is a string shared by every statement of one shape (its hash is
    // computed once); the rest of the key is a number, so a hit builds no string.
    const sub =
      index < 0x10000 && count < 0x10000
        ? ((index * 0x10000 + count) * 2 + (protocol === 'simple' ? 1 : 0)) * 2 +
          (this.session.in_transaction ? 1 : 0)
        : -1;
    const cacheable = !engine.readsVolatileInput && fk !== undefined && sub >= 0;
    let byState: Map<number, DecisionRecord> | undefined;
    if (cacheable) {
      byState = this.cache.get(fk);
      const hit = byState?.get(sub);
      // A refusal's id names that refusal (agents quote it from the error's DETAIL).
      if (hit) return hit.id === '' ? hit : { ...hit, id: randomUUID() };
    }
    let volatileRead = false;
    const statement = { ...facts, protocol, index, count } as StatementInput;
    const text = facts.text;
    Object.defineProperty(statement, 'text', {
      enumerable: true,
      get: () => ((volatileRead = true), text),
    });
    Object.defineProperty(statement, 'params', {
      enumerable: true,
      get: () => ((volatileRead = true), params),
    });
    const now = Date.now() * 1e6;
    const input = { identity: this.identity, session: this.session, statement } as PolicyInput;
    Object.defineProperty(input, 'now_ns', {
      enumerable: true,
      get: () => ((volatileRead = true), now),
    });
    let decision: Decision;
    try {
      decision = enforceable(engine.decide(input));
    } catch {
      decision = { kind: 'deny', reasons: ['the policy could not be evaluated'] };
    }
    const rec: DecisionRecord = {
      decision,
      id: decision.kind === 'allow' ? '' : randomUUID(),
      policyVersion: engine.version,
      volatile: volatileRead || engine.readsVolatileInput,
    };
    if (cacheable && !volatileRead) {
      if (this.cached >= MAX_CACHED) {
        this.cache.clear();
        this.cached = 0;
        byState = undefined;
      }
      if (!byState) this.cache.set(fk, (byState = new Map()));
      byState.set(sub, rec);
      this.cached++;
    }
    return rec;
  }
}

/**
 * Identity of a statement's facts for the decision cache. The sql stage shares one facts
 * template between texts that differ only in literals, and marks it; without the mark the
 * exact text is the key (never the fingerprint alone, which ignores literals that can
 * matter, e.g. set_config's first argument).
 */
function factsKey(facts: StatementFacts): string | undefined {
  const k = (facts as unknown as Record<symbol, unknown>)[FACTS_KEY];
  if (typeof k === 'string') return k;
  return typeof facts.text === 'string' && facts.text !== '' ? 'T' + facts.text : undefined;
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
