// time.clock, time.date and time.weekday answer in the zone of the [ns, "Area/City"] form, as
// OPA does ("a number representing the nanoseconds since epoch (UTC); or a two-element array
// of the nanoseconds, and a timezone string":
// https://www.openpolicyagent.org/docs/policy-reference/#builtin-time-timeclock); an unknown
// zone is a builtin error (undefined). Before, the zone was ignored and the answer was UTC:
// a "writes only during business hours, local time" deny rule used the UTC hour, so at
// 06:30 in New York (10:30 UTC) a write was allowed although the policy denies it.
import { describe, expect, it } from 'vitest';
import { contractInput } from './engine.contract.js';
import { regoEngine } from './rego-engine.js';
import { compileModules } from './rego/index.js';
import type { PolicyInput } from './types.js';

const POLICY = `package portcullis

import rego.v1

default allow := false

allow if input.statement.class in {"read", "write"}

business_hours(ns) if {
	[h, _, _] := time.clock([ns, "America/New_York"])
	h >= 9
	h < 17
	not time.weekday([ns, "America/New_York"]) in {"Saturday", "Sunday"}
}

deny contains "writes only between 09:00 and 17:00 New York time, Monday to Friday" if {
	input.statement.class == "write"
	not business_hours(input.now_ns)
}
`;

const input = (nowNs: number): PolicyInput =>
  contractInput({
    text: 'UPDATE orders SET status = 1 WHERE id = 2',
    command: 'UPDATE',
    class: 'write',
    relations: [{ schema: 'public', name: 'orders', kind: 'table', access: 'write' }],
    columns: [],
    hasWhere: true,
    nowNs,
  });

describe('time.clock / time.weekday with a timezone', () => {
  it('answers in the given zone (OPA)', () => {
    const p = compileModules([]);
    expect(p.query('x := time.clock([0, "America/New_York"])')).toEqual([{ x: [19, 0, 0] }]);
    expect(p.query('x := time.weekday([0, "America/Los_Angeles"])')).toEqual([{ x: 'Wednesday' }]);
    expect(p.query('x := time.date([0, "America/Los_Angeles"])')).toEqual([{ x: [1969, 12, 31] }]);
    // unknown zone: builtin error in OPA, so undefined
    expect(p.query('x := time.clock([0, "Mars/Olympus_Mons"])')).toEqual([]);
  });

  it('denies a write at 06:30 New York time (10:30 UTC) (OPA: deny)', () => {
    const engine = regoEngine([{ path: 'policies.rego', source: POLICY }]);
    // Monday 2024-07-01 10:30 UTC = 06:30 EDT
    const ns = Date.UTC(2024, 6, 1, 10, 30) * 1e6;
    expect(engine.decide(input(ns)).kind).toBe('deny');
  });
});
