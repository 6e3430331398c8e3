// The built-in Rego engine against the PolicyEngine contract, on the same policy the wasm
// fixture implements (fixtures/decision.rego) plus a module that can fail at evaluation.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { contractInput, runEngineContract } from './engine.contract.js';
import { regoEngine } from './rego-engine.js';

const REGO = readFileSync(new URL('./fixtures/decision.rego', import.meta.url), 'utf8');

// Two values for one complete rule: an eval_conflict_error for that statement only.
const CONFLICT = `package portcullis

import rego.v1

hint := "one" if input.statement.command == "CONFLICT"

hint := "two" if input.statement.command == "CONFLICT"
`;

const modules = [
  { path: 'decision.rego', source: REGO },
  { path: 'conflict.rego', source: CONFLICT },
];

runEngineContract('built-in Rego', () => ({
  engine: regoEngine(modules),
  scenarios: {
    allow: contractInput({ class: 'read' }),
    denyWinsOverAllow: contractInput({ class: 'ddl', command: 'CREATE TABLE' }),
    noAllow: contractInput({ class: 'session', command: 'SET' }),
    approval: contractInput({ class: 'write', command: 'UPDATE' }),
    malformedApproval: contractInput({ class: 'utility', command: 'VACUUM' }),
    malformedMask: contractInput({ class: 'dcl', command: 'GRANT' }),
    evalError: contractInput({ command: 'CONFLICT' }),
    connectAllowed: contractInput({ noStatement: true }),
    connectRefused: contractInput({ noStatement: true, sub: 'mallory' }),
  },
}));

describe('regoEngine', () => {
  it('reports an evaluation conflict as a deny with the reason', () => {
    const d = regoEngine(modules).decide(contractInput({ command: 'CONFLICT' }));
    expect(d.kind).toBe('deny');
    expect(d.reasons[0]).toMatch(/^the policy failed: /);
  });

  it('sees that the fixture policy reads the clock', () => {
    expect(regoEngine(modules).readsVolatileInput).toBe(true);
  });

  it('allows connections when the policy has no connect rule', () => {
    const e = regoEngine([
      { path: 'p.rego', source: 'package portcullis\n\nimport rego.v1\n\nallow := true\n' },
    ]);
    expect(e.connect(contractInput({ noStatement: true }))).toEqual({ allowed: true });
    expect(e.readsVolatileInput).toBe(false);
    expect(e.readsParams).toBe(false);
  });

  it('refuses where a boolean deny rule holds, and applies a malformed limits document as a refusal', () => {
    const e = regoEngine([
      {
        path: 'p.rego',
        source: `package portcullis

import rego.v1

default allow := true

deny if input.statement.command == "DELETE"

limits := {"max_rows": "100"} if input.statement.command == "SELECT"
`,
      },
    ]);
    expect(e.decide(contractInput({ class: 'write', command: 'DELETE' }))).toMatchObject({
      kind: 'deny',
      reasons: [expect.stringMatching(/malformed deny/)],
    });
    expect(e.decide(contractInput({ class: 'read', command: 'SELECT' }))).toMatchObject({
      kind: 'deny',
      reasons: [expect.stringMatching(/malformed limits/)],
    });
    expect(e.decide(contractInput({ class: 'write', command: 'INSERT' })).kind).toBe('allow');
  });
});
