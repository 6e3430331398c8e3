// Failure limiter: per client address and per user, lock out after repeated failed logins
// (a valid JWT still gets in: see authenticator.ts).
import { isIPv6 } from 'node:net';

export interface LimitRule {
  /** Failures within `windowMs` that trigger a lockout. */
  maxFailures: number;
  windowMs: number;
  /** How long a locked key is refused without verifying anything. */
  lockoutMs: number;
  /** Attempts verified at once for one key; more are refused (not counted). Default 64. */
  maxInFlight?: number;
}

export interface FailureLimiterOptions {
  /** Default 20 failures per minute, then 5 minutes locked. */
  perAddress?: LimitRule | false;
  /** Keyed by the startup user name. Default 50 failures per minute, then 5 minutes locked. */
  perUser?: LimitRule | false;
  /** Tracked keys at most (oldest dropped first). Default 100,000. */
  maxEntries?: number;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
}

/** 'neutral': neither success nor the client's fault (the JWKS endpoint is down), not counted. */
export type AttemptOutcome = 'success' | 'failure' | 'neutral';

export type AttemptCheck =
  | { ok: true; finish(outcome: AttemptOutcome): void }
  | { ok: false; reason: string; retryAfterMs: number };

export interface FailureLimiter {
  /**
   * Ask before verifying. When allowed, the attempt counts as in flight until `finish`
   * is called exactly once, so a burst of concurrent guesses is bounded too.
   */
  begin(clientAddr: string, user: string | undefined): AttemptCheck;
  /** Number of tracked keys (for metrics and tests). */
  readonly size: number;
}

interface Entry {
  windowStart: number;
  failures: number;
  inFlight: number;
  lockedUntil: number;
}

/**
 * @example
 * const limiter = createFailureLimiter();
 * const a = limiter.begin(addr, user);
 * if (!a.ok) return refuse(a.reason);
 * a.finish((await verify()) ? 'success' : 'failure');
 */
export function createFailureLimiter(opts: FailureLimiterOptions = {}): FailureLimiter {
  const defaults = (max: number): LimitRule => ({
    maxFailures: max,
    windowMs: 60_000,
    lockoutMs: 300_000,
  });
  const rules: [string, LimitRule][] = [];
  if (opts.perAddress !== false) rules.push(['a:', opts.perAddress ?? defaults(20)]);
  if (opts.perUser !== false) rules.push(['u:', opts.perUser ?? defaults(50)]);
  const now = opts.now ?? Date.now;
  const maxEntries = opts.maxEntries ?? 100_000;
  const entries = new Map<string, Entry>();

  const entryFor = (key: string, rule: LimitRule, t: number): Entry => {
    let e = entries.get(key);
    if (!e) {
      if (entries.size >= maxEntries) prune(t);
      e = { windowStart: t, failures: 0, inFlight: 0, lockedUntil: 0 };
      entries.set(key, e);
    } else if (t - e.windowStart >= rule.windowMs && e.lockedUntil <= t) {
      e.windowStart = t;
      e.failures = 0;
    }
    return e;
  };

  const prune = (t: number) => {
    for (const [k, e] of entries) {
      if (e.inFlight === 0 && e.lockedUntil <= t) entries.delete(k);
      if (entries.size < maxEntries * 0.9) return;
    }
    // Everything is locked or busy: drop the oldest to stay bounded.
    const oldest = entries.keys().next();
    if (!oldest.done) entries.delete(oldest.value);
  };

  return {
    begin(clientAddr, user) {
      const t = now();
      // One rule at a time: an attempt refused by the address's rule makes no entry for
      // its user name (a locked-out flood of made-up names must not fill the map).
      const keyed: { key: string; rule: LimitRule; entry: Entry }[] = [];
      for (const [prefix, rule] of rules) {
        // No user name (not bound to the token): no per-user rule.
        if (prefix === 'u:' && user === undefined) continue;
        const key = prefix + (prefix === 'a:' ? addressKey(clientAddr) : user);
        const entry = entryFor(key, rule, t);
        keyed.push({ key, rule, entry });
        if (entry.lockedUntil > t) {
          return {
            ok: false,
            reason: `${kind(key)} locked out`,
            retryAfterMs: entry.lockedUntil - t,
          };
        }
        // After a first failure, in-flight attempts count against the budget too; before it,
        // a burst of concurrent guesses is still capped.
        const busy =
          entry.inFlight >= (rule.maxInFlight ?? 64) ||
          (entry.failures > 0 && entry.failures + entry.inFlight >= rule.maxFailures);
        if (busy) {
          return {
            ok: false,
            reason: `${kind(key)} has too many attempts in flight`,
            retryAfterMs: 1000,
          };
        }
      }
      for (const k of keyed) k.entry.inFlight++;
      let done = false;
      return {
        ok: true,
        finish(outcome) {
          if (done) return;
          done = true;
          const t2 = now();
          for (const { key, rule, entry } of keyed) {
            entry.inFlight--;
            if (outcome !== 'failure') {
              // Keep the map small: a clean key with nothing pending need not be remembered.
              if (entry.failures === 0 && entry.inFlight === 0 && entry.lockedUntil <= t2) {
                entries.delete(key);
              }
              continue;
            }
            if (t2 - entry.windowStart >= rule.windowMs) {
              entry.windowStart = t2;
              entry.failures = 0;
            }
            entry.failures++;
            if (entry.failures >= rule.maxFailures) {
              entry.lockedUntil = t2 + rule.lockoutMs;
              entry.failures = 0;
              entry.windowStart = entry.lockedUntil;
            }
            if (!entries.has(key)) entries.set(key, entry);
          }
        },
      };
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * The unit an address is limited by: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its
 * /64 prefix, since one host commonly holds a whole /64 and could rotate through it.
 */
export function addressKey(addr: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1];
  if (isIPv6(addr)) {
    const [head, tail = ''] = addr.toLowerCase().split('::');
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const groups = addr.includes('::')
      ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
      : left;
    return (
      groups
        .slice(0, 4)
        .map((g) => g.replace(/^0+(?=.)/, ''))
        .join(':') + '::/64'
    );
  }
  return addr;
}

function kind(key: string): string {
  return key.startsWith('a:') ? 'client address' : 'user';
}
