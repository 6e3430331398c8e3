// Combines the values of data.portcullis into one Decision, the same way for every engine:
// deny wins; an approval document holds; allow with mask and limits; otherwise deny. The
// `redact` set rides on whichever decision comes out.
import type { ApprovalRequirement, Decision, Limits, Redaction } from './types.js';

/** The rule values an engine produced for one statement (OPA JSON form). */
export interface RuleValues {
  allow?: unknown;
  deny?: unknown;
  hint?: unknown;
  approval?: unknown;
  mask?: unknown;
  limits?: unknown;
  redact?: unknown;
}

const NO_RULE = 'no policy rule allows this statement';

function strings(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  if (typeof v === 'string') return [v];
  return [];
}

function approvalOf(v: unknown): ApprovalRequirement | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  return {
    reason: typeof o.reason === 'string' ? o.reason : 'approval required',
    approvers: strings(o.approvers),
    quorum: typeof o.quorum === 'number' && o.quorum >= 1 ? Math.floor(o.quorum) : 1,
    ttl_seconds: typeof o.ttl_seconds === 'number' && o.ttl_seconds > 0 ? o.ttl_seconds : 900,
  };
}

function maskOf(v: unknown): Record<string, string> | undefined {
  if (v === undefined) return {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') return undefined;
    out[k] = s;
  }
  return out;
}

/**
 * The `limits` document; undefined when malformed: not an object, a member other than
 * `max_rows` and `timeout_ms` (a misspelt one), or a value that is not a number in range
 * (`"100"`, `-1`). Dropping such a limit would run the statement with none.
 */
function limitsOf(v: unknown): Limits | undefined {
  if (v === undefined || v === false) return {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const l: Limits = {};
  for (const [k, x] of Object.entries(o)) {
    if (k === 'max_rows' && typeof x === 'number' && x >= 0) l.max_rows = x;
    else if (k === 'timeout_ms' && typeof x === 'number' && x > 0) l.timeout_ms = x;
    else return undefined;
  }
  return l;
}

/**
 * The messages of the `deny` set; undefined when malformed. A `deny` that is not a set (a
 * boolean `deny if …`, an object, a number) is not ignored: it refuses.
 */
export function denialsOf(v: unknown): string[] | undefined {
  if (v === undefined || v === false) return [];
  if (Array.isArray(v) || typeof v === 'string') return strings(v);
  return undefined;
}

const REDACTIONS: readonly Redaction[] = ['literals', 'params'];

/** The `redact` set, sorted; undefined when malformed (not a set of known members). */
function redactOf(v: unknown): Redaction[] | undefined {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return undefined;
  const out = new Set<Redaction>();
  for (const x of v) {
    if (!REDACTIONS.includes(x as Redaction)) return undefined;
    out.add(x as Redaction);
  }
  return REDACTIONS.filter((x) => out.has(x));
}

/**
 * Decide from rule values; anything malformed denies (fail closed). A malformed `redact`
 * set denies too, and its statement is recorded with everything redacted.
 */
export function combine(r: RuleValues): Decision {
  const redact = redactOf(r.redact);
  if (!redact)
    return {
      kind: 'deny',
      reasons: ['the policy returned a malformed redact set (members: "literals", "params")'],
      redact: [...REDACTIONS],
    };
  const d = decideRules(r);
  if (redact.length) d.redact = redact;
  return d;
}

function decideRules(r: RuleValues): Decision {
  const hint = typeof r.hint === 'string' ? r.hint : undefined;
  const denies = denialsOf(r.deny);
  if (!denies)
    return {
      kind: 'deny',
      reasons: ['the policy returned a malformed deny (expected a set of messages)'],
      hint,
    };
  if (denies.length) return { kind: 'deny', reasons: denies.sort(), hint };
  if (r.approval !== undefined && r.approval !== false) {
    const approval = approvalOf(r.approval);
    if (!approval)
      return { kind: 'deny', reasons: ['the policy returned a malformed approval document'], hint };
    return { kind: 'approval', approval, reasons: [approval.reason], hint };
  }
  if (r.allow === true) {
    const mask = maskOf(r.mask);
    if (!mask) return { kind: 'deny', reasons: ['the policy returned a malformed mask'], hint };
    const limits = limitsOf(r.limits);
    if (!limits)
      return {
        kind: 'deny',
        reasons: [
          'the policy returned malformed limits (expected {"max_rows": n >= 0, "timeout_ms": n > 0})',
        ],
        hint,
      };
    return { kind: 'allow', mask, limits, reasons: [] };
  }
  return { kind: 'deny', reasons: [NO_RULE], hint };
}

/**
 * What the gateway can carry out of a decision. Results cannot be masked yet, so an allow
 * that asks for a mask is refused, naming the columns, rather than forwarded with them in
 * the clear (fail closed). Any mask refuses: which relations a statement reads data of is
 * not known for sure (views, functions, child tables, names given as text).
 */
export function enforceable(d: Decision): Decision {
  if (d.kind !== 'allow') return d;
  const columns = Object.keys(d.mask);
  if (columns.length === 0) return d;
  const deny: Decision = {
    kind: 'deny',
    reasons: [
      `the policy masks ${columns.sort().join(', ')}; this gateway cannot mask results yet`,
    ],
    hint: 'leave the masked columns out of the statement, or ask an operator',
  };
  if (d.redact) deny.redact = d.redact;
  return deny;
}
