// Parser tests: syntax accepted, and errors naming file, line and column.
import { describe, expect, it } from 'vitest';
import { compileModules, RegoError } from './index.js';
import { parseBody, parseModule } from './parser.js';

function err(source: string, file = 'policies.rego'): RegoError {
  try {
    compileModules([{ path: file, source }]);
  } catch (e) {
    if (e instanceof RegoError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('parser', () => {
  it('parses packages, imports and every rule form', () => {
    const m = parseModule(
      `package a.b
import rego.v1
import data.x.y as z
import input.foo
default allow := false
allow if input.x == 1
deny contains msg if { msg := "no" }
mask[col] := "redact" if some col in ["a"]
f(x) := y if { y := x + 1 } else := 0
p.q.r := 1
`,
      'm.rego',
    );
    expect(m.pkg).toEqual(['a', 'b']);
    expect(m.imports.map((i) => i.alias ?? i.path.join('.'))).toEqual([
      'rego.v1',
      'z',
      'input.foo',
    ]);
    expect(m.rules).toHaveLength(6);
    expect(m.rules[4].elses).toHaveLength(1);
  });

  it('parses query bodies with ; and newlines', () => {
    expect(parseBody('x := 1; y = x + 1\nz := [a | a := y]')).toHaveLength(3);
  });

  it('reports unexpected tokens with file:line:col', () => {
    const e = err('package p\n\nallow if {\n    input.x == \n}\n');
    expect(e.code).toBe('rego_parse_error');
    expect(e.file).toBe('policies.rego');
    expect(e.line).toBe(5);
    expect(e.col).toBe(1);
    expect(e.message).toMatch(/^policies\.rego:5:1: rego_parse_error: unexpected/);
  });

  it('requires if before a rule body in v1', () => {
    const e = err('package p\nallow {\n  true\n}\n');
    expect(e.code).toBe('rego_parse_error');
    expect([e.line, e.col]).toEqual([2, 7]);
  });

  it('rejects a missing package', () => {
    expect(err('allow := true').code).toBe('rego_parse_error');
  });

  it('rejects bad strings and escapes with positions', () => {
    const e = err('package p\nx := "abc\n');
    expect([e.line, e.col]).toEqual([2, 6]);
    const e2 = err('package p\nx := "a\\qb"\n');
    expect(e2.message).toMatch(/illegal escape/);
  });

  it('reports unknown functions as compile errors with positions', () => {
    const e = err('package p\nx := nope(1)\n');
    expect(e.code).toBe('rego_type_error');
    expect([e.line, e.col]).toEqual([2, 6]);
  });

  it('accepts raw strings, sets, comprehensions and membership', () => {
    const p = compileModules([
      {
        path: 'a.rego',
        source:
          'package p\nr := `a\\b`\ns := {1, 2} | {3}\nc := [x | some x in s; x > 1]\nm if 1 in s\nk if 0, 1 in [1]\n',
      },
    ]);
    expect(p.evalRef('data.p', undefined)).toEqual({
      r: 'a\\b',
      s: [1, 2, 3],
      c: [2, 3],
      m: true,
      k: true,
    });
  });
});

describe('Rego v0', () => {
  it('accepts v0 bodies, partial sets and deprecated builtins only when asked', () => {
    const src = 'package p\nq[x] { x := input.xs[_] }\nr = true { re_match("^a", "abc") }\n';
    const p = compileModules([{ path: 'v0.rego', source: src }], { regoVersion: 0 });
    expect(p.evalRef('data.p', { xs: [2, 1] })).toEqual({ q: [1, 2], r: true });
    expect(() => compileModules([{ path: 'v0.rego', source: src }])).toThrow(/rego_parse_error/);
  });
});
