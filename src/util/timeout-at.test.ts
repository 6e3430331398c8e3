import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { timeoutAt } from './timeout-at.js';

const DAY = 86_400_000;

describe('timeoutAt', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('waits for a moment past what one setTimeout can wait (24.8 days)', () => {
    const fn = vi.fn();
    timeoutAt(60 * DAY, fn);
    vi.advanceTimersByTime(25 * DAY);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(34 * DAY);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(DAY);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('runs at once for a moment already past, and never once cleared', () => {
    const past = vi.fn();
    timeoutAt(-1, past);
    expect(past).toHaveBeenCalledTimes(1);
    const fn = vi.fn();
    const t = timeoutAt(30 * DAY, fn);
    vi.advanceTimersByTime(25 * DAY);
    t.clear();
    vi.advanceTimersByTime(10 * DAY);
    expect(fn).not.toHaveBeenCalled();
  });
});
