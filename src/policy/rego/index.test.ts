// Public API tests: evalRef paths, query result sets, input terms and static input-path analysis.
import { describe, expect, it } from 'vitest';
import { compileModules } from './index.js';

const POLICY = `package portcullis

import rego.v1

default allow := false

allow if {
	input.statement.class == "read"
	every r in input.statement.relations { r.schema == "public" }
}

deny contains msg if {
	input.statement.class == "ddl"
	msg := sprintf("no %s", [input.statement.command])
}

mask[col] := "redact" if {
	some col in data.config.secret_columns
	not "pci" in input.identity.groups
}

volatile if input.now_ns > 0
param if input.statement.params[0] == "x"
dyn if input[input.k]
`;

const input = {
  identity: { groups: [] },
  statement: {
    class: 'read',
    command: 'SELECT',
    relations: [{ schema: 'public', name: 't' }],
    params: null,
  },
  now_ns: 1,
};

describe('CompiledPolicy', () => {
  const p = compileModules([{ path: 'policies.rego', source: POLICY }], {
    data: { config: { secret_columns: ['public.users.ssn'] } },
  });

  it('evaluates a whole package and single rules', () => {
    expect(p.evalRef('data.portcullis', input)).toEqual({
      allow: true,
      deny: [],
      mask: { 'public.users.ssn': 'redact' },
      volatile: true,
    });
    expect(
      p.evalRef('data.portcullis.allow', {
        ...input,
        statement: { ...input.statement, class: 'ddl' },
      }),
    ).toBe(false);
    expect(p.evalRef('data.portcullis.approval', input)).toBeUndefined();
    expect(p.evalRef('data.config.secret_columns', input)).toEqual(['public.users.ssn']);
    expect(
      p.evalRef('data.portcullis.deny', { statement: { class: 'ddl', command: 'DROP TABLE' } }),
    ).toEqual(['no DROP TABLE']);
  });

  it('answers queries with one binding row per solution', () => {
    expect(p.query('some i; x := input.xs[i]; x > 1', { xs: [1, 2, 3] })).toEqual([
      { i: 1, x: 2 },
      { i: 2, x: 3 },
    ]);
    expect(p.query('data.portcullis.allow', input)).toEqual([{}]);
    expect(p.query('data.portcullis.approval', input)).toEqual([]);
  });

  it('evaluates Rego terms for input_term', () => {
    expect(p.evalTerm('{"a": {1, 2}}', { raw: false })).toBeDefined();
  });

  it('lists every input path prefix the policy reads', () => {
    expect(p.inputPathsRead()).toEqual([
      'input',
      'input.identity.groups',
      'input.k',
      'input.now_ns',
      'input.statement.class',
      'input.statement.command',
      'input.statement.params',
      'input.statement.relations',
    ]);
  });

  it('accepts overriding data per evaluation', () => {
    expect(
      p.evalRef('data.portcullis.mask', input, { data: { config: { secret_columns: [] } } }),
    ).toEqual({});
  });
});
