// Per-session names: prepared statements (protocol Parse and SQL PREPARE share one
// namespace in PostgreSQL), portals and cursors, each carrying the facts it was decided on.
import type { StatementFacts } from '../sql/types.js';
import type { DecisionRecord } from '../policy/types.js';

export interface Prepared {
  facts: StatementFacts;
  decision: DecisionRecord;
}

/** Holds names with staged changes that only apply when a batch is forwarded. */
export class NameTable<T> {
  private readonly live = new Map<string, T>();
  private staged = new Map<string, T | null>();
  private clearAll = false;
  /** Most names one session may hold (PostgreSQL has no cap; we keep memory bounded). */
  constructor(private readonly cap = 10_000) {}

  get(name: string): T | undefined {
    const s = this.staged.get(name);
    if (s !== undefined) return s ?? undefined;
    return this.clearAll ? undefined : this.live.get(name);
  }

  /** Stage removal of every name (DEALLOCATE ALL, DISCARD ALL). */
  stageClear(): void {
    this.staged.clear();
    this.clearAll = true;
  }

  stage(name: string, value: T | null): void {
    this.staged.set(name, value);
  }

  /** Apply staged changes (the batch reached upstream). */
  commit(): void {
    if (this.clearAll) {
      this.live.clear();
      this.clearAll = false;
    }
    if (this.staged.size === 0) return;
    for (const [k, v] of this.staged) {
      if (v === null) this.live.delete(k);
      else this.live.set(k, v);
    }
    this.staged.clear();
    if (this.live.size > this.cap) {
      const oldest = this.live.keys().next().value as string;
      this.live.delete(oldest);
    }
  }

  /** Drop staged changes (the batch was refused). */
  rollback(): void {
    this.staged.clear();
    this.clearAll = false;
  }

  clear(): void {
    this.live.clear();
    this.staged.clear();
  }
}
