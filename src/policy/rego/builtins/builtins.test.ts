// Builtin tests: one query per builtin family, in OPA JSON form.
import { describe, expect, it } from 'vitest';
import { compileModules, RegoError } from '../index.js';

const p = compileModules([{ path: 'empty.rego', source: 'package empty\n' }]);
const q = (body: string, input?: unknown) => p.query(`x := ${body}`, input)[0]?.x;

describe('string builtins', () => {
  it('covers the common string functions', () => {
    expect(q('concat(", ", ["a", "b"])')).toBe('a, b');
    expect(q('concat("-", {"b", "a"})')).toBe('a-b');
    expect(q('contains("abc", "b")')).toBe(true);
    expect(q('startswith("abc", "ab")')).toBe(true);
    expect(q('endswith("abc", "bc")')).toBe(true);
    expect(q('lower("AbC")')).toBe('abc');
    expect(q('upper("AbC")')).toBe('ABC');
    expect(q('split("a.b.c", ".")')).toEqual(['a', 'b', 'c']);
    expect(q('replace("aXbX", "X", "-")')).toBe('a-b-');
    expect(q('strings.replace_n({"a": "1", "b": "2"}, "abc")')).toBe('12c');
    expect(q('trim("  x  ", " ")')).toBe('x');
    expect(q('trim_space("\\t x \\n")')).toBe('x');
    expect(q('trim_prefix("public.t", "public.")')).toBe('t');
    expect(q('trim_suffix("a.sql", ".sql")')).toBe('a');
    expect(q('indexof("héllo", "l")')).toBe(2);
    expect(q('substring("héllo", 1, 3)')).toBe('éll');
    expect(q('format_int(255, 16)')).toBe('ff');
    expect(q('strings.any_prefix_match("pg_catalog.x", ["pg_", "info"])')).toBe(true);
  });

  it('formats with sprintf verbs', () => {
    expect(q('sprintf("%v %s %d %q", ["a", "b", 3, "c"])')).toBe('a b 3 "c"');
    expect(q('sprintf("%.2f|%x|%v", [3.14159, 255, [1, "a"]])')).toBe('3.14|ff|[1, "a"]');
    expect(q('sprintf("%v", [{"a": {1}}])')).toBe('{"a": {1}}');
    expect(q('sprintf("%05d", [42])')).toBe('00042');
  });
});

describe('regex and glob', () => {
  it('matches RE2 patterns', () => {
    expect(q('regex.match("^pg_[a-z]+$", "pg_sleep")')).toBe(true);
    expect(q('regex.match("(?i)^SELECT", "select 1")')).toBe(true);
    expect(q('regex.is_valid("(")')).toBe(false);
    expect(q('regex.find_n("[0-9]+", "a1b22c333", 2)')).toEqual(['1', '22']);
    expect(q('regex.match("(?P<n>a)b", "ab")')).toBe(true);
  });

  it('fails on unsupported RE2 syntax only in strict mode', () => {
    expect(p.query('x := regex.match("(?=a)", "a")')).toEqual([]);
    expect(() => p.query('x := regex.match("(?=a)", "a")', undefined, { strict: true })).toThrow(
      RegoError,
    );
  });

  it('matches globs with delimiters', () => {
    expect(q('glob.match("public.*", ["."], "public.users")')).toBe(true);
    expect(q('glob.match("public.*", ["."], "public.a.b")')).toBe(false);
    expect(q('glob.match("public.**", ["."], "public.a.b")')).toBe(true);
    expect(q('glob.match("{a,b}?", [], "bz")')).toBe(true);
  });
});

describe('aggregates, arrays, objects, sets', () => {
  it('aggregates', () => {
    expect(q('count({1, 2})')).toBe(2);
    expect(q('sum([1, 2.5])')).toBe(3.5);
    expect(q('product([2, 3])')).toBe(6);
    expect(q('max([1, 3, 2])')).toBe(3);
    expect(q('min({3, 2})')).toBe(2);
    expect(q('sort([3, "a", 1])')).toEqual([1, 3, 'a']);
  });

  it('arrays and objects', () => {
    expect(q('array.concat([1], [2])')).toEqual([1, 2]);
    expect(q('array.slice([1, 2, 3], 1, 5)')).toEqual([2, 3]);
    expect(q('array.reverse([1, 2])')).toEqual([2, 1]);
    expect(q('object.get({"a": {"b": 1}}, ["a", "b"], 0)')).toBe(1);
    expect(q('object.get({"a": 1}, "z", "d")')).toBe('d');
    expect(q('object.keys({"a": 1, "b": 2})')).toEqual(['a', 'b']);
    expect(q('object.union({"a": {"x": 1}}, {"a": {"y": 2}})')).toEqual({ a: { x: 1, y: 2 } });
    expect(q('object.union_n([{"a": 1}, {"b": 2}])')).toEqual({ a: 1, b: 2 });
    expect(q('object.remove({"a": 1, "b": 2}, ["a"])')).toEqual({ b: 2 });
    expect(q('object.filter({"a": 1, "b": 2}, {"a"})')).toEqual({ a: 1 });
    expect(q('{1: "x", [2]: "y"}')).toEqual({ '1': 'x', '[2]': 'y' });
  });

  it('sets', () => {
    expect(q('{1, 2} | {3}')).toEqual([1, 2, 3]);
    expect(q('{1, 2} & {2, 3}')).toEqual([2]);
    expect(q('{1, 2} - {2}')).toEqual([1]);
    expect(q('union({{1}, {2}})')).toEqual([1, 2]);
    expect(q('intersection({{1, 2}, {2}})')).toEqual([2]);
  });
});

describe('encoding, time, net, jwt, types, numbers', () => {
  it('json, yaml and base64', () => {
    expect(q('json.marshal({"b": [1, {2}], "a": null})')).toBe('{"a":null,"b":[1,[2]]}');
    expect(q('json.unmarshal("{\\"a\\": [1]}")')).toEqual({ a: [1] });
    expect(q('json.is_valid("{")')).toBe(false);
    expect(q('yaml.unmarshal("a: 1")')).toEqual({ a: 1 });
    expect(q('base64.encode("hi")')).toBe('aGk=');
    expect(q('base64.decode("aGk=")')).toBe('hi');
  });

  it('time, net and jwt', () => {
    expect(q('time.parse_rfc3339_ns("2024-01-02T03:04:05.5Z")')).toBe(1704164645500000000);
    expect(p.query('x := time.now_ns()', undefined, { nowNs: 42n })).toEqual([{ x: 42 }]);
    expect(q('net.cidr_contains("10.0.0.0/8", "10.1.2.3")')).toBe(true);
    expect(q('net.cidr_contains("10.0.0.0/8", "11.1.2.3")')).toBe(false);
    expect(q('net.cidr_contains("fd00::/8", "fd00::1")')).toBe(true);
    // IPv4-mapped addresses (how Node reports an IPv4 client of a listener on `::`) are the
    // IPv4 address they map, as in OPA (Go's IP.To4).
    expect(q('net.cidr_contains("10.0.0.0/8", "::ffff:10.1.2.3")')).toBe(true);
    expect(q('net.cidr_contains("10.0.0.0/8", "::ffff:11.1.2.3")')).toBe(false);
    expect(q('net.cidr_contains("::ffff:10.0.0.0/104", "10.1.2.3")')).toBe(true);
    expect(q('net.cidr_contains("10.0.0.0/8", "::ffff:10.1.0.0/112")')).toBe(true);
    expect(q('net.cidr_intersects("::ffff:10.0.0.0/104", "10.1.0.0/16")')).toBe(true);
    expect(q('net.cidr_contains("::/0", "10.1.2.3")')).toBe(false);
    expect(q('net.cidr_contains("::ffff:10.0.0.0/80", "10.1.2.3")')).toBe(false);
    const tok =
      Buffer.from('{"alg":"HS256"}').toString('base64url') +
      '.' +
      Buffer.from('{"sub":"a"}').toString('base64url') +
      '.AAE';
    expect(q(`io.jwt.decode("${tok}")`)).toEqual([{ alg: 'HS256' }, { sub: 'a' }, '0001']);
  });

  it('types and numbers', () => {
    expect(
      q(
        '[is_string("a"), is_number(1), is_boolean(true), is_null(null), is_array([]), is_set(set()), is_object({})]',
      ),
    ).toEqual([true, true, true, true, true, true, true]);
    expect(q('type_name({1})')).toBe('set');
    expect(q('numbers.range(1, 3)')).toEqual([1, 2, 3]);
    expect(q('[abs(-2), round(2.5), ceil(1.2), floor(1.8)]')).toEqual([2, 3, 2, 1]);
    expect(q('to_number("12")')).toBe(12);
    // Out of range is undefined as in OPA, never an infinity that passes a `<=` check.
    expect(q('to_number("-1e400")')).toBeUndefined();
    expect(q('to_number("1e400")')).toBeUndefined();
    expect(q('units.parse_bytes("1KiB")')).toBe(1024);
    expect(q('7 % 3')).toBe(1);
    expect(q('7 / 2')).toBe(3.5);
  });
});

describe('walk', () => {
  it('enumerates [path, value] pairs pre-order', () => {
    expect(p.query('walk({"a": [1]}, x)')).toEqual([
      { x: [[], { a: [1] }] },
      { x: [['a'], [1]] },
      { x: [['a', 0], 1] },
    ]);
    expect(p.query('walk(input, [path, "s"])', { a: { b: 's' } })).toEqual([{ path: ['a', 'b'] }]);
  });
});
