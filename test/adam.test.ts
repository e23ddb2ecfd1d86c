import { describe, expect, it } from 'vitest';
import { adamBiasCorrections, prepareAdam, type AdamHyper } from '../src/kernels/adam.js';
import { adamStep64 as referenceAdamStep64, gradClipScale64 } from '../src/reference/adam.js';
import { TEST_ADAPTERS, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';

interface State {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  /** Elements whose float32 result is ill-conditioned (see adamStep64). */
  illConditioned?: Set<number>;
}

/**
 * One step of torch.optim.Adam / AdamW (after clip_grad_norm_) in float64 (src/reference/adam.ts),
 * noting the elements whose float32 result is ill-conditioned: g + decay cancelling to a small
 * fraction of its terms (Adam then divides by the tiny result), the same in PyTorch, so such
 * elements are not compared.
 */
function adamStep64(
  s: State,
  grads: Float32Array,
  t: number,
  h: Required<Omit<AdamHyper, 'maxNorm'>> & { maxNorm?: number },
) {
  if (!h.decoupled && s.illConditioned) {
    const clip = gradClipScale64(grads, h.maxNorm);
    for (let i = 0; i < grads.length; i++) {
      const gi = grads[i]! * clip;
      const decay = h.weightDecay * s.p[i]!;
      if (Math.abs(gi + decay) < 1e-3 * (Math.abs(gi) + Math.abs(decay))) s.illConditioned.add(i);
    }
  }
  referenceAdamStep64(s.p, s.m, s.v, grads, t, h);
}

const BASE = {
  lr: 1e-2,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  decoupled: true,
  skipNonFinite: true,
};
const CONFIGS: [string, typeof BASE & { maxNorm?: number }][] = [
  ['AdamW wd=0.01, no clipping', { ...BASE, weightDecay: 0.01 }],
  ['Adam L2 wd=0.1, clip 1.0', { ...BASE, weightDecay: 0.1, decoupled: false, maxNorm: 1.0 }],
  ['AdamW wd=0.05, clip 5.0', { ...BASE, lr: 3e-3, weightDecay: 0.05, maxNorm: 5.0 }],
  [
    'Adam unchecked (no norm)',
    { ...BASE, beta1: 0.8, beta2: 0.99, eps: 1e-6, skipNonFinite: false },
  ],
];
const STEPS = 4;

describe.each(TEST_ADAPTERS)('adam on %s', (adapter) => {
  it.each(CONFIGS)(
    '%s matches PyTorch formulas over several steps, P = 1, 1001, 70001 (scalar), 1000, 40000 (vec4)',
    async (_name, h) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const n of [1, 1001, 70001, 1000, 40000]) {
        const ctx = `${_name} P=${n} seed=${seed}`;
        const p0 = randomNormal(rng, n);
        const state: State = {
          p: Float64Array.from(p0),
          m: new Float64Array(n),
          v: new Float64Array(n),
          illConditioned: new Set(),
        };
        const params = upload(rt, 'params', p0);
        const grads = upload(rt, 'grads', new Float32Array(n));
        const m = upload(rt, 'm', new Float32Array(n));
        const v = upload(rt, 'v', new Float32Array(n));
        const step = await prepareAdam(rt, { params, grads, m, v, n, ...h });
        const normPasses = Math.max(1, Math.ceil(Math.log(n) / Math.log(32)));
        expect(step.dispatches.length).toBe(
          h.skipNonFinite || h.maxNorm !== undefined ? 1 + normPasses : 1,
        );
        let lastGrads: Float32Array = new Float32Array(n);
        for (let t = 1; t <= STEPS; t++) {
          lastGrads = randomNormal(rng, n, 0.5 * t);
          if (t === 2) lastGrads[0] = 0;
          rt.device.queue.writeBuffer(grads.buffer, 0, lastGrads as Float32Array<ArrayBuffer>);
          // The learning rate changes from step 3 on (a schedule), through setStep.
          const lr = t >= 3 ? h.lr * 0.5 : h.lr;
          step.setStep(t, lr);
          await rt.submitChecked(step.dispatches);
          adamStep64(state, lastGrads, t, { ...h, lr });
        }
        const [gp, gm, gv] = [await read(rt, params), await read(rt, m), await read(rt, v)];
        const skip = state.illConditioned!;
        expect(skip.size, `${ctx}: too many ill-conditioned elements`).toBeLessThan(5 + n / 100);
        for (const i of skip) [gp[i], gm[i], gv[i]] = [state.p[i]!, state.m[i]!, state.v[i]!];
        // f32 rounding of p each step plus a relative error of the lr-sized update.
        expect(
          mismatches(
            gp,
            state.p,
            { atol: STEPS * 2e-7 + h.lr * 1e-5, rtol: STEPS * 2e-7 },
            `${ctx} params`,
          ),
        ).toBeNull();
        expect(mismatches(gm, state.m, { atol: 1e-6, rtol: 1e-5 }, `${ctx} m`)).toBeNull();
        expect(mismatches(gv, state.v, { atol: 1e-9, rtol: 1e-5 }, `${ctx} v`)).toBeNull();
        if (step.stats) {
          const stats = await read(rt, step.stats);
          const sumsq = lastGrads.reduce((a, b) => a + b * b, 0);
          expect(Math.abs(stats[0]! - sumsq), `${ctx} stats[0]`).toBeLessThan(1e-5 * sumsq + 1e-30);
          expect(stats[1], `${ctx} skipped steps`).toBe(0);
        }
        step.destroy();
        for (const b of [params, grads, m, v]) rt.buffers.destroy(b.buffer);
      }
    },
  );

  // Odd n: the scalar kernel; a multiple of 4: the vec4 one.
  it.each([
    [NaN, 1001],
    [Infinity, 1001],
    [3e20, 1001],
    [NaN, 1000],
    [Infinity, 1000],
  ])('skips a step whose gradient holds %s, leaving weights untouched (n = %i)', async (bad, n) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const h = { ...BASE, weightDecay: 0.01, maxNorm: 1.0 };
    const p0 = randomNormal(rng, n);
    const state: State = {
      p: Float64Array.from(p0),
      m: new Float64Array(n),
      v: new Float64Array(n),
    };
    const params = upload(rt, 'params', p0);
    const grads = upload(rt, 'grads', new Float32Array(n));
    const m = upload(rt, 'm', new Float32Array(n));
    const v = upload(rt, 'v', new Float32Array(n));
    const step = await prepareAdam(rt, { params, grads, m, v, n, ...h });
    const ctx = `bad=${bad} seed=${seed}`;
    let before: Float32Array[] = [];
    for (let t = 1; t <= 4; t++) {
      const g = randomNormal(rng, n);
      if (t === 3) {
        g[517] = bad;
        before = [await read(rt, params), await read(rt, m), await read(rt, v)];
      }
      rt.device.queue.writeBuffer(grads.buffer, 0, g as Float32Array<ArrayBuffer>);
      step.setStep(t);
      await rt.submitChecked(step.dispatches);
      if (t === 3) {
        const after = [await read(rt, params), await read(rt, m), await read(rt, v)];
        after.forEach((a, k) =>
          expect(a, `${ctx}: buffer ${k} changed by a skipped step`).toEqual(before[k]),
        );
        expect((await read(rt, step.stats!))[1], `${ctx}: skipped count`).toBe(1);
      } else {
        adamStep64(state, g, t, h);
      }
    }
    const gp = await read(rt, params);
    expect(gp.every(Number.isFinite)).toBe(true);
    expect(
      mismatches(gp, state.p, { atol: 1e-6, rtol: 1e-6 }, `${ctx} params after recovery`),
    ).toBeNull();
    step.destroy();
  });

  it('names bad configurations', async () => {
    const rt = await runtimeFor(adapter);
    const b = () => upload(rt, 'b', new Float32Array(10));
    const cfg = { params: b(), grads: b(), m: b(), v: b(), n: 10 };
    await expect(prepareAdam(rt, { ...cfg, n: 0 })).rejects.toThrow(/n must be a positive integer/);
    await expect(prepareAdam(rt, { ...cfg, n: 11 })).rejects.toThrow(/'params' holds 10 floats/);
    await expect(prepareAdam(rt, { ...cfg, beta1: 1 })).rejects.toThrow(
      /beta1 must be in \[0, 1\)/,
    );
    await expect(prepareAdam(rt, { ...cfg, maxNorm: 0 })).rejects.toThrow(
      /maxNorm must be finite and > 0/,
    );
    await expect(prepareAdam(rt, { ...cfg, eps: -1 })).rejects.toThrow(/eps must be/);
    const step = await prepareAdam(rt, cfg);
    expect(() => step.setStep(0)).toThrow(/step t must be an integer >= 1/);
    step.destroy();
    expect(adamBiasCorrections(0.9, 0.999, 2)).toEqual({ bc1: 1 - 0.81, bc2: 1 - 0.999 ** 2 });
  });
});
