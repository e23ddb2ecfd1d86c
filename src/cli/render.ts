// One-sample reconstructions (z drawn from q(z|x), as in training) for the CLI's PNG grid; decoding
// latents is VaeInference.decode. Compiles the model's forward-only graph, runs it once, reads back.
import { CompiledGraph } from '../graph/executor.js';
import { buildModelGraph, METRICS_STATE } from '../vae/build.js';
import { hyperAt } from '../vae/evaluator.js';
import { writeFeeds, type BatchData } from '../vae/feeds.js';
import type { VaeModel } from '../vae/model.js';

/** Decoder output as pixel intensities: sigmoid of logits (Bernoulli) or the means (Gaussian). */
function toIntensities(model: VaeModel, output: Float32Array): Float32Array {
  if (model.config.likelihood.kind !== 'bernoulli') return output;
  return output.map((v) => 1 / (1 + Math.exp(-v)));
}

/** One-sample reconstructions of the first n rows of `data` (images (n, D), labels) as intensities. */
export async function reconstruct(
  model: VaeModel,
  data: BatchData,
  n: number,
  seed = 0,
): Promise<Float32Array> {
  const mg = buildModelGraph(model.config, { batch: n, training: false, seed });
  const rt = model.rt;
  const metrics = rt.buffers.storage('render.metrics', 4 * mg.metrics.length);
  const cg = await CompiledGraph.compile(rt, mg.graph, {
    params: model.paramBuffers(),
    external: new Map([[METRICS_STATE, metrics]]),
    label: 'render.reconstruct',
  });
  try {
    writeFeeds(cg, mg.feeds, data, 0, n);
    cg.write(mg.hyper, Float32Array.from(hyperAt(model.config, 0)));
    cg.update({ step: 0 });
    rt.submit(cg.dispatches, 'render.reconstruct');
    // With K samples per example (IWAE), the first sample of each example.
    const K = mg.nll.size / n;
    const out = await cg.read(mg.output);
    const D = model.config.inputSize;
    const first = new Float32Array(n * D);
    for (let i = 0; i < n; i++) first.set(out.subarray(i * K * D, (i * K + 1) * D), i * D);
    return toIntensities(model, first);
  } finally {
    cg.destroy();
    rt.buffers.destroy(metrics.buffer);
  }
}
