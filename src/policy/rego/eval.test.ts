// Evaluation semantics: rules, undefined vs false, conflicts, iteration, with, functions, big numbers.
import { describe, expect, it } from 'vitest';
import { compileModules, RegoError } from './index.js';

function pol(source: string, extra: string[] = []) {
  return compileModules([source, ...extra].map((s, i) => ({ path: `m${i}.rego`, source: s })));
}

function evalErr(fn: () => unknown): RegoError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RegoError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('rules', () => {
  it('distinguishes undefined from false and applies defaults', () => {
    const p = pol('package t\np if input.x == 1\ndefault q := false\nq if input.x == 1\n');
    expect(p.evalRef('data.t.p', { x: 2 })).toBeUndefined();
    expect(p.evalRef('data.t.q', { x: 2 })).toBe(false);
    expect(p.evalRef('data.t.p', { x: 1 })).toBe(true);
    expect(p.evalRef('data.t', { x: 2 })).toEqual({ q: false });
  });

  it('builds partial sets and objects', () => {
    const p = pol(
      'package t\ns contains x if some x in input.xs\no[k] := v if some k, v in input.m\nr.a.b := 1\nr.a[k] := 2 if k := "c"\n',
    );
    expect(p.evalRef('data.t', { xs: [3, 1, 3], m: { a: 1 } })).toEqual({
      s: [1, 3],
      o: { a: 1 },
      r: { a: { b: 1, c: 2 } },
    });
  });

  it('raises eval_conflict_error for complete rules with different values', () => {
    const p = pol('package t\np := 1 if input.a\np := 2 if input.b\n');
    expect(p.evalRef('data.t.p', { a: true })).toBe(1);
    const e = evalErr(() => p.evalRef('data.t.p', { a: true, b: true }));
    expect(e.code).toBe('eval_conflict_error');
  });

  it('raises eval_conflict_error for object key conflicts', () => {
    const p = pol('package t\no[k] := v if { some v in [1, 2]; k := "a" }\n');
    expect(evalErr(() => p.evalRef('data.t.o', {})).code).toBe('eval_conflict_error');
  });

  it('evaluates else chains in order', () => {
    const p = pol(
      'package t\nc := "low" if input.n < 10 else := "mid" if input.n < 100 else := "high"\n',
    );
    expect([5, 50, 500].map((n) => p.evalRef('data.t.c', { n }))).toEqual(['low', 'mid', 'high']);
  });

  it('supports functions with multiple bodies and conflicts', () => {
    const p = pol(
      'package t\nf(x) := "neg" if x < 0\nf(x) := "pos" if x > 0\ng(_) := 1\ng(_) := 2\n',
    );
    expect(p.query('x := data.t.f(-1)')).toEqual([{ x: 'neg' }]);
    expect(p.query('x := data.t.f(0)')).toEqual([]);
    expect(evalErr(() => p.query('x := data.t.g(0)')).code).toBe('eval_conflict_error');
  });

  it('resolves imports and cross-package references', () => {
    const p = pol('package a\nimport data.b.lib\nimport input.user\nok if lib.admin(user)\n', [
      'package b.lib\nadmin(u) if u.role == "admin"\n',
    ]);
    expect(p.evalRef('data.a.ok', { user: { role: 'admin' } })).toBe(true);
    expect(p.evalRef('data.a.ok', { user: { role: 'dev' } })).toBeUndefined();
    expect(p.inputPathsRead()).toEqual(['input.user']);
  });
});

describe('bodies', () => {
  it('iterates with some, unification and refs with vars', () => {
    const p = pol('package t\n');
    const rows = p.query('some i; input.xs[i] > 1; x := input.xs[i]', { xs: [1, 2, 3] });
    expect(rows).toEqual([
      { i: 1, x: 2 },
      { i: 2, x: 3 },
    ]);
    expect(p.query('[a, b] = [1, c]; c = 2')).toEqual([{ a: 1, b: 2, c: 2 }]);
    expect(p.query('{"k": v} = input', { k: 'z' })).toEqual([{ v: 'z' }]);
  });

  it('handles not, every and comprehensions', () => {
    const p = pol(
      'package t\nall_pos if every x in input.xs { x > 0 }\nno_zero if not 0 in input.xs\nsq := {x: x * x | some x in input.xs}\n',
    );
    expect(p.evalRef('data.t', { xs: [1, 2] })).toEqual({
      all_pos: true,
      no_zero: true,
      sq: { '1': 1, '2': 4 },
    });
    expect(p.evalRef('data.t', { xs: [0, 2] })).toEqual({ sq: { '0': 0, '2': 4 } });
  });

  it('treats builtin errors as undefined unless strict', () => {
    const p = pol('package t\nx := 1 / input.d\n');
    expect(p.evalRef('data.t.x', { d: 0 })).toBeUndefined();
    expect(evalErr(() => p.evalRef('data.t.x', { d: 0 }, { strict: true })).code).toBe(
      'eval_builtin_error',
    );
  });

  it('replaces input, data and functions with `with`', () => {
    const p = pol(
      'package t\nf(x) := x + 1\np := f(input.n)\nq := v if v := p with input.n as 10\nr := v if v := p with f as 99\n',
    );
    expect(p.evalRef('data.t', { n: 1 })).toEqual({ p: 2, q: 11, r: 99 });
  });

  it('keeps integer precision beyond 2^53', () => {
    const p = pol('package t\n');
    expect(p.query('x := 9007199254740993 + 1', undefined, { raw: true })).toEqual([
      { x: 9007199254740994n },
    ]);
    expect(p.query('x := 1e6 * 2')).toEqual([{ x: 2000000 }]);
    expect(p.query('1 == 1.0')).toEqual([{}]);
  });

  it('reads time.now_ns from the evaluation options', () => {
    const p = pol('package t\nt := time.now_ns()\n');
    expect(p.evalRef('data.t.t', {}, { nowNs: 1234 })).toBe(1234);
  });

  it('reports recursion', () => {
    const e = evalErr(() => pol('package t\np if q\nq if p\n'));
    expect(e.code).toBe('rego_recursion_error');
    expect(e.message).toMatch(/data\.t\.p -> data\.t\.q -> data\.t\.p/);
    const f = evalErr(() => pol('package t\nf(x) := f(x - 1) if x > 0\n'));
    expect(f.code).toBe('rego_recursion_error');
  });
});

describe('tests', () => {
  it('lists and runs test_ rules', () => {
    const p = pol(
      'package t\nallow if input.ok\ntest_allow if allow with input as {"ok": true}\ntest_bad if allow\n',
    );
    expect(p.tests()).toEqual(['data.t.test_allow', 'data.t.test_bad']);
    const r = p.runTests();
    expect(r.map((x) => [x.name, x.pass])).toEqual([
      ['data.t.test_allow', true],
      ['data.t.test_bad', false],
    ]);
  });
});

describe('with: function and builtin replacement', () => {
  it('replaces builtins with values, functions and other builtins; a replacement may call the original', () => {
    const p = pol(`package t
mock_count("one") := 1
mock_count(x) := count(x) if x != "one"
a := s if s := {count(n) | some n in {"one", "three"}} with count as mock_count
b := x if x = count([{}, {"foo": 3}]) with count as object.union_n
c if count([], 1) with count as 1
f(x) := 2
g(x) := f(x)
d := y if y := f(1) with f as g
now_is_one if time.now_ns() == 1
e if now_is_one with time.now_ns as 1
`);
    expect(p.evalRef('data.t', {})).toEqual({ a: [1, 5], b: { foo: 3 }, c: true, d: 2, e: true });
  });

  it('parses `if {k: v | ...}` as an object comprehension literal', () => {
    const p = pol('package t\nf(x) := 1 if {k: 1 | some k in x}\n');
    expect(p.query('y := data.t.f(["a"])')).toEqual([{ y: 1 }]);
  });
});

describe('print', () => {
  it('is true whatever its operands, as in OPA: an undefined one does not stop the rule', () => {
    const p = pol(`package t
deny contains "no deletes" if {
	input.command == "DELETE"
	print("denying", input.command, "where", input.where)
}
seen contains x if {
	some x in input.xs
	print(x, input.missing[_], 1 / 0)
}
`);
    expect(p.evalRef('data.t.deny', { command: 'DELETE' })).toEqual(['no deletes']);
    expect(p.evalRef('data.t.seen', { xs: [1, 2] })).toEqual([1, 2]);
    expect(p.evalRef('data.t.deny', { command: 'SELECT' })).toEqual([]);
  });
});
