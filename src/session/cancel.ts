// Cancel keys: clients get the gateway's own BackendKeyData; a CancelRequest with a known
// key is sent upstream with the upstream key, an unknown one is ignored (no oracle).
import { connect } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { cancelRequest } from '../wire/index.js';

interface Entry {
  secret: Buffer;
  host: string;
  port: number;
  upstreamPid: number;
  upstreamSecret: Buffer;
}

export class CancelRegistry {
  private readonly byPid = new Map<number, Entry>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    /** Cancels forwarded per second for one session (burst the same). */
    private readonly ratePerSecond = 20,
  ) {}

  /** Issue a fresh (pid, secret) for a session. */
  issue(
    target: { host: string; port: number },
    upstreamPid: number,
    upstreamSecret: Buffer,
  ): { pid: number; secret: Buffer } {
    let pid: number;
    do pid = randomBytes(4).readInt32BE(0) & 0x7fffffff;
    while (pid === 0 || this.byPid.has(pid));
    const secret = randomBytes(4);
    this.byPid.set(pid, {
      secret,
      host: target.host,
      port: target.port,
      upstreamPid,
      upstreamSecret,
    });
    return { pid, secret };
  }

  release(pid: number): void {
    this.byPid.delete(pid);
    this.buckets.delete(String(pid));
  }

  private allow(key: string): boolean {
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: this.ratePerSecond, at: now };
    b.tokens = Math.min(this.ratePerSecond, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond);
    b.at = now;
    if (this.buckets.size > 10_000) this.buckets.clear();
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * Handle a CancelRequest. Resolves once it is done with: at once when it is not forwarded,
   * or when PostgreSQL has closed the cancel connection it was forwarded on (it has sent
   * the signal by then), within 5 s. Never rejects.
   */
  cancel(pid: number, secret: Buffer): Promise<void> {
    // The key is checked first: a guess costs a lookup (pid and secret are 63 random bits),
    // and nobody else's requests can use up what a session's own cancels may spend. Only
    // the cancels of one session are limited (each opens a connection upstream).
    const e = this.byPid.get(pid);
    if (!e || e.secret.length !== secret.length || !timingSafeEqual(e.secret, secret))
      return Promise.resolve();
    if (!this.allow(String(pid))) return Promise.resolve();
    return new Promise((resolve) => {
      const sock = connect({ host: e.host, port: e.port });
      sock.on('close', () => resolve());
      sock.on('error', () => sock.destroy());
      sock.setTimeout(5000, () => sock.destroy());
      sock.on('connect', () => sock.end(cancelRequest(e.upstreamPid, e.upstreamSecret)));
    });
  }
}
