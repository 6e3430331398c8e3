// Unicode strings in Rego as OPA (Go) treats them: lower/upper map one code point at a time
// with the simple mappings (upper("straße") is "STRAßE", lower("İ") is "i", lower("ΟΔΟΣ")
// is "οδοσ"), and strings order by code point ("\uff01" < "😀"), which sort, sets, min and
// max follow. Before, JS's full case mappings and UTF-16 order were used.
import { describe, expect, it } from 'vitest';
import { compileModules } from './rego/index.js';

const policy = compileModules([
  {
    path: 'p.rego',
    source: `package t
import rego.v1
up := upper("straße")
low := lower("İ")
sigma := lower("ΟΔΟΣ")
less if "\\uff01" < "😀"
sorted := sort(["😀", "\\uff01", "a"])
top := max({"😀", "\\uff01"})
`,
  },
]);

describe('Unicode strings as OPA treats them', () => {
  it('case mapping, one code point at a time', () => {
    const v = policy.evalRef('data.t', {}) as Record<string, unknown>;
    expect([v.up, v.low, v.sigma]).toEqual(['STRAßE', 'i', 'οδοσ']);
  });
  it('code-point order', () => {
    const v = policy.evalRef('data.t', {}) as Record<string, unknown>;
    expect(v.less).toBe(true);
    expect(v.sorted).toEqual(['a', '\uff01', '😀']);
    expect(v.top).toBe('😀');
  });
});
