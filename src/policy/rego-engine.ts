// PolicyEngine over the built-in Rego evaluator.
import { createHash } from 'node:crypto';
import { compileModules, type CompiledPolicy } from './rego/index.js';
import { combine, denialsOf } from './decision.js';
import type { Decision, PolicyEngine, PolicyInput } from './types.js';

export interface RegoSource {
  path: string;
  source: string;
}

const PARAMS = ['input', 'input.statement', 'input.statement.params'];
const VOLATILE_BUILTINS = /\b(time\.now_ns|rand\.|uuid\.|http\.send|opa\.runtime)/;

export function regoEngine(
  modules: RegoSource[],
  data?: Record<string, unknown>,
): PolicyEngine & { compiled: CompiledPolicy } {
  const compiled = compileModules(modules, { data });
  const paths = compiled.inputPathsRead();
  const hash = createHash('sha256');
  for (const m of modules) hash.update(m.path).update('\0').update(m.source).update('\0');
  hash.update(JSON.stringify(data ?? {}));
  const version = 'rego:' + hash.digest('hex').slice(0, 12);
  const usesClock = modules.some((m) => VOLATILE_BUILTINS.test(m.source));
  const ev = (rule: string, input: PolicyInput) =>
    compiled.evalRef(`data.portcullis.${rule}`, input);
  return {
    compiled,
    version,
    // Reads of text, params and now_ns are also detected per decision by the session.
    readsVolatileInput: usesClock,
    readsParams: paths.some((p) => PARAMS.includes(p)),
    mayRedact: modules.some((m) => /^[ \t]*redact\b/m.test(m.source)),
    decide(input: PolicyInput): Decision {
      try {
        const deny = ev('deny', input);
        const hint = ev('hint', input);
        const redact = ev('redact', input);
        // Messages, or a malformed deny (a boolean `deny if …`), decide alone: both refuse.
        const denials = denialsOf(deny);
        if (!denials || denials.length > 0) return combine({ deny, hint, redact });
        return combine({
          redact,
          approval: ev('approval', input),
          allow: ev('allow', input),
          mask: ev('mask', input),
          limits: ev('limits', input),
          hint,
        });
      } catch (err) {
        return { kind: 'deny', reasons: [`the policy failed: ${(err as Error).message}`] };
      }
    },
    connect(input: PolicyInput) {
      try {
        const v = ev('connect', input);
        if (v === undefined || v === true) return { allowed: true };
        return { allowed: false, reason: 'connection refused by policy' };
      } catch {
        return { allowed: false, reason: 'connection refused: the policy failed' };
      }
    },
  };
}
