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

describe('the redact set', () => {
  it('rides on every kind of decision, sorted and without duplicates', () => {
    expect(combine({ allow: true, redact: ['params', 'literals', 'params'] })).toMatchObject({
      kind: 'allow',
      redact: ['literals', 'params'],
    });
    expect(combine({ deny: ['no'], redact: ['literals'] })).toMatchObject({
      kind: 'deny',
      redact: ['literals'],
    });
    expect(combine({ approval: { reason: 'r' }, redact: ['params'] })).toMatchObject({
      kind: 'approval',
      redact: ['params'],
    });
    expect(combine({ allow: true, redact: [] })).not.toHaveProperty('redact');
    expect(combine({ allow: true })).not.toHaveProperty('redact');
  });

  it('denies a malformed set and redacts everything of that statement', () => {
    for (const redact of ['params', ['params', 'text'], [1], { params: true }, true])
      expect(combine({ allow: true, redact })).toEqual({
        kind: 'deny',
        reasons: [expect.stringMatching(/malformed redact set/)],
        redact: ['literals', 'params'],
      });
  });

  it('stays on an allow refused for its mask', () => {
    const d = combine({ allow: true, mask: { 'public.c.card': 'redact' }, redact: ['params'] });
    expect(enforceable(d)).toMatchObject({ kind: 'deny', redact: ['params'] });
  });
});

describe('malformed deny and limits refuse', () => {
  it('refuses a deny that is not a set (a boolean deny rule) rather than passing it over', () => {
    for (const deny of [true, 1, { a: 'no' }, null])
      expect(combine({ deny, allow: true })).toMatchObject({
        kind: 'deny',
        reasons: [expect.stringMatching(/malformed deny/)],
      });
    expect(combine({ deny: false, allow: true }).kind).toBe('allow');
    expect(combine({ deny: [], allow: true }).kind).toBe('allow');
  });

  it('refuses limits it cannot carry out rather than running the statement without them', () => {
    for (const limits of [
      { max_rows: '100' },
      { max_rows: -1 },
      { timeout_ms: 0 },
      { max_row: 10 },
      { max_rows: 10, timeout: 5 },
      [10],
      'max_rows=10',
      true,
    ])
      expect(combine({ allow: true, limits })).toMatchObject({
        kind: 'deny',
        reasons: [expect.stringMatching(/malformed limits/)],
      });
    expect(combine({ allow: true, limits: { max_rows: 0, timeout_ms: 5 } })).toMatchObject({
      kind: 'allow',
      limits: { max_rows: 0, timeout_ms: 5 },
    });
    expect(combine({ allow: true, limits: {} })).toMatchObject({ kind: 'allow', limits: {} });
  });
});
