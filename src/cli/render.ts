// One-sample reconstructions (z drawn from q(z|x), as in training) for the CLI's PNG grid; decoding
// latents is VaeInference.decode. Compiles a small forward-only graph, runs it once, reads back.
import { CompiledGraph } from '../graph/executor.js';
import { buildVaeGraph } from '../vae/graphs.js';
import type { VaeModel } from '../vae/model.js';

/** Decoder output as pixel intensities: sigmoid of logits (Bernoulli) or the means (Gaussian). */
function toIntensities(model: VaeModel, output: Float32Array): Float32Array {
  if (model.config.likelihood.kind !== 'bernoulli') return output;
  return output.map((v) => 1 / (1 + Math.exp(-v)));
}

/** One-sample reconstructions of x (n, D) as (n, D) intensities. */
export async function reconstruct(
  model: VaeModel,
  x: Float32Array,
  n: number,
  seed = 0,
): Promise<Float32Array> {
  const vg = buildVaeGraph(model.config, { batch: n, training: false, seed });
  const rt = model.rt;
  const metrics = rt.buffers.storage('render.metrics', 16);
  const cg = await CompiledGraph.compile(rt, vg.graph, {
    params: model.paramBuffers(),
    external: new Map([['metrics', metrics]]),
    label: 'render.reconstruct',
  });
  try {
    cg.write(vg.x, x.subarray(0, n * model.config.inputSize));
    cg.update({ step: 0, capacity: 0 });
    rt.submit(cg.dispatches, 'render.reconstruct');
    return toIntensities(model, await cg.read(vg.output));
  } finally {
    cg.destroy();
    rt.buffers.destroy(metrics.buffer);
  }
}
