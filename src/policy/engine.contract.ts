// The behaviour every PolicyEngine owes the session, as a vitest suite that each engine's
// test file runs: runEngineContract('wasm', async () => ({ engine, scenarios })).
//
// Engines differ in what policies they can be given, so the contract is parameterized by
// scenarios: for each one, the engine's test supplies an input that makes its policy produce
// that situation (for example both allow and deny). Scenarios an engine cannot produce are
// left out and reported as skipped.
import { beforeAll, describe, expect, it } from 'vitest';
import type { ColumnFact, RelationFact, StatementClass } from '../sql/types.js';
import type { Decision, PolicyEngine, PolicyInput } from './types.js';

export type Scenario =
  /** The policy allows, with a well-formed mask and limits. */
  | 'allow'
  /** The policy both allows and denies: deny must win. */
  | 'denyWinsOverAllow'
  /** No rule allows (and nothing denies or holds). */
  | 'noAllow'
  /** A well-formed approval document. */
  | 'approval'
  /** An approval that is not an object (e.g. a string). */
  | 'malformedApproval'
  /** An allow whose mask maps a column to a non-string. */
  | 'malformedMask'
  /** Evaluation fails (conflict, builtin error, trap). */
  | 'evalError'
  /** `connect` true or undefined. */
  | 'connectAllowed'
  /** `connect` false. */
  | 'connectRefused';

export interface ContractSubject {
  engine: PolicyEngine;
  scenarios: Partial<Record<Scenario, PolicyInput>>;
}

export interface InputOptions {
  class?: StatementClass;
  command?: string;
  text?: string;
  sub?: string;
  claims?: Record<string, unknown>;
  /** No statement (as for `connect`). */
  noStatement?: boolean;
  relations?: RelationFact[];
  columns?: ColumnFact[];
  hasWhere?: boolean;
  nowNs?: number;
}

/** A complete, realistic PolicyInput with the given variations. */
export function contractInput(o: InputOptions = {}): PolicyInput {
  const input: PolicyInput = {
    identity: {
      sub: o.sub ?? 'agent-7',
      iss: 'https://issuer.example',
      groups: ['agents'],
      agent: 'report-bot',
      method: 'jwt',
      claims: o.claims ?? { sub: o.sub ?? 'agent-7' },
    },
    session: {
      id: 's-1',
      database: 'app',
      target: 'primary',
      application_name: 'psql',
      client_addr: '127.0.0.1',
      tls: true,
      in_transaction: false,
    },
    now_ns: o.nowNs ?? 1_700_000_000_000_000_000,
  };
  if (!o.noStatement) {
    input.statement = {
      text: o.text ?? 'SELECT 1',
      fingerprint: 'fp',
      command: o.command ?? 'SELECT',
      class: o.class ?? 'read',
      relations: o.relations ?? [
        { schema: 'public', name: 'customers', kind: 'table', access: 'read' },
      ],
      columns: o.columns ?? [
        { schema: 'public', table: 'customers', column: 'card', clause: 'select' },
      ],
      functions: [],
      has_where: o.hasWhere ?? false,
      opaque: false,
      protocol: 'simple',
      params: null,
      index: 0,
      count: 1,
    };
  }
  return input;
}

const KINDS = new Set(['allow', 'deny', 'approval']);

/** Checks the shape of a Decision (what the session relies on). */
export function expectWellFormed(d: Decision): void {
  expect(KINDS.has(d.kind)).toBe(true);
  expect(Array.isArray(d.reasons)).toBe(true);
  for (const r of d.reasons) expect(typeof r).toBe('string');
  if (d.kind === 'allow') {
    for (const v of Object.values(d.mask)) expect(typeof v).toBe('string');
    expect(typeof d.limits).toBe('object');
  }
  if (d.kind === 'deny') expect(d.reasons.length).toBeGreaterThan(0);
  if (d.kind === 'approval') {
    expect(typeof d.approval.reason).toBe('string');
    expect(Array.isArray(d.approval.approvers)).toBe(true);
    expect(d.approval.quorum).toBeGreaterThanOrEqual(1);
    expect(d.approval.ttl_seconds).toBeGreaterThan(0);
  }
}

/** Inputs no policy expects; an engine must still answer with a decision. */
function oddInputs(): PolicyInput[] {
  const base = contractInput();
  const odd: unknown[] = [
    contractInput({ noStatement: true }),
    {
      ...base,
      statement: { ...base.statement, class: 'unknown', opaque: true, parse_error: 'syntax error' },
    },
    { ...base, statement: { ...base.statement, text: '\u0000"\\\u2028💥'.repeat(50) } },
    { ...base, identity: { ...base.identity, claims: { nested: { a: [1, 2, { b: null }] } } } },
    {
      ...base,
      statement: {
        ...base.statement,
        params: ['1', null, 'x'.repeat(100_000)],
        protocol: 'extended',
      },
    },
    {},
  ];
  return odd as PolicyInput[];
}

export function runEngineContract(
  name: string,
  makeSubject: () => ContractSubject | Promise<ContractSubject>,
): void {
  describe(`PolicyEngine contract: ${name}`, () => {
    let s: ContractSubject;
    beforeAll(async () => {
      s = await makeSubject();
    });

    const scenario = (
      sc: Scenario,
      title: string,
      check: (e: PolicyEngine, input: PolicyInput) => void,
    ) => {
      it(`${title} [${sc}]`, (ctx) => {
        const input = s.scenarios[sc];
        if (!input) {
          ctx.skip();
          return;
        }
        check(s.engine, input);
      });
    };

    it('has a version label and declares what it reads', () => {
      expect(typeof s.engine.version).toBe('string');
      expect(s.engine.version.length).toBeGreaterThan(0);
      expect(typeof s.engine.readsVolatileInput).toBe('boolean');
      expect(typeof s.engine.readsParams).toBe('boolean');
    });

    scenario('allow', 'allows with mask and limits', (e, input) => {
      const d = e.decide(input);
      expectWellFormed(d);
      expect(d.kind).toBe('allow');
      if (d.kind === 'allow') expect(d.reasons).toEqual([]);
    });

    scenario('denyWinsOverAllow', 'deny wins over allow', (e, input) => {
      const d = e.decide(input);
      expectWellFormed(d);
      expect(d.kind).toBe('deny');
      expect(d.reasons.length).toBeGreaterThan(0);
      expect(d.reasons.join(' ')).not.toMatch(/no policy rule allows/);
    });

    scenario('noAllow', 'denies when no rule allows', (e, input) => {
      const d = e.decide(input);
      expectWellFormed(d);
      expect(d).toMatchObject({ kind: 'deny', reasons: ['no policy rule allows this statement'] });
    });

    scenario('approval', 'holds for an approval document', (e, input) => {
      const d = e.decide(input);
      expectWellFormed(d);
      expect(d.kind).toBe('approval');
    });

    scenario('malformedApproval', 'denies a malformed approval document', (e, input) => {
      const d = e.decide(input);
      expectWellFormed(d);
      expect(d.kind).toBe('deny');
      expect(d.reasons.join(' ')).toMatch(/malformed approval/);
    });

    scenario('malformedMask', 'denies an allow with a malformed mask', (e, input) => {
      const d = e.decide(input);
      expectWellFormed(d);
      expect(d.kind).toBe('deny');
      expect(d.reasons.join(' ')).toMatch(/malformed mask/);
    });

    scenario('evalError', 'denies (never throws) when evaluation fails', (e, input) => {
      let d: Decision | undefined;
      expect(() => (d = e.decide(input))).not.toThrow();
      expectWellFormed(d as Decision);
      expect(d?.kind).toBe('deny');
      expect(() => e.connect(input)).not.toThrow();
    });

    scenario('evalError', 'decides normally again after a failed evaluation', (e, input) => {
      e.decide(input);
      const again = s.scenarios.allow ?? s.scenarios.noAllow;
      if (!again) return;
      expect(e.decide(again)).toEqual(e.decide(again));
      expect(e.decide(again).kind).toBe(s.scenarios.allow ? 'allow' : 'deny');
    });

    scenario('connectAllowed', 'connect allows when the rule is true or undefined', (e, input) => {
      expect(e.connect(input)).toEqual({ allowed: true });
    });

    scenario('connectRefused', 'connect refuses when the rule is false', (e, input) => {
      const c = e.connect(input);
      expect(c.allowed).toBe(false);
      expect(typeof c.reason).toBe('string');
    });

    it('decide and connect never throw, whatever the input', () => {
      const inputs = [...Object.values(s.scenarios), ...oddInputs()];
      for (const input of inputs) {
        let d: Decision | undefined;
        expect(() => (d = s.engine.decide(input))).not.toThrow();
        expectWellFormed(d as Decision);
        expect(() => s.engine.connect(input)).not.toThrow();
      }
    });

    it('decides the same input the same way twice', () => {
      for (const input of Object.values(s.scenarios)) {
        const a = s.engine.decide(input);
        const b = s.engine.decide(input);
        expect(b).toEqual(a);
      }
    });
  });
}
