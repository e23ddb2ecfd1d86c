// Matmul benchmark: GFLOP/s of every eligible variant on the VAE's shapes (forward and the
// backward layouts) and 1024³, each result first checked against a float64 CPU reference (on a
// sample of rows). Usage: npx tsx bench/matmul.ts [llvmpipe|swiftshader|gpu|auto] [--defaults]
// --defaults: the shapes of the MNIST VAE's graphs as they run (forward and dX read the weight W
// as B, packed once per change: 'wB'; dW reads activations only) at the train batch 128 and the
// decode batches, no selector column: what the shipped default table (matmul-defaults.ts) is
// made from. --only <regex>: the cases whose name matches.
import type { BufferRange } from '../src/gpu/buffers.js';
import { makeRng } from '../test/helpers/reference.js';
import { readFloats } from '../src/gpu/buffers.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime, type GpuRuntime, type Work } from '../src/gpu/runtime.js';
import {
  MATMUL_VARIANTS,
  matmulEligible,
  matmulSupported,
  prepareMatmul,
  type MatmulLayout,
  type MatmulVariant,
} from '../src/kernels/matmul.js';
import {
  clearMatmulSelections,
  matmulSelections,
  selectMatmulVariant,
} from '../src/kernels/matmul-select.js';
import { WeightPacks } from '../src/kernels/matmul-pack.js';

interface BenchCase {
  what: string;
  layout: MatmulLayout;
  M: number;
  N: number;
  K: number;
  /** B is a weight packed once per change (WeightPacks), as in a model's forward and dX. */
  packedB?: boolean;
}

/** The MNIST VAE (784-400-20) matmuls as its graphs run them. */
function vaeCases(): BenchCase[] {
  const cases: BenchCase[] = [];
  const B = 128;
  for (const [what, out, inn] of [
    ['enc.0', 400, 784],
    ['enc.mu', 20, 400],
    ['dec.0', 400, 20],
    ['dec.out', 784, 400],
  ] as const) {
    cases.push({ what: `fwd ${what}`, layout: 'NT', M: B, N: out, K: inn, packedB: true });
    if (what !== 'enc.0')
      cases.push({ what: `dX ${what}`, layout: 'NN', M: B, N: inn, K: out, packedB: true });
    cases.push({ what: `dW ${what}`, layout: 'TN', M: out, N: inn, K: B });
  }
  for (const D of [1, 16, 64, 256]) {
    cases.push({ what: `decode${D} dec.0`, layout: 'NT', M: D, N: 400, K: 20, packedB: true });
    cases.push({ what: `decode${D} dec.out`, layout: 'NT', M: D, N: 784, K: 400, packedB: true });
  }
  return cases;
}

const CASES: BenchCase[] = [
  { what: 'fwd 784→400 (X·W)', layout: 'NN', M: 128, N: 400, K: 784 },
  { what: 'fwd 400→784 (H·W)', layout: 'NN', M: 128, N: 784, K: 400 },
  { what: 'fwd 400→20 (H·W)', layout: 'NN', M: 128, N: 20, K: 400 },
  { what: 'dW 784×400 (Xᵀ·dY)', layout: 'TN', M: 784, N: 400, K: 128 },
  { what: 'dX 128×784 (dY·Wᵀ)', layout: 'NT', M: 128, N: 784, K: 400 },
  { what: 'dW 400×784 (Hᵀ·dY)', layout: 'TN', M: 400, N: 784, K: 128 },
  { what: 'dX 128×400 (dY·Wᵀ)', layout: 'NT', M: 128, N: 400, K: 784 },
  { what: 'dW 400×20 (Hᵀ·dY)', layout: 'TN', M: 400, N: 20, K: 128 },
  { what: 'dH 128×400 (dY·Wᵀ)', layout: 'NT', M: 128, N: 400, K: 20 },
  { what: '1024³', layout: 'NN', M: 1024, N: 1024, K: 1024 },
  // A label-conditioned first layer reads [x, one-hot y]: K = 794 rules out the vec4 variants.
  { what: 'fwd 794→400 CVAE enc.0', layout: 'NT', M: 128, N: 400, K: 794, packedB: true },
  { what: 'fwd 794→500 M2 enc.0', layout: 'NT', M: 1100, N: 500, K: 794, packedB: true },
  { what: 'fwd 500→784 M2 dec.out', layout: 'NT', M: 1100, N: 784, K: 500, packedB: true },
  { what: 'dX 500→784 M2 dec.out', layout: 'NN', M: 1100, N: 500, K: 784, packedB: true },
];

function random(n: number, r: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

/** Largest deviation from a float64 reference over a sample of rows, relative to the tolerance. */
function check(c: BenchCase, a: Float32Array, b: Float32Array, got: Float32Array): string | null {
  const { layout, M, N, K } = c;
  const rows = [0, M - 1, ...Array.from({ length: 6 }, (_, i) => Math.floor(((i + 1) * M) / 7))];
  const atol = 5e-7 * (K + 2);
  for (const m of rows) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        s +=
          (layout === 'TN' ? a[k * M + m]! : a[m * K + k]!) *
          (layout === 'NT' ? b[n * K + k]! : b[k * N + n]!);
      }
      const v = got[m * N + n]!;
      if (!(Math.abs(v - s) <= atol + 2e-5 * Math.abs(s)))
        return `c[${m},${n}] = ${v}, expected ${s}`;
    }
  }
  return null;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Milliseconds per dispatch: batches of dispatches in one submit. A pending promise busy-polls the
 * JS thread and slows SwiftShader's workers (see the notes), so each batch first sleeps for most of
 * its expected time, then awaits completion (llvmpipe's submit is synchronous: no sleep there).
 */
async function timeDispatch(rt: GpuRuntime, d: Work, samples: number): Promise<number> {
  let t0 = performance.now();
  rt.submit([d], 'warm-up');
  await rt.finish();
  let estimate = performance.now() - t0;
  const batch = Math.max(1, Math.min(64, Math.round(100 / Math.max(estimate, 0.01))));
  const list = Array.from({ length: batch }, () => d);
  const times: number[] = [];
  for (let s = 0; s < samples + 1; s++) {
    t0 = performance.now();
    rt.submit(list, 'bench');
    // Sleep for what is left of the expected time (nothing where submit itself waited).
    const left = 0.85 * estimate * batch - (performance.now() - t0);
    if (left > 1) await sleep(left);
    await rt.finish();
    const t = (performance.now() - t0) / batch;
    estimate = Math.min(estimate, t);
    if (s > 0) times.push(t); // the first batch calibrates the sleep
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const defaults = args.includes('--defaults');
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? new RegExp(args[onlyAt + 1] ?? '') : undefined;
  const adapter = (args.find((a, i) => !a.startsWith('--') && (onlyAt < 0 || i !== onlyAt + 1)) ??
    'llvmpipe') as AdapterChoice;
  const rt = await createRuntime({ adapter, tuning: { persist: false, background: false } });
  console.log(`adapter: ${rt.info.name} (${rt.info.kind})`);
  const slow = rt.info.kind === 'swiftshader';
  const header = ['case', 'layout', 'M×N×K', ...MATMUL_VARIANTS, defaults ? 'best' : 'selected'];
  console.log(header.join('\t'));
  const summary: string[][] = [];
  for (const c of (defaults ? vaeCases() : CASES).filter((c) => !only || only.test(c.what))) {
    const { layout, M, N, K } = c;
    const big = M * N * K >= 1 << 30;
    const r = makeRng(1234 + M + N + K);
    const a = random(M * K, r);
    const b = random(K * N, r);
    const bufs: Record<'a' | 'b' | 'c', BufferRange> = {
      a: rt.buffers.upload('a', a),
      b: rt.buffers.upload('b', b),
      c: rt.buffers.storage('c', 4 * M * N),
    };
    const packs = c.packedB ? new WeightPacks(rt, bufs.b.buffer, 'b') : undefined;
    const row: string[] = [c.what, layout, `${M}×${N}×${K}${c.packedB ? ' wB' : ''}`];
    let best: [string, number] = ['', 0];
    for (const variant of MATMUL_VARIANTS) {
      const skip =
        !matmulEligible(variant, layout, c) ||
        !matmulSupported(rt, variant) ||
        (big && slow && !['rb4', 'rb4x16', 'tex'].includes(variant)) ||
        (big && variant === 'naive');
      if (skip) {
        row.push(matmulEligible(variant, layout, c) && matmulSupported(rt, variant) ? 'skip' : '-');
        continue;
      }
      const d = await prepareMatmul(rt, {
        layout,
        M,
        N,
        K,
        ...bufs,
        variant: variant as MatmulVariant,
      });
      await rt.submitChecked([d]);
      const problem = check(c, a, b, await readFloats(rt.device, bufs.c));
      if (problem) {
        row.push('WRONG');
        console.error(`${variant} ${layout} ${M}×${N}×${K}: ${problem}`);
        d.destroy();
        continue;
      }
      const ms = await timeDispatch(rt, d, big ? 3 : 5);
      const gflops = (2 * M * N * K) / (ms * 1e6);
      row.push(gflops.toFixed(2));
      if (gflops > best[1]) best = [variant, gflops];
      d.destroy();
    }
    if (defaults) {
      row.push(best[0]);
    } else {
      clearMatmulSelections(rt);
      const t0 = performance.now();
      const chosen = await selectMatmulVariant(rt, layout, c, { packedB: c.packedB ?? false });
      const selectMs = performance.now() - t0;
      const sel = [...(await matmulSelections(rt)).values()][0];
      row.push(
        `${chosen} (${selectMs.toFixed(0)} ms${sel?.measuredShape && sel.measuredShape.M !== M ? `, at M=${sel.measuredShape.M}` : ''})`,
      );
    }
    console.log(row.join('\t'));
    summary.push(row);
    packs?.destroy();
    for (const range of Object.values(bufs)) rt.buffers.destroy(range.buffer);
  }
  rt.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
