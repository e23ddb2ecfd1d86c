// Inference with a conditional VAE: encode(x, y), decode(z, y), sample(n, { labels }) and the
// decoder program, against the float64 interpreter of the same encoder and decoder graphs, on a
// fresh random model; and the named errors for missing, unneeded or invalid labels.
import { describe, expect, it } from 'vitest';
import { readFloats } from '../src/gpu/buffers.js';
import { runGraph64 } from '../src/reference/graph.js';
import { buildDecoderGraph, buildEncoderGraph } from '../src/vae/build.js';
import { resolveVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';

const raw: VaeConfig = {
  version: 2,
  inputSize: 13,
  latentSize: 3,
  encoder: { hidden: [9], activation: 'tanh' },
  decoder: { hidden: [8], activation: 'elu' },
  condition: { kind: 'label', classes: 5 },
};

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

describe.each(TEST_ADAPTERS)('conditional inference on %s', (adapter) => {
  it('encodes under the given labels and decodes under others, as the float64 graphs do', async () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const rt = await runtimeFor(adapter);
    const config = resolveVaeConfig(raw);
    const weights = initialWeights(config, seed);
    const model = VaeModel.create(rt, config, { weights });
    const vae = VaeInference.create(model, { batchSizes: [4, 16] });
    const params = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
    const n = 7; // a planned size of 16, padded
    const x = randomUniform(rng, n * 13, 0, 1);
    const labels = Float32Array.from({ length: n }, () => Math.floor(rng() * 5));

    const { mu, logvar } = await vae.encode(x, labels);
    const eg = buildEncoderGraph(config, n);
    const enc = runGraph64(eg.graph, {
      params,
      inputs: new Map([
        ['x', x],
        ['y', labels],
      ]),
    });
    const tol = { atol: 1e-5, rtol: 1e-5 };
    expect(mismatches(mu, enc.value(eg.outputs.mu!), tol, 'mu'), `seed ${seed}`).toBeNull();
    expect(mismatches(logvar, enc.value(eg.outputs.logvar!), tol, 'logvar')).toBeNull();
    // The label matters: encoding under other labels moves the code.
    const other = await vae.encode(
      x,
      Float32Array.from(labels, (y) => (y + 1) % 5),
    );
    expect(other.mu).not.toEqual(mu);

    const z = randomNormal(rng, n * 3);
    const decodeLabels = Float32Array.from({ length: n }, (_, i) => i % 5);
    const images = await vae.decode(z, decodeLabels);
    const dg = buildDecoderGraph(config, n);
    const dec = runGraph64(dg.graph, {
      params,
      inputs: new Map([
        ['z', z],
        ['y', decodeLabels],
      ]),
    });
    const want = dec.value(dg.output).map(sigmoid);
    expect(mismatches(images, want, tol, 'images'), `seed ${seed}`).toBeNull();
    // One label for every row, given in the options.
    const threes = await vae.decode(z, n, { labels: 3 });
    const dec3 = runGraph64(dg.graph, {
      params,
      inputs: new Map([
        ['z', z],
        ['y', new Float32Array(n).fill(3)],
      ]),
    });
    expect(mismatches(threes, dec3.value(dg.output).map(sigmoid), tol, 'threes')).toBeNull();

    // sample: codes from the prior, decoded under the label.
    const s = await vae.sample(6, { labels: 4, seed: 9 });
    const again = await vae.decode(s.codes, 6, { labels: 4 });
    expect(mismatches(s.images, again, { atol: 1e-6, rtol: 1e-6 }, 'sample')).toBeNull();

    // The decoder program of frame loops takes its labels, and changes them.
    const program = await vae.createDecoderProgram(4, { labels: 1 });
    rt.device.queue.writeBuffer(program.z.buffer, program.z.offset, z.slice(0, 12));
    await rt.submitChecked([program]);
    const firstFour = await vae.decode(z.subarray(0, 12), 4, { labels: 1 });
    const read = () => readFloats(rt.device, { ...program.images, size: 4 * 13 * 4 });
    expect(mismatches(await read(), firstFour, { atol: 1e-6, rtol: 1e-6 }, 'program')).toBeNull();
    program.setLabels(Float32Array.of(0, 1, 2, 3));
    await rt.submitChecked([program]);
    const mixed = await vae.decode(z.subarray(0, 12), Float32Array.of(0, 1, 2, 3));
    expect(mismatches(await read(), mixed, { atol: 1e-6, rtol: 1e-6 }, 'relabelled')).toBeNull();
    program.destroy();
    vae.destroy();
    model.destroy();
  });

  it('names missing, unneeded and invalid labels', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, raw, { seed: 1 });
    const vae = VaeInference.create(model);
    const z = new Float32Array(2 * 3).fill(0.1);
    await expect(vae.decode(z, 2)).rejects.toThrow(
      /decode: the model is conditioned on labels \(condition 'label'\); pass the labels/,
    );
    await expect(vae.decode(z, Float32Array.of(1, 5))).rejects.toThrow(
      /decode: label 5 at example 1 is not a class in \[0, 5\)/,
    );
    await expect(vae.sample(3, { labels: 2.5 })).rejects.toThrow(/label 2\.5 at example 0/);
    await expect(vae.decode(z, Float32Array.of(1))).rejects.toThrow(
      /decode: z holds 6 values, not a whole number >= 1 of rows of 3|1 labels for 2 rows/,
    );
    await expect(vae.decode(z, 2, { labels: 1 })).resolves.toHaveLength(2 * 13);
    vae.destroy();
    model.destroy();
    const plain = VaeModel.create(rt, { ...raw, condition: { kind: 'none' } }, { seed: 1 });
    const plainVae = VaeInference.create(plain);
    await expect(plainVae.decode(z, 2, { labels: 1 })).rejects.toThrow(
      /decode: labels were given, but the model has no condition/,
    );
    plainVae.destroy();
    plain.destroy();
  });
});
