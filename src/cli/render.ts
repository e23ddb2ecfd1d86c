// Decoding latents and reconstructing inputs into displayable images, for the CLI's PNG grids.
// Each call compiles a small forward-only graph, runs it once and reads the result back.
import { CompiledGraph } from '../graph/executor.js';
import { Graph } from '../graph/graph.js';
import { OPS } from '../graph/ops.js';
import { declareParams, decoderGraph, buildVaeGraph } from '../vae/graphs.js';
import type { VaeModel } from '../vae/model.js';

/** Decoder output as pixel intensities: sigmoid of logits (Bernoulli) or the means (Gaussian). */
function toIntensities(model: VaeModel, output: Float32Array): Float32Array {
  if (model.config.likelihood.kind !== 'bernoulli') return output;
  return output.map((v) => 1 / (1 + Math.exp(-v)));
}

/** Decodes z (n, Z) into (n, D) intensities. */
export async function decodeLatents(
  model: VaeModel,
  z: Float32Array,
  n: number,
): Promise<Float32Array> {
  const g = new Graph(OPS);
  const params = declareParams(g, model.config, false);
  const zIn = g.input('z', [n, model.config.latentSize]);
  const { output } = decoderGraph(g, model.config, params, zIn, false);
  output.keep = true;
  const cg = await CompiledGraph.compile(model.rt, g, {
    params: model.paramBuffers(),
    label: 'render.decode',
  });
  try {
    cg.write(zIn, z);
    model.rt.submit(cg.dispatches, 'render.decode');
    return toIntensities(model, await cg.read(output));
  } finally {
    cg.destroy();
  }
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
