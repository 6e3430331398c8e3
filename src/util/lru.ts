// A small LRU map on top of Map's insertion order; used by the parse and decision caches.

export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  /** Each entry's weight, when the cache is bounded by weight too. */
  private readonly weights: Map<K, number> | undefined;
  private weight = 0;

  /**
   * `capacity`: most entries. `maxWeight` and `weigh`: most total weight (an estimate of
   * the entries' memory); past either, the least recently used entries go.
   */
  constructor(
    private readonly capacity: number,
    private readonly maxWeight = Infinity,
    private readonly weigh?: (key: K, value: V) => number,
  ) {
    if (weigh) this.weights = new Map();
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    // Recency only matters once eviction is near; below half full, skip the re-insert
    // (a delete and a set on every hit of the per-statement cache).
    if (this.map.size > this.capacity >> 1 || this.weight > this.maxWeight / 2) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    if (this.map.has(key)) this.remove(key);
    const w = this.weigh ? this.weigh(key, value) : 0;
    // An entry heavier than the whole budget is not kept at all.
    if (w > this.maxWeight) return;
    while (
      this.map.size >= this.capacity ||
      (this.map.size > 0 && this.weight + w > this.maxWeight)
    )
      this.remove(this.map.keys().next().value as K);
    this.map.set(key, value);
    if (this.weights) {
      this.weights.set(key, w);
      this.weight += w;
    }
  }

  private remove(key: K): void {
    this.map.delete(key);
    if (this.weights) {
      this.weight -= this.weights.get(key) ?? 0;
      this.weights.delete(key);
    }
  }

  get size(): number {
    return this.map.size;
  }

  /** The total weight of the entries (0 when the cache is not weighed). */
  get totalWeight(): number {
    return this.weight;
  }

  clear(): void {
    this.map.clear();
    this.weights?.clear();
    this.weight = 0;
  }
}
