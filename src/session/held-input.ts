// Client messages the gateway holds undecided (groups waiting for their Sync, messages half
// received), counted across every session against one budget: each session's own bounds
// (4 × maxMessageBytes held, one message half received) times hundreds of sessions would
// otherwise come to gigabytes.

export class HeldInput {
  /** Bytes held now, every session's. */
  bytes = 0;

  constructor(
    /** The budget, read each time (a reload may change it). */
    private readonly max: () => number,
  ) {}

  /** Hold `n` more bytes, if the budget allows. */
  take(n: number): boolean {
    if (n > 0 && this.bytes + n > this.max()) return false;
    this.bytes += n;
    return true;
  }

  release(n: number): void {
    this.bytes = Math.max(0, this.bytes - n);
  }
}
