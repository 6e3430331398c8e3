// RE2 patterns (as OPA's regex.* builtins read them) translated to JS RegExps: each case is
// what RE2 answers (https://pkg.go.dev/regexp/syntax), including where JS would differ.
import { describe, expect, it } from 'vitest';
import { contractInput } from './engine.contract.js';
import { regoEngine } from './rego-engine.js';
import { re2 } from './rego/builtins/regex.js';

const CASES: [pattern: string, text: string, re2: boolean][] = [
  ['(?i)\\bcopy\\b.*\\bprogram\\b', "COPY customers TO\rPROGRAM 'x'", true],
  ['a.b', 'a\u2028b', true],
  ['a.b', 'a\nb', false],
  ['(?s)a.b', 'a\nb', true],
  ['(?s:a.b)c', 'a\nbc', true],
  ['^\\S+$', 'a\u00a0b', true],
  ['\\s', '\u00a0', false],
  ['(?m)^b', 'a\rb', false],
  ['(?m)^b', 'a\nb', true],
  ['(?m:^b)', 'a\nb', true],
  ['\\Aab', 'ab', true],
  ['(?m)\\Ab', 'a\nb', false],
  ['a\\z', 'a\n', false],
  ['\\p{Cyrillic}|\\p{Greek}', 'сustomers', true],
  ['\\pL', 'é', true],
  ['\\PL', 'é', false],
  ['\\x{41}', 'A', true],
  ['a{', 'a{', true],
  ['x}', 'x}', true],
  ['a{2}', 'aa', true],
  ['[a-c\\-]+$', 'a-b', true],
  ['\\#\\:', '#:', true],
  ['[[:alpha:]]+$', 'abc', true],
  ['[]a]', ']', true],
  ['\\Qa.b\\E', 'a.b', true],
  ['\\Qa.b\\E', 'axb', false],
  ['(?P<x>a)b', 'ab', true],
  ['\\b(?i:pg_sleep|dblink)\\s*\\(', 'SELECT PG_SLEEP(3)', true],
  ['a(?i)b', 'aB', true],
  ['a(?i)b', 'AB', false],
  ['(a(?i)b)c', 'aBc', true],
  ['(a(?i)b)c', 'aBC', false],
  ['(?i:[a-c]x)', 'BX', true],
  ['(?i:[a-c]x)', 'dX', false],
];

describe('RE2 patterns match as RE2 matches them', () => {
  for (const [pattern, text, want] of CASES)
    it(`${JSON.stringify(pattern)} on ${JSON.stringify(text)}: ${want}`, () => {
      expect(re2(pattern).test(text)).toBe(want);
    });
});

describe('what the translation cannot keep fails the evaluation (a refusal), never a guess', () => {
  for (const pattern of ['(?U)a+', '(?i)a(?-i:b)'])
    it(pattern, () => {
      expect(() => re2(pattern)).toThrow(/not supported by this evaluator/);
    });
  it('invalid RE2 is a builtin error (undefined in OPA), as before', () => {
    expect(() => re2('a\\1')).toThrow(/error parsing regexp/);
    expect(() => re2('[a')).toThrow(/error parsing regexp/);
  });
});

it('a deny rule whose pattern cannot be translated refuses the statement (the policy failed)', () => {
  const engine = regoEngine([
    {
      path: 'policies.rego',
      source: `package portcullis
import rego.v1
default allow := false
allow if input.statement.class == "read"
deny contains "x" if regex.match(\`(?U)a+\`, input.statement.text)
`,
    },
  ]);
  const d = engine.decide(contractInput({ relations: [], columns: [] }));
  expect(d.kind).toBe('deny');
  expect(d.reasons.join()).toMatch(/not supported by this evaluator/);
});
