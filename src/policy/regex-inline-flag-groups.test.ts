// regex.match takes RE2's flags anywhere in the pattern and in scoped groups: "(?flags) set
// flags within current group; (?flags:re) set flags during re"
// (https://pkg.go.dev/regexp/syntax, "Grouping"). Node 20's RegExp has neither; the
// translation folds case itself inside such a group. Before, the builtin failed, which
// (non-strict, as in OPA) made the expression undefined, and a deny rule using a scoped
// case-insensitive group never fired (fail open).
import { describe, expect, it } from 'vitest';
import { contractInput } from './engine.contract.js';
import { regoEngine } from './rego-engine.js';
import { compileModules } from './rego/index.js';
import type { PolicyInput } from './types.js';

const POLICY = `package portcullis

import rego.v1

default allow := false

allow if input.statement.class == "read"

deny contains "sleeping queries hold connections" if {
	regex.match(\`\\b(?i:pg_sleep|pg_sleep_for|pg_sleep_until)\\s*\\(\`, input.statement.text)
}
`;

const input = (text: string): PolicyInput => contractInput({ text, relations: [], columns: [] });

describe('regex.match: RE2 flag groups (?i:...) and mid-pattern (?i)', () => {
  it('evaluates them like RE2 (OPA: true)', () => {
    const p = compileModules([]);
    expect(p.query('x := regex.match(`(?i:pg_sleep)`, "SELECT PG_SLEEP(1)")')).toEqual([
      { x: true },
    ]);
    expect(p.query('x := regex.match(`^\\s*(?i)vacuum`, "VACUUM FULL")')).toEqual([{ x: true }]);
  });

  it('the gateway denies SELECT pg_sleep(...) (OPA: deny)', () => {
    const engine = regoEngine([{ path: 'policies.rego', source: POLICY }]);
    expect(engine.decide(input('SELECT pg_sleep(3600)')).kind).toBe('deny');
  });
});
