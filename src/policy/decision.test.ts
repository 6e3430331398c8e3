import { describe, expect, it } from 'vitest';
import { combine, enforceable } from './decision.js';

describe('enforceable', () => {
  it('refuses an allow with a mask, naming the masked columns', () => {
    const d = combine({
      allow: true,
      mask: { 'public.orders.note': 'null', 'public.customers.card': 'redact' },
    });
    expect(enforceable(d)).toEqual({
      kind: 'deny',
      reasons: [
        'the policy masks public.customers.card, public.orders.note; this gateway cannot mask results yet',
      ],
      hint: expect.any(String),
    });
  });

  it('leaves an allow without a mask, refusals and approvals as they are', () => {
    const plain = combine({ allow: true, limits: { max_rows: 5 } });
    const deny = combine({ deny: ['no'], mask: { 'public.customers.card': 'redact' } });
    const approval = combine({ approval: { reason: 'r' }, allow: true });
    for (const d of [plain, deny, approval]) expect(enforceable(d)).toBe(d);
  });
});
