// The one bounded LRU cache (src/util/lru-cache.ts) behind the runtime's modules and pipelines,
// the evaluator's and inference's compiled graphs and the matmul choices: recency, eviction with
// its callback, promises in flight (shared, dropped when they fail, valid after eviction) and
// freeWhenMade. Pure CPU.
import { describe, expect, it } from 'vitest';
import { freeWhenMade, LruCache } from '../src/util/lru-cache.js';

/** A cache of capacity 3 that records what it evicts. */
function recording() {
  const evicted: string[] = [];
  const cache = new LruCache<string, number>(3, (value, key) => evicted.push(`${key}=${value}`));
  return { cache, evicted };
}

/** A promise with its settle functions. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('LruCache', () => {
  it('evicts the least recently used beyond capacity; get() refreshes, has() does not', () => {
    const { cache, evicted } = recording();
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1);
    expect(cache.has('b')).toBe(true);
    cache.set('d', 4);
    expect(evicted).toEqual(['b=2']);
    expect([...cache.keys()]).toEqual(['c', 'a', 'd']);
    expect([...cache]).toEqual([
      ['c', 3],
      ['a', 1],
      ['d', 4],
    ]);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it('evicts a replaced value, not a value set again; delete() hands an entry back unevicted', () => {
    const { cache, evicted } = recording();
    cache.set('a', 1);
    cache.set('a', 1);
    expect(evicted).toEqual([]);
    cache.set('a', 5);
    expect(evicted).toEqual(['a=1']);
    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(evicted).toEqual(['a=1']);
    cache.set('x', 7);
    cache.set('y', 8);
    cache.clear();
    expect(evicted).toEqual(['a=1', 'x=7', 'y=8']);
    expect(cache.size).toBe(0);
  });

  it('names a bad capacity', () => {
    for (const bad of [0, -1, 2.5, NaN, Infinity]) {
      expect(() => new LruCache(bad), String(bad)).toThrow(
        /LruCache: capacity must be an integer >= 1/,
      );
    }
  });

  it('shares a promise in flight and drops one that fails, never a newer entry of its key', async () => {
    const cache = new LruCache<string, Promise<number>>(2);
    let makes = 0;
    const first = deferred<number>();
    const make = () => {
      makes++;
      return first.promise;
    };
    const p = cache.getOrCreate('k', make);
    expect(cache.getOrCreate('k', make)).toBe(p);
    expect(makes).toBe(1);
    // Evicted while in flight: whoever holds it still gets the value.
    cache.getOrCreate('x', () => Promise.resolve(1));
    cache.getOrCreate('y', () => Promise.resolve(2));
    expect(cache.has('k')).toBe(false);
    first.resolve(42);
    await expect(p).resolves.toBe(42);

    // A failed make is dropped, so the next call makes it again.
    const failing = cache.getOrCreate('f', () => Promise.reject(new Error('no')));
    await expect(failing).rejects.toThrow('no');
    expect(cache.has('f')).toBe(false);

    // A failure that arrives after its key was made anew leaves the new entry alone.
    const slow = deferred<number>();
    const old = cache.getOrCreate('g', () => slow.promise);
    cache.delete('g');
    const fresh = cache.getOrCreate('g', () => Promise.resolve(3));
    slow.reject(new Error('late'));
    await expect(old).rejects.toThrow('late');
    expect(cache.get('g')).toBe(fresh);
  });

  it('freeWhenMade frees an evicted entry once it arrives, and ignores a failed one', async () => {
    const freed: number[] = [];
    const cache = new LruCache<string, Promise<{ id: number }>>(
      1,
      freeWhenMade((e) => freed.push(e.id)),
    );
    const slow = deferred<{ id: number }>();
    cache.getOrCreate('a', () => slow.promise);
    cache.getOrCreate('b', () => Promise.reject(new Error('failed')));
    cache.getOrCreate('c', () => Promise.resolve({ id: 3 }));
    await tick();
    expect(freed).toEqual([]);
    slow.resolve({ id: 1 });
    await tick();
    expect(freed).toEqual([1]);
    cache.clear();
    await tick();
    expect(freed).toEqual([1, 3]);
  });
});
