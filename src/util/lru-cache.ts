// One bounded least-recently-used cache for every cache of the library (shader modules and
// pipelines, compiled evaluation and inference graphs, matmul variant choices): at most `capacity`
// entries; the least recently used is dropped, and `evict` frees what it held. Values may be
// promises (an entry is cached while it is being made; a failed make is dropped, and an entry
// dropped while in flight stays valid for whoever holds its promise).
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(
    readonly capacity: number,
    private readonly evict: (value: V, key: K) => void = () => undefined,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`LruCache: capacity must be an integer >= 1, got ${capacity}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether key is cached (its recency unchanged). */
  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value for key (now the most recently used), or undefined. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores a value, evicting the least recently used entries beyond capacity. */
  set(key: K, value: V): void {
    const old = this.entries.get(key);
    this.entries.delete(key);
    if (old !== undefined && old !== value) this.evict(old, key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [K, V];
      this.entries.delete(oldestKey);
      this.evict(oldest, oldestKey);
    }
  }

  /** The cached value, or make() stored (a rejected promise is removed, not cached). */
  getOrCreate(key: K, make: () => V): V {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const value = make();
    this.set(key, value);
    if (value instanceof Promise) {
      value.catch(() => {
        if (this.entries.get(key) === value) this.entries.delete(key);
      });
    }
    return value;
  }

  /** Removes an entry without evicting it (the caller keeps it). */
  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** Keys, least recently used first. */
  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  values(): IterableIterator<V> {
    return this.entries.values();
  }

  /** [key, value] pairs, least recently used first. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries.entries();
  }

  /** Evicts every entry. */
  clear(): void {
    const all = [...this.entries];
    this.entries.clear();
    for (const [k, v] of all) this.evict(v, k);
  }
}

/**
 * The evict callback of a cache of promises: frees the value once it is made (an entry dropped
 * while in flight is freed when it arrives; a failed make holds nothing).
 */
export function freeWhenMade<T>(free: (value: T) => void): (made: Promise<T>) => void {
  return (made) => void made.then(free).catch(() => undefined);
}
