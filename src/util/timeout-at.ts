// A timer for a wall-clock moment however far off: setTimeout waits at most 2^31-1 ms
// (24.8 days) and fires at once past that, so a later moment is waited for in steps.

const MAX_DELAY = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** Run `fn` once `Date.now()` reaches `at` (ms); the timer does not hold the process open. */
export function timeoutAt(at: number, fn: () => void, now: () => number = Date.now): LongTimeout {
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (): void => {
    const ms = at - now();
    if (ms <= 0) return fn();
    timer = setTimeout(() => !cleared && arm(), Math.min(ms, MAX_DELAY));
    timer.unref();
  };
  arm();
  return {
    clear: () => {
      cleared = true;
      clearTimeout(timer);
    },
  };
}
