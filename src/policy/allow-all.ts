// Development engine: allows every statement that parses. Used with `policy.allowAll`.
import type { Decision, PolicyEngine, PolicyInput } from './types.js';

const ALLOW: Decision = { kind: 'allow', mask: {}, limits: {}, reasons: [] };

export function allowAllEngine(): PolicyEngine {
  return {
    version: 'allow-all',
    readsVolatileInput: false,
    readsParams: false,
    decide(input: PolicyInput): Decision {
      if (input.statement?.parse_error)
        return { kind: 'deny', reasons: ['the statement could not be parsed'] };
      return ALLOW;
    },
    connect: () => ({ allowed: true }),
  };
}
