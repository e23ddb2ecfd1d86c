// Which matmul variant a matmul uses, without measuring on the critical path:
//   1. a variant pinned by the caller (an error when it is not eligible), or WEBGPU_VAE_MATMUL
//      where eligible;
//   2. the choice measured on this adapter for the shape class: in this run, or persisted by an
//      earlier one (IndexedDB in a browser, a cache file in Node; see gpu/tuning-store.ts), when
//      it is at least 10 % faster than the default (each distinct variant is a pipeline to compile);
//   3. else the shipped default for the adapter class (matmul-defaults.ts), and the shape class is
//      queued for measuring in the background: after a delay, in idle time, one variant at a
//      time, timed with timestamp queries (an adapter without them, llvmpipe, keeps the
//      defaults: wall-clock times would include the work sharing the queue). Measured choices are
//      persisted; they apply to matmuls prepared afterwards (already compiled graphs keep theirs).
// selectMatmulVariant() measures now (benchmarks, tests).
import type { BufferRange } from '../gpu/buffers.js';
import type { GpuRuntime, Work } from '../gpu/runtime.js';
import { GpuTimer } from '../gpu/timing.js';
import {
  defaultTuningStore,
  tuningCacheDisabledByEnv,
  type TuningRecord,
  type TuningStore,
} from '../gpu/tuning-store.js';
import { adapterClass, defaultMatmulVariant } from './matmul-defaults.js';
import {
  MATMUL_LAYOUTS,
  MATMUL_VARIANTS,
  eligibleMatmulVariants,
  matmulEligible,
  matmulKernelsVersion,
  matmulSupported,
  prepareMatmul,
  type MatmulLayout,
  type MatmulShape,
  type MatmulVariant,
} from './matmul.js';
import { WeightPacks } from './matmul-pack.js';
import { LruCache } from '../util/lru-cache.js';

/** Environment variable that pins a variant wherever it is eligible, e.g. WEBGPU_VAE_MATMUL=rb. */
export const MATMUL_ENV = 'WEBGPU_VAE_MATMUL';
/** WEBGPU_VAE_TUNING_BACKGROUND=0 turns background measuring off. */
export const TUNING_BACKGROUND_ENV = 'WEBGPU_VAE_TUNING_BACKGROUND';

export interface MatmulSelection {
  variant: MatmulVariant;
  /** Milliseconds per run of each variant measured (Infinity: far slower at first, or failed). */
  timings: Partial<Record<MatmulVariant, number>>;
  /** The shape measured (M may be reduced to bound the measuring time); absent when persisted. */
  measuredShape?: MatmulShape;
  /** 'measured' in this run, or 'persisted' by an earlier one. */
  source: 'measured' | 'persisted';
}

/** What a matmul's variant came from (see the top of this file). */
export type MatmulChoiceSource = 'pinned' | 'env' | 'measured' | 'persisted' | 'default';

function checkLayout(layout: string): asserts layout is MatmulLayout {
  if (!MATMUL_LAYOUTS.includes(layout as MatmulLayout)) {
    throw new Error(`matmul: unknown layout '${layout}' (known: ${MATMUL_LAYOUTS.join(', ')})`);
  }
}

export function checkVariant(variant: string, source: string): asserts variant is MatmulVariant {
  if (!MATMUL_VARIANTS.includes(variant as MatmulVariant)) {
    throw new Error(
      `matmul: unknown variant '${variant}' from ${source} (known: ${MATMUL_VARIANTS.join(', ')})`,
    );
  }
}

function sizeClass(n: number): number {
  return n <= 8 ? n : 2 ** Math.ceil(Math.log2(n));
}

/**
 * The key of a shape class: each dimension rounded up to a power of two (exact up to 8), which
 * variants are eligible (the divisibility by 4 that the vec4 variants need), and whether B is a
 * weight packed once per change (`:wB`).
 */
export function matmulShapeClass(
  layout: MatmulLayout,
  shape: MatmulShape,
  packedB = false,
): string {
  const { M, N, K } = shape;
  const eligible = eligibleMatmulVariants(layout, shape).join('+');
  return `${layout}:${sizeClass(M)}x${sizeClass(N)}x${sizeClass(K)}:${eligible}${packedB ? ':wB' : ''}`;
}

function envValue(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}

function envOff(name: string): boolean {
  const v = envValue(name);
  return v !== undefined && ['0', 'off', 'false', 'no'].includes(v.toLowerCase());
}

function envVariant(): MatmulVariant | undefined {
  const value = envValue(MATMUL_ENV);
  if (value === undefined || value === '') return undefined;
  checkVariant(value, MATMUL_ENV);
  return value;
}

interface Pending {
  layout: MatmulLayout;
  shape: MatmulShape;
  packedB: boolean;
}

/** Shape classes whose choice is kept (least recently used dropped): a bound on the records. */
const MAX_CHOICES = 256;
// One measurement at a time in the process, so that measurements never time each other's work.
let measuring: Promise<unknown> = Promise.resolve();

function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const result = measuring.then(fn);
  measuring = result.catch(() => undefined);
  return result;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves when the JS thread is idle (requestIdleCallback where there is one). */
function idle(): Promise<void> {
  const ric = (globalThis as { requestIdleCallback?: (cb: () => void, o?: object) => number })
    .requestIdleCallback;
  if (ric) return new Promise((resolve) => ric(() => resolve(), { timeout: 1000 }));
  return sleep(50);
}

/** The selector's state for one runtime: choices, the persisted store, the background queue. */
class MatmulTuning {
  readonly choices = new LruCache<string, MatmulSelection>(MAX_CHOICES);
  readonly ready: Promise<void>;
  private store: TuningStore | undefined;
  private readonly queue = new Map<string, Pending>();
  private running: Promise<void> | undefined;
  private saving: Promise<void> = Promise.resolve();
  private readonly adapterKey: string;
  private readonly version: string;
  /** Measurements taken (tests: none on a run that finds everything persisted). */
  measurements = 0;

  constructor(readonly rt: GpuRuntime) {
    this.adapterKey = `${rt.info.name}${rt.info.compatibility ? ' (compatibility)' : ''}`;
    this.version = `${matmulKernelsVersion()}.${RECORDS_REVISION}`;
    this.ready = this.load();
  }

  // An explicit option wins over the environment variable, which wins over the default (on).
  private get persist(): boolean {
    return this.rt.tuning.persist ?? !tuningCacheDisabledByEnv();
  }

  /**
   * Background measuring needs GPU timestamps: by the wall clock it would time whatever else the
   * queue runs meanwhile (a training step's dispatches on llvmpipe, whose submit is synchronous)
   * and persist noise. Without them the shipped defaults stay.
   */
  get background(): boolean {
    const wanted = this.rt.tuning.background ?? !envOff(TUNING_BACKGROUND_ENV);
    return wanted && this.rt.info.features.has('timestamp-query');
  }

  private async load(): Promise<void> {
    if (!this.persist) return;
    this.store = this.rt.tuning.store ?? (await defaultTuningStore());
    if (!this.store) return;
    const records = await this.store.load(this.adapterKey, this.version);
    for (const [key, r] of Object.entries(records)) {
      if (!MATMUL_VARIANTS.includes(r.variant as MatmulVariant)) continue;
      if (this.choices.has(key)) continue;
      this.choices.set(key, {
        variant: r.variant as MatmulVariant,
        timings: (r.timings ?? {}) as MatmulSelection['timings'],
        source: 'persisted',
      });
    }
  }

  get(key: string): MatmulSelection | undefined {
    return this.choices.get(key);
  }

  record(key: string, selection: MatmulSelection): void {
    this.choices.set(key, selection);
    if (!this.persist || !this.store) return;
    const record: TuningRecord = { variant: selection.variant };
    const timings = Object.entries(selection.timings).filter(([, t]) => Number.isFinite(t));
    if (timings.length) record.timings = Object.fromEntries(timings) as Record<string, number>;
    this.saving = this.saving.then(() =>
      this.store!.save(this.adapterKey, this.version, { [key]: record }),
    );
  }

  /** Queues a shape class for background measuring (no-op when it is off or already known). */
  enqueue(key: string, item: Pending): void {
    if (!this.background || this.choices.has(key) || this.queue.has(key)) return;
    this.queue.set(key, item);
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  private async run(): Promise<void> {
    await sleep(this.rt.tuning.backgroundDelayMs ?? 3000);
    while (this.queue.size > 0 && !this.rt.isLost) {
      await idle();
      const [key, item] = this.queue.entries().next().value as [string, Pending];
      this.queue.delete(key);
      if (this.choices.has(key)) continue;
      try {
        const share = Math.min(1, Math.max(0.01, this.rt.tuning.backgroundShare ?? 0.1));
        const selection = await exclusive(() =>
          measureVariants(this.rt, item.layout, item.shape, { packedB: item.packedB }, share),
        );
        this.measurements++;
        if (!this.choices.has(key)) this.record(key, selection);
      } catch (error) {
        // A device lost or destroyed meanwhile ends the queue; anything else skips this class.
        if (this.rt.isLost) return;
        console.warn(`webgpu-vae: measuring matmul ${key} failed: ${(error as Error).message}`);
      }
    }
  }

  /** Resolves when the queue is empty and the last choice is saved. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
    await this.saving;
  }
}

const tunings = new WeakMap<GpuRuntime, MatmulTuning>();

function tuningOf(rt: GpuRuntime): MatmulTuning {
  let t = tunings.get(rt);
  if (!t) {
    t = new MatmulTuning(rt);
    tunings.set(rt, t);
  }
  return t;
}

/** Forgets this runtime's choices (tests, benchmarks). */
export function clearMatmulSelections(rt: GpuRuntime): void {
  tunings.get(rt)?.choices.clear();
}

/** This runtime's choices so far (measured or persisted), by shape class. */
export async function matmulSelections(rt: GpuRuntime): Promise<Map<string, MatmulSelection>> {
  const t = tuningOf(rt);
  await t.ready;
  return new Map(t.choices);
}

/** Measurements this runtime has taken (tests). */
export function matmulMeasurementCount(rt: GpuRuntime): number {
  return tunings.get(rt)?.measurements ?? 0;
}

/** Resolves when background measuring has nothing left to do (tests, benchmarks). */
export function matmulTuningIdle(rt: GpuRuntime): Promise<void> {
  return tuningOf(rt).idle();
}

export interface SelectOptions {
  /** Timed runs per variant after one warm-up (default 3). */
  repeats?: number;
  /** Variants to consider (default: every eligible one). */
  candidates?: readonly MatmulVariant[];
  /** Upper bound on the FLOPs of the measured shape; M is reduced to meet it (default 3e8). */
  maxMeasureFlops?: number;
  /** B is a weight packed once per change (the 'tex' variant then packs only A per run). */
  packedB?: boolean;
}

/**
 * Measures now which eligible variant is fastest for this adapter, layout and shape class (one
 * warm-up, then `repeats` timed runs, median), records the choice for this runtime and persists
 * it. A class already measured in this run is not measured again.
 */
export async function selectMatmulVariant(
  rt: GpuRuntime,
  layout: MatmulLayout,
  shape: MatmulShape,
  options: SelectOptions = {},
): Promise<MatmulVariant> {
  checkLayout(layout);
  checkShape(shape);
  const t = tuningOf(rt);
  await t.ready;
  const key = matmulShapeClass(layout, shape, options.packedB ?? false);
  const hit = t.get(key);
  if (hit?.source === 'measured') return hit.variant;
  const selection = await exclusive(() => measureVariants(rt, layout, shape, options));
  t.measurements++;
  t.record(key, selection);
  return selection.variant;
}

function checkShape(shape: MatmulShape): void {
  for (const key of ['M', 'N', 'K'] as const) {
    const v = shape[key];
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`matmul: ${key} must be a positive integer, got ${v}`);
    }
  }
}

/**
 * The variant a matmul will use, and where it came from: `requested` if given (an error when it is
 * not eligible), else WEBGPU_VAE_MATMUL where it is eligible, else the measured or persisted
 * choice, else the shipped default (and the class is queued for background measuring).
 */
export async function resolveMatmulVariant(
  rt: GpuRuntime,
  layout: MatmulLayout,
  shape: MatmulShape,
  requested?: MatmulVariant,
  packedB = false,
): Promise<{ variant: MatmulVariant; source: MatmulChoiceSource }> {
  if (requested !== undefined) {
    checkVariant(requested, 'the variant option');
    if (!matmulEligible(requested, layout, shape)) {
      throw new Error(
        `matmul: variant '${requested}' is not eligible for ${layout} ${shape.M}×${shape.N}×${shape.K} ` +
          `(vec4 variants need the strides they read as vec4 to be multiples of 4; eligible: ` +
          `${eligibleMatmulVariants(layout, shape).join(', ')})`,
      );
    }
    return { variant: requested, source: 'pinned' };
  }
  const pinned = envVariant();
  if (pinned && matmulEligible(pinned, layout, shape)) return { variant: pinned, source: 'env' };
  const t = tuningOf(rt);
  await t.ready;
  const key = matmulShapeClass(layout, shape, packedB);
  const fallback = defaultMatmulVariant(adapterClass(rt.info.kind), layout, shape, packedB, (v) =>
    matmulSupported(rt, v),
  );
  const hit = t.get(key);
  if (hit && matmulEligible(hit.variant, layout, shape)) {
    // A measured variant only a little faster than the default is not worth its own pipeline:
    // every distinct variant is one more compile at start-up, the larger cost on CPU adapters.
    const best = hit.timings[hit.variant];
    const usual = hit.timings[fallback];
    const keep = best !== undefined && usual !== undefined && best > CLEARLY_FASTER * usual;
    return { variant: keep ? fallback : hit.variant, source: hit.source };
  }
  t.enqueue(key, { layout, shape: { ...shape }, packedB });
  return { variant: fallback, source: 'default' };
}

/**
 * Part of the records' version beside the kernels' hash: bumped when records saved before may be
 * wrong. 2: background measuring without GPU timestamps (before it needed them) timed training
 * steps sharing the queue and saved choices up to 8× slower than the defaults.
 */
const RECORDS_REVISION = 2;

/** How much faster than the default a measured variant must be to replace it (10 %). */
const CLEARLY_FASTER = 0.9;

// ---- measuring ----

const MEASURE_ORDER: readonly MatmulVariant[] = [
  'sgtex',
  'tex',
  'rb4x16',
  'rb4',
  'rb',
  'tiled',
  'naive',
];

function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Wall-clock milliseconds per run of `count` runs in one submit. A pending promise busy-polls the
 * JS thread in Dawn for Node and slows CPU adapters' workers (by a third on SwiftShader), so with
 * an estimate it first sleeps for most of the expected time. (llvmpipe's submit returns when the
 * work is done, so nothing is left to sleep there.)
 */
async function wallTime(rt: GpuRuntime, d: Work, count: number, estimate = 0): Promise<number> {
  const t0 = performance.now();
  rt.submit(
    Array.from({ length: count }, () => d),
    'matmul-select',
  );
  const left = 0.85 * estimate * count - (performance.now() - t0);
  if (left > 2) await sleep(left);
  await rt.finish();
  return (performance.now() - t0) / count;
}

/** GPU milliseconds of one run (timestamp queries around each dispatch, summed). */
async function gpuTime(timer: GpuTimer, d: Work): Promise<number> {
  const dispatches = 'dispatches' in d ? d.dispatches : [d];
  return (await timer.time(dispatches)).reduce((s, k) => s + k.ms, 0);
}

/**
 * Times every candidate. `backgroundShare` (background measuring): wait for idle time before each
 * candidate and pause afterwards so that measuring takes at most that share of the time.
 */
async function measureVariants(
  rt: GpuRuntime,
  layout: MatmulLayout,
  shape: MatmulShape,
  options: SelectOptions,
  backgroundShare?: number,
): Promise<MatmulSelection> {
  const background = backgroundShare !== undefined;
  const repeats = options.repeats ?? 3;
  const maxFlops = options.maxMeasureFlops ?? 3e8;
  const { N, K } = shape;
  let M = shape.M;
  if (2 * M * N * K > maxFlops && M > 64) {
    // Fewer rows of C: same per-invocation work, fewer workgroups; a multiple of 64 keeps M % 4.
    M = Math.min(M, Math.max(64, 64 * Math.ceil(maxFlops / (2 * N * K) / 64)));
  }
  const measured = { M, N, K };
  // Likely fastest first, so that slow ones are dropped after a single run; the naive kernel only
  // competes on tiny problems (unless asked for).
  const candidates = (options.candidates ?? MEASURE_ORDER).filter(
    (v) =>
      matmulEligible(v, layout, shape) &&
      matmulEligible(v, layout, measured) &&
      (v !== 'naive' || options.candidates || 2 * M * N * K <= 1 << 22),
  );
  if (candidates.length === 0)
    throw new Error(`matmul: no candidate variant is eligible for ${layout} ${M}×${N}×${K}`);
  if (candidates.length === 1) {
    return { variant: candidates[0]!, timings: {}, measuredShape: measured, source: 'measured' };
  }
  const scratch: Record<'a' | 'b' | 'c', BufferRange> = {
    a: rt.buffers.storage('matmul:select-a', 4 * M * K),
    b: rt.buffers.storage('matmul:select-b', 4 * K * N),
    c: rt.buffers.storage('matmul:select-c', 4 * M * N),
  };
  // A weight B: the texture variant reads a pack made once, as it would in a model.
  const packs = options.packedB
    ? new WeightPacks(rt, scratch.b.buffer, 'matmul:select-b')
    : undefined;
  // Background measuring times on the GPU (MatmulTuning.background needs timestamps), so that
  // other queued work (training steps) does not count; the foreground by wall clock.
  const timer = background ? new GpuTimer(rt.device) : undefined;
  const timings: Partial<Record<MatmulVariant, number>> = {};
  const failures: string[] = [];
  let best = Infinity;
  try {
    for (const variant of candidates) {
      if (background) await idle();
      const started = performance.now();
      let d;
      try {
        d = await prepareMatmul(rt, { layout, ...measured, ...scratch, variant, label: 'select' });
      } catch (error) {
        // A variant this device cannot build (limits, compiler) is left out of the choice.
        failures.push(`${variant}: ${(error as Error).message}`);
        timings[variant] = Infinity;
        continue;
      }
      try {
        if (timer) {
          await gpuTime(timer, d); // warm-up (and the weight pack)
          const times: number[] = [];
          for (let i = 0; i < repeats; i++) times.push(await gpuTime(timer, d));
          timings[variant] = Math.min(...times);
        } else {
          // Warm-up (a first run may include lazy compilation); far slower than the best: dropped.
          await wallTime(rt, d, 1);
          let estimate = await wallTime(rt, d, 1);
          if (estimate > 4 * best) {
            timings[variant] = Infinity;
            continue;
          }
          // Samples of about 20 ms each (at most 16 runs).
          const count = Math.max(1, Math.min(16, Math.round(20 / Math.max(estimate, 0.05))));
          const times: number[] = [];
          for (let i = 0; i < repeats; i++) {
            const t = await wallTime(rt, d, count, estimate);
            estimate = Math.min(estimate, t);
            times.push(t);
          }
          timings[variant] = median(times);
        }
        best = Math.min(best, timings[variant]!);
      } finally {
        d.destroy();
        if (backgroundShare !== undefined) {
          await sleep((performance.now() - started) * (1 / backgroundShare - 1));
        }
      }
    }
  } finally {
    timer?.destroy();
    packs?.destroy();
    for (const range of Object.values(scratch)) rt.buffers.destroy(range.buffer);
  }
  if (failures.length === candidates.length) {
    throw new Error(
      `matmul: no variant could be prepared for ${layout} ${M}×${N}×${K}:\n${failures.join('\n')}`,
    );
  }
  let variant = candidates.find((v) => timings[v] !== Infinity) ?? candidates[0]!;
  for (const v of candidates)
    if ((timings[v] ?? Infinity) < (timings[variant] ?? Infinity)) variant = v;
  return { variant, timings, measuredShape: measured, source: 'measured' };
}
