import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSql } from '../sql/index.js';
import { regoEngine } from '../policy/rego-engine.js';
import type { Identity, PolicyEngine, SessionFacts } from '../policy/types.js';
import { DecisionPoint } from './decide.js';

const identity: Identity = { sub: 'a', groups: [], method: 'jwt', claims: {} };
const session: SessionFacts = {
  id: 's',
  database: 'db',
  target: 't',
  application_name: '',
  client_addr: '127.0.0.1',
  tls: false,
  in_transaction: false,
};

function counting(src: string): { engine: PolicyEngine; calls: () => number } {
  const inner = regoEngine([{ path: 'p.rego', source: src }]);
  let n = 0;
  const engine: PolicyEngine = {
    ...inner,
    decide: (input) => {
      n++;
      return inner.decide(input);
    },
  };
  return { engine, calls: () => n };
}

const facts = (sql: string) => analyze(sql, { searchPath: ['public'] }).statements[0];

beforeAll(() => initSql());

describe('decision cache', () => {
  it('decides once for statements that differ only in literals', () => {
    const { engine, calls } = counting(
      'package portcullis\nimport rego.v1\nallow if input.statement.class == "read"',
    );
    const dp = new DecisionPoint(() => engine, identity, { ...session });
    for (let i = 0; i < 50; i++) {
      expect(
        dp.decide(facts(`SELECT abalance FROM accounts WHERE aid = ${i}`), 'simple', null, 0, 1)
          .decision.kind,
      ).toBe('allow');
    }
    expect(calls()).toBe(1);
  });

  it('gives every refusal its own id, also when the decision is cached', () => {
    const { engine, calls } = counting(
      'package portcullis\nimport rego.v1\ndeny contains "no" if input.statement.command == "DELETE"',
    );
    const dp = new DecisionPoint(() => engine, identity, { ...session });
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = dp.decide(facts(`DELETE FROM t WHERE id = ${i}`), 'simple', null, 0, 1);
      expect(r.decision.kind).toBe('deny');
      ids.add(r.id);
    }
    expect(calls()).toBe(1);
    expect(ids.size).toBe(5);
  });

  it('never caches a decision that read the statement text', () => {
    const { engine, calls } = counting(
      'package portcullis\nimport rego.v1\nallow if not contains(input.statement.text, "42")',
    );
    const dp = new DecisionPoint(() => engine, identity, { ...session });
    expect(
      dp.decide(facts('SELECT * FROM t WHERE id = 1'), 'simple', null, 0, 1).decision.kind,
    ).toBe('allow');
    expect(
      dp.decide(facts('SELECT * FROM t WHERE id = 42'), 'simple', null, 0, 1).decision.kind,
    ).toBe('deny');
    expect(calls()).toBe(2);
  });

  it('does not serve a decision across literals the policy looked at (set_config target)', () => {
    const { engine } = counting(
      'package portcullis\nimport rego.v1\n' +
        'allow if { some f in input.statement.functions; f.name == "set_config"; contains(input.statement.text, "application_name") }',
    );
    const dp = new DecisionPoint(() => engine, identity, { ...session });
    const a = facts("SELECT set_config('application_name', 'x', false)");
    const b = facts("SELECT set_config('search_path', 'evil', false)");
    expect(dp.decide(a, 'simple', null, 0, 1).decision.kind).toBe('allow');
    expect(dp.decide(b, 'simple', null, 0, 1).decision.kind).toBe('deny');
  });

  it('keys decisions by transaction state', () => {
    const { engine, calls } = counting(
      'package portcullis\nimport rego.v1\nallow if input.session.in_transaction',
    );
    const s = { ...session };
    const dp = new DecisionPoint(() => engine, identity, s);
    expect(dp.decide(facts('SELECT 1'), 'simple', null, 0, 1).decision.kind).toBe('deny');
    s.in_transaction = true;
    expect(dp.decide(facts('SELECT 2'), 'simple', null, 0, 1).decision.kind).toBe('allow');
    expect(calls()).toBe(2);
  });
});
