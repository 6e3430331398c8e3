// Explain a decision: the decision the gateway carries out (enforceable) plus the value of
// every contract rule, for `portcullis policy eval` and the admin API's POST /explain.
import type { CompiledPolicy } from './rego/index.js';
import { enforceable } from './decision.js';
import type { Decision, PolicyEngine, PolicyInput } from './types.js';

export const CONTRACT_RULES = [
  'allow',
  'deny',
  'hint',
  'approval',
  'mask',
  'limits',
  'redact',
] as const;

export interface Explanation {
  decision: Decision;
  policy_version: string;
  /** Value of each data.portcullis rule (undefined rules omitted). */
  rules: Record<string, unknown>;
}

export function explain(
  engine: PolicyEngine & { compiled?: CompiledPolicy },
  input: PolicyInput,
): Explanation {
  const rules: Record<string, unknown> = {};
  if (engine.compiled) {
    for (const r of CONTRACT_RULES) {
      try {
        const v = engine.compiled.evalRef(`data.portcullis.${r}`, input);
        if (v !== undefined) rules[r] = v;
      } catch (err) {
        rules[r] = { error: (err as Error).message };
      }
    }
  }
  return {
    decision: enforceable(engine.decide(input)),
    policy_version: engine.version,
    rules,
  };
}
