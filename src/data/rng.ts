// Seeded pseudo-random numbers for data generation, shuffling and binarization (CPU side).
// xoshiro128** (Blackman & Vigna) seeded through splitmix32; normals by the Box-Muller transform.

/** A deterministic random number generator. */
export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** A uniform float in [0, 1) with 32 bits of randomness. */
  next(): number;
  /** A uniform integer in [0, n), n ≥ 1 (unbiased, by rejection). */
  int(n: number): number;
  /** A standard normal N(0, 1) draw. */
  normal(): number;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A seeded RNG. Any finite number is a valid seed (integers up to 2^53 are all distinct seeds;
 * fractional seeds are truncated). The same seed always gives the same stream.
 */
export function createRng(seed = 0): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`createRng: seed must be finite, got ${seed}`);
  const t = Math.trunc(Math.abs(seed));
  const lo = t % 0x100000000;
  const hi = Math.floor(t / 0x100000000) ^ (seed < 0 ? 0x5bd1e995 : 0);
  const st = { s: lo ^ Math.imul(hi, 0x27d4eb2f) };
  let a = splitmix32(st);
  let b = splitmix32(st) ^ hi;
  let c = splitmix32(st);
  let d = splitmix32(st);
  if ((a | b | c | d) === 0) a = 1;
  let spare = 0;
  let hasSpare = false;

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const tt = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= tt;
    d = rotl(d, 11);
    return result;
  };
  const next = (): number => nextUint32() / 0x100000000;
  return {
    nextUint32,
    next,
    int(n: number): number {
      if (!(n >= 1) || n > 0x100000000 || !Number.isInteger(n)) {
        throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
      }
      const limit = 0x100000000 - (0x100000000 % n);
      let x = nextUint32();
      while (x >= limit) x = nextUint32();
      return x % n;
    },
    normal(): number {
      if (hasSpare) {
        hasSpare = false;
        return spare;
      }
      let u = next();
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      hasSpare = true;
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}

/**
 * A seed derived from `seed` and a path of non-negative integers (e.g. epoch, batch): a pure
 * function, so that a stream keyed by (seed, epoch, position) can be recreated anywhere, e.g. when a
 * run resumes mid-epoch. Distinct paths give unrelated streams.
 */
export function deriveSeed(seed: number, ...path: number[]): number {
  const first = createRng(seed);
  let a = first.nextUint32();
  let b = first.nextUint32();
  for (const part of path) {
    if (!Number.isSafeInteger(part) || part < 0) {
      throw new RangeError(`deriveSeed: path parts must be integers >= 0, got ${part}`);
    }
    // Both halves of the part, mixed into both words (murmur3's finalizer spreads every bit).
    a = fmix32(a ^ fmix32((part >>> 0) + 0x9e3779b9));
    b = fmix32(b ^ fmix32(Math.floor(part / 0x100000000) + 0x7f4a7c15) ^ a);
  }
  // 53 bits: a in the high part, 21 bits of b below it.
  return a * 0x200000 + (b >>> 11);
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Fills `out` with a uniformly random permutation of 0..n-1 (Fisher–Yates), n = out.length. */
export function randomPermutation(out: Uint32Array, rng: Rng): Uint32Array {
  for (let i = 0; i < out.length; i++) out[i] = i;
  shuffleInPlace(out, rng);
  return out;
}

/** Shuffles `a` in place with the Fisher–Yates algorithm. */
export function shuffleInPlace(a: Uint32Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}
