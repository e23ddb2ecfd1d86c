// The settings and timing protocol every browser bench page shares (bench/browser, bench/compare).
// It imports nothing from src/ but types, so that a page built over an older tree
// (bench/compare-parent.ts) still builds.
import { MLP_VAE } from '../portable.js';
import type { VaeConfig } from '../../src/vae/config.js';

/** The pytorch/examples MNIST VAE: 784-400-20(-400-784), ReLU, Bernoulli logits, summed loss. */
export const MNIST_VAE: VaeConfig = MLP_VAE;
export const LR = 1e-3;
export const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

/** The traversal grid: GRID×GRID decoded 28×28 images shown on a canvas. */
export const GRID = 16;

/** A workload prepared by one implementation: `run(n)` queues n repetitions, `sync()` waits. */
export interface Timed {
  run(n: number): void | Promise<void>;
  /** Resolves when everything queued so far has finished on the GPU. */
  sync(): Promise<void>;
  dispose(): void;
}

export interface TimeOptions {
  warmup?: number;
  repeats?: number;
  /** Wall time one repeat aims for; n is chosen from the warm-up to reach it. */
  targetMs?: number;
  maxInner?: number;
}

export interface Timing {
  /** Median milliseconds per repetition. */
  ms: number;
  inner: number;
  repeats: number;
  all: number[];
}

/**
 * Warm-up (also estimates one repetition), then `repeats` runs of `inner` repetitions each ending
 * with sync(); the median per repetition. Repeats shrink for slow workloads so the run stays short.
 */
export async function timeIt(t: Timed, options: TimeOptions = {}): Promise<Timing> {
  const targetMs = options.targetMs ?? 250;
  let estimate = Infinity;
  for (let i = 0; i < (options.warmup ?? 1); i++) {
    const t0 = performance.now();
    await t.run(1);
    await t.sync();
    estimate = Math.min(estimate, performance.now() - t0);
  }
  const inner = Math.max(1, Math.min(options.maxInner ?? 64, Math.round(targetMs / estimate)));
  let repeats = options.repeats ?? 5;
  if (estimate > 2000) repeats = Math.min(repeats, 2);
  else if (estimate > 600) repeats = Math.min(repeats, 3);
  const all: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await t.run(inner);
    await t.sync();
    all.push((performance.now() - t0) / inner);
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { ms: sorted[Math.floor(sorted.length / 2)]!, inner, repeats, all };
}

/** Deterministic uniform values in [lo, hi) (mulberry32). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Standard normal values (Box–Muller over randomArray). */
export function randomNormalArray(n: number, seed: number): Float32Array {
  const u = randomArray(2 * n, seed, 0, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(-2 * Math.log(1 - u[2 * i]!));
    out[i] = r * Math.cos(2 * Math.PI * u[2 * i + 1]!);
  }
  return out;
}
