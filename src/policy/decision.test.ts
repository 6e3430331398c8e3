import { describe, expect, it } from 'vitest';
import { combine, enforceable } from './decision.js';

const customers = { relations: [{ schema: 'public', name: 'customers' }] };
const orders = { relations: [{ schema: 'public', name: 'orders' }] };

describe('enforceable', () => {
  const masked = combine({ allow: true, mask: { 'public.customers.card': 'redact' } });

  it('refuses an allow whose mask names a column of a relation the statement reads', () => {
    expect(enforceable(masked, customers)).toEqual({
      kind: 'deny',
      reasons: ['the policy masks public.customers.card; this gateway cannot mask results yet'],
      hint: expect.any(String),
    });
  });

  it('names only the masked columns of relations the statement reads', () => {
    const d = combine({
      allow: true,
      mask: { 'public.orders.note': 'null', 'public.customers.card': 'redact' },
    });
    expect(enforceable(d, orders).reasons).toEqual([
      'the policy masks public.orders.note; this gateway cannot mask results yet',
    ]);
  });

  it('leaves an allow alone when its mask is empty or names relations not read', () => {
    const plain = combine({ allow: true, limits: { max_rows: 5 } });
    expect(enforceable(plain, customers)).toBe(plain);
    expect(enforceable(masked, orders)).toBe(masked);
    expect(enforceable(masked, undefined)).toBe(masked);
  });

  it('leaves refusals and approvals as they are', () => {
    const deny = combine({ deny: ['no'], mask: { 'public.customers.card': 'redact' } });
    const approval = combine({ approval: { reason: 'r' }, allow: true });
    expect(enforceable(deny, customers)).toBe(deny);
    expect(enforceable(approval, customers)).toBe(approval);
  });
});
