// Per-example row sums: ms per forward of the likelihoods (B = 128, D = 784) and of kl_forward
// (B = 128, Z = 20) in both row-sum variants: 'workgroup' (the tree in workgroup memory with
// barriers, the only variant before) and 'blocks' (barrier-free block sums plus reduce_rows passes,
// now the default on CPU adapters). Each result is first checked against a float64 reference.
// Usage: npx tsx bench/rows.ts [llvmpipe|swiftshader]
import type { BufferRange } from '../src/gpu/buffers.js';
import { readFloats } from '../src/gpu/buffers.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime, type GpuRuntime, type Work } from '../src/gpu/runtime.js';
import { prepareKlRows } from '../src/kernels/kl.js';
import {
  prepareLikelihoodForward,
  rowSumVariantFor,
  type Likelihood,
  type RowSumVariant,
} from '../src/kernels/likelihood.js';
import { klForward64 } from '../src/reference/kl.js';
import { likelihoodForward64 } from '../src/reference/likelihood.js';
import { makeRng } from '../test/helpers/reference.js';

const B = 128;
const D = 784;
const Z = 20;
const VARIANTS: RowSumVariant[] = ['workgroup', 'blocks'];
/** Dispatches recorded per submit, and timed submits (the median is reported). */
const REPS = 20;
const ROUNDS = 9;

function uniform(n: number, rng: () => number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng());
}

/** Median ms per encode() of `d`, REPS per submit. */
async function time(rt: GpuRuntime, d: Work): Promise<number> {
  const reps = Array.from({ length: REPS }, () => d);
  rt.submit(reps);
  await rt.finish();
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    rt.submit(reps);
    await rt.finish();
    samples.push((performance.now() - t0) / REPS);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function maxRelError(got: Float32Array, want: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  }
  return worst;
}

async function main(): Promise<void> {
  const adapter = (process.argv[2] ?? 'llvmpipe') as AdapterChoice;
  const rt = await createRuntime({ adapter });
  const rng = makeRng(1234);
  console.log(
    `adapter: ${rt.info.name} (${rt.info.kind}); default variant ${rowSumVariantFor(rt)}`,
  );
  console.log(`ms per forward, median of ${ROUNDS} submits of ${REPS}\n`);
  console.log('| kernel | shape | workgroup (before) | blocks (after) | speedup | max rel err |');
  console.log('|---|---|---|---|---|---|');

  const n = B * D;
  const out = uniform(n, rng, -4, 4);
  const target = Float32Array.from({ length: n }, () => (rng() < 0.5 ? 0 : rng()));
  const logSigma = uniform(n, rng, -2, 1.5);
  const bufs = {
    output: rt.buffers.upload('out', out),
    target: rt.buffers.upload('target', target),
    logSigma: rt.buffers.upload('log_sigma', logSigma),
  };
  const nll: BufferRange = rt.buffers.storage('nll', 4 * B);
  const cases: [string, Likelihood][] = [
    ['bernoulli', { kind: 'bernoulli' }],
    ['gaussian', { kind: 'gaussian', sigma: 1 }],
    ['gaussian-learned', { kind: 'gaussian-learned' }],
  ];
  for (const [name, lk] of cases) {
    const learned = lk.kind === 'gaussian-learned';
    const want = likelihoodForward64(out, target, learned ? logSigma : undefined, B, D, lk);
    const ms: number[] = [];
    let err = 0;
    for (const variant of VARIANTS) {
      const d = await prepareLikelihoodForward(rt, {
        likelihood: lk,
        nll,
        output: bufs.output,
        target: bufs.target,
        ...(lk.kind === 'gaussian-learned' ? { logSigma: bufs.logSigma } : {}),
        batch: B,
        size: D,
        variant,
      });
      await rt.submitChecked([d]);
      err = Math.max(err, maxRelError(await readFloats(rt.device, nll), want));
      ms.push(await time(rt, d));
      d.destroy();
    }
    row(`${name} likelihood`, `${B}×${D}`, ms, err);
  }

  const mu = uniform(B * Z, rng, -2, 2);
  const lv = uniform(B * Z, rng, -3, 2);
  const want = klForward64(mu, lv, B, Z);
  const kl = rt.buffers.storage('kl', 4 * B);
  const muBuf = rt.buffers.upload('mu', mu);
  const lvBuf = rt.buffers.upload('lv', lv);
  const ms: number[] = [];
  let err = 0;
  for (const variant of VARIANTS) {
    const f = await prepareKlRows(rt, {
      kl,
      mu: muBuf,
      logvar: lvBuf,
      batch: B,
      latent: Z,
      variant,
    });
    await rt.submitChecked([f]);
    err = Math.max(err, maxRelError(await readFloats(rt.device, kl), want));
    ms.push(await time(rt, f));
    f.destroy();
  }
  row('kl_forward (per example)', `${B}×${Z}`, ms, err);
  rt.destroy();
}

function row(what: string, shape: string, ms: number[], err: number): void {
  const [before, after] = ms as [number, number];
  console.log(
    `| ${what} | ${shape} | ${before.toFixed(3)} | ${after.toFixed(3)} | ` +
      `${(before / after).toFixed(1)}× | ${err.toExponential(1)} |`,
  );
  if (err > 1e-5) throw new Error(`${what}: relative error ${err} against float64`);
}

await main();
