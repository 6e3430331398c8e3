// Connections not yet logged in have a budget of their own, apart from the client cap:
// past it one of them is closed, so that idle sockets or half-done TLS handshakes cannot
// keep a login out until the auth timeout. The one closed is the oldest of the address
// (IPv6: the /64) holding the most of them, so a flood from one place evicts its own
// connections before anyone else's.
import { addressKey } from '../auth/limiter.js';

export class StartupBudget<T> {
  private readonly byAddress = new Map<string, Set<T>>();
  private readonly addressOf = new Map<T, string>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.addressOf.size;
  }

  /** Count a new connection in; returns the one to close when the budget is spent. */
  add(conn: T, address: string | undefined): T | undefined {
    const evicted = this.addressOf.size >= this.max ? this.evict() : undefined;
    const key = address ? addressKey(address) : '';
    let set = this.byAddress.get(key);
    if (!set) this.byAddress.set(key, (set = new Set()));
    set.add(conn);
    this.addressOf.set(conn, key);
    return evicted;
  }

  /** The connection logged in, or closed. */
  delete(conn: T): void {
    const key = this.addressOf.get(conn);
    if (key === undefined) return;
    this.addressOf.delete(conn);
    const set = this.byAddress.get(key)!;
    set.delete(conn);
    if (set.size === 0) this.byAddress.delete(key);
  }

  private evict(): T | undefined {
    let most: Set<T> | undefined;
    for (const set of this.byAddress.values()) if (!most || set.size > most.size) most = set;
    const oldest = most?.values().next().value;
    if (oldest !== undefined) this.delete(oldest);
    return oldest;
  }
}
