import { describe, expect, it } from 'vitest';
import { StartupBudget } from './startup-budget.js';

describe('StartupBudget', () => {
  it('within the budget nothing is closed', () => {
    const b = new StartupBudget<string>(3);
    expect(b.add('a1', '10.0.0.1')).toBeUndefined();
    expect(b.add('b1', '10.0.0.2')).toBeUndefined();
    expect(b.add('a2', '10.0.0.1')).toBeUndefined();
    expect(b.size).toBe(3);
  });

  it('past it, the oldest of the address holding the most goes, not the oldest overall', () => {
    const b = new StartupBudget<string>(4);
    b.add('victim', '192.0.2.7');
    for (let i = 0; i < 3; i++) b.add(`flood${i}`, '198.51.100.9');
    expect(b.add('flood3', '198.51.100.9')).toBe('flood0');
    expect(b.add('flood4', '198.51.100.9')).toBe('flood1');
    expect(b.size).toBe(4);
  });

  it('one address alone: the oldest goes; IPv6 addresses of one /64 count as one', () => {
    const b = new StartupBudget<string>(2);
    b.add('x', '::1');
    b.add('y', '::1');
    expect(b.add('z', '::1')).toBe('x');
    const v = new StartupBudget<string>(3);
    v.add('victim', '2001:db8:1::1');
    v.add('f1', '2001:db8:2::1');
    v.add('f2', '2001:db8:2::ffff');
    expect(v.add('f3', '2001:db8:2:0:1::')).toBe('f1');
  });

  it('a connection that logs in or closes frees its place', () => {
    const b = new StartupBudget<string>(2);
    b.add('a', '10.0.0.1');
    b.add('b', '10.0.0.1');
    b.delete('a');
    b.delete('a');
    expect(b.add('c', '10.0.0.2')).toBeUndefined();
    expect(b.size).toBe(2);
  });
});
