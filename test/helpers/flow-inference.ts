// What every flow posterior (planar, iaf) owes inference, checked on a model with given weights:
// encode reports mu, logvar and zK as the float64 interpreter computes them, zK differs from μ,
// sample and traverse give finite images of the right size, and a reconstruction decodes the
// posterior's location zK (its codes are zK and its images decode(zK)), not μ.
import { expect } from 'vitest';
import { runGraph64 } from '../../src/reference/graph.js';
import { buildEncoderGraph } from '../../src/vae/build.js';
import type { ResolvedVaeConfig } from '../../src/vae/config.js';
import { VaeInference } from '../../src/vae/inference.js';
import type { VaeModel } from '../../src/vae/model.js';
import { makeRng, mismatches, randomNormal } from './reference.js';

export async function expectFlowInference(
  model: VaeModel,
  config: ResolvedVaeConfig,
  seed: number,
): Promise<void> {
  const Z = config.latentSize;
  const D = config.inputSize;
  const vae = VaeInference.create(model, { batchSizes: [1, 4] });
  try {
    const x = randomNormal(makeRng(seed), 6 * D);
    const got = await vae.encode(x, 6);
    expect(Object.keys(got).sort()).toEqual(['logvar', 'mu', 'zK']);
    const eg = buildEncoderGraph(config, 6);
    const weights = await model.readWeights();
    const r = runGraph64(eg.graph, {
      params: new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)])),
      inputs: new Map([['x', x]]),
    });
    for (const [name, t] of Object.entries(eg.outputs)) {
      const m = mismatches(got[name]!, r.value(t), { atol: 2e-6, rtol: 2e-5 }, name);
      expect(m, `seed ${seed}`).toBeNull();
    }
    // zK is the flow's output at z0 = μ: not μ itself.
    const zK = got.zK!;
    expect(mismatches(zK, got.mu, { atol: 1e-4, rtol: 0 }, 'zK vs mu')).not.toBeNull();
    const sampled = await vae.sample(4, { seed: 3 });
    const traversed = await vae.traverse(got.mu.subarray(0, Z), 1, { steps: 3 });
    const reconstructed = await vae.reconstruct(x, 2);
    const images = [sampled.images, traversed.images, reconstructed.images];
    expect(images.map((a) => a.length)).toEqual([4 * D, 3 * D, 2 * D]);
    expect(images.every((a) => a.every(Number.isFinite))).toBe(true);
    // A reconstruction decodes zK, not μ: its codes are zK and its images decode(zK).
    const want = zK.slice(0, 2 * Z);
    const tol = { atol: 1e-5, rtol: 1e-5 };
    expect(mismatches(reconstructed.codes, want, tol, 'reconstruct codes')).toBeNull();
    const decoded = await vae.decode(want, 2);
    expect(mismatches(reconstructed.images, decoded, tol, 'reconstruct images')).toBeNull();
  } finally {
    vae.destroy();
  }
}
