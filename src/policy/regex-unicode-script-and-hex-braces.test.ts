// regex.match reads RE2's Unicode script classes (`\p{Greek}`, `\p{Cyrillic}`: JS wants
// \p{Script=Greek}) and `\x{41}` (JS: \u{41}) as RE2 does (https://pkg.go.dev/regexp/syntax).
// Before, the JS RegExp was retried without its `u` flag when they made it fail, which
// changed their meaning: `\p{Cyrillic}` matched the text "p{Cyrillic}", `\x{41}` forty-one
// x's, and a deny rule built on them never fired (fail open).
import { describe, expect, it } from 'vitest';
import { contractInput } from './engine.contract.js';
import { regoEngine } from './rego-engine.js';
import { compileModules } from './rego/index.js';
import type { PolicyInput } from './types.js';

const POLICY = `package portcullis

import rego.v1

default allow := false

allow if input.statement.class == "read"

# Homoglyph guard: identifiers must not contain Cyrillic or Greek letters.
deny contains msg if {
	some r in input.statement.relations
	regex.match(\`\\p{Cyrillic}|\\p{Greek}\`, r.name)
	msg := sprintf("relation %q uses look-alike letters", [r.name])
}
`;

const input = (name: string, text = 'SELECT 1'): PolicyInput =>
  contractInput({
    text,
    relations: [{ schema: 'public', name, kind: 'table', access: 'read' }],
    columns: [],
  });

describe('regex.match: RE2 syntax that JS `u` mode rejects must not change meaning', () => {
  it('\\p{Script} classes match letters of that script (OPA: true)', () => {
    const p = compileModules([]);
    expect(p.query('x := regex.match(`\\p{Cyrillic}`, "\u0430dmin")')).toEqual([{ x: true }]);
    expect(p.query('x := regex.match(`\\p{Greek}`, "\u03b1")')).toEqual([{ x: true }]);
    // and they do not match the literal text "p{Greek}" (OPA: false)
    expect(p.query('x := regex.match(`\\p{Greek}`, "p{Greek}")')).toEqual([{ x: false }]);
  });

  it('\\x{hh} is a character code (OPA: true)', () => {
    const p = compileModules([]);
    expect(p.query('x := regex.match(`\\x{41}`, "A")')).toEqual([{ x: true }]);
  });

  it('the gateway denies a relation name with Cyrillic letters (OPA: deny)', () => {
    const engine = regoEngine([{ path: 'policies.rego', source: POLICY }]);
    // "сustomers" with U+0441 CYRILLIC SMALL LETTER ES
    const d = engine.decide(input('\u0441ustomers'));
    expect(d.kind).toBe('deny');
  });
});
