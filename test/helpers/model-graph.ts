// Running one model graph step directly (tests): compile against a model's flat buffers and write
// a batch, its labels, the given noise and the step's hyperparameters.
import { CompiledGraph } from '../../src/graph/executor.js';
import type { GpuRuntime } from '../../src/gpu/runtime.js';
import type { ModelGraph } from '../../src/vae/build.js';
import { hyperAt } from '../../src/vae/evaluator.js';
import { writeFeeds } from '../../src/vae/feeds.js';
import type { VaeModel } from '../../src/vae/model.js';

export async function compileModelGraph(
  rt: GpuRuntime,
  model: VaeModel,
  mg: ModelGraph,
  grads?: GPUBuffer,
  label = 'test',
): Promise<CompiledGraph> {
  return CompiledGraph.compile(rt, mg.graph, { params: model.paramBuffers(grads), label });
}

/** Writes x (and labels), eps when the graph takes it, and the hyperparameters of `step`. */
export function writeStepInputs(
  cg: CompiledGraph,
  mg: ModelGraph,
  model: VaeModel,
  o: { x: Float32Array; labels?: ArrayLike<number>; eps?: Float32Array; step?: number },
): void {
  const rows = mg.x.rows;
  writeFeeds(cg, mg.feeds, { images: o.x, labels: o.labels }, 0, rows);
  if (mg.eps) {
    if (!o.eps) throw new Error('the graph takes given noise: pass eps');
    cg.write(mg.eps, o.eps);
  }
  const step = o.step ?? 0;
  cg.write(mg.hyper, Float32Array.from(hyperAt(model.config, step)));
  cg.update({ step });
}

/** The objective as the trainer minimizes it: the loss tensor times the reduction's scale. */
export function scaledObjective(model: VaeModel, batch: number, loss: number): number {
  return model.config.objective.reduction === 'mean' ? loss / batch : loss;
}

/**
 * NaN in every parameter's range of a flat gradient buffer (not the alignment padding between
 * them, which no step writes): whatever a step leaves unwritten stays NaN.
 */
export function poisonGradients(model: VaeModel, grads: GPUBuffer): void {
  for (const entry of model.layout.values()) {
    const n = entry.shape.reduce((a, b) => a * b, 1);
    model.rt.device.queue.writeBuffer(grads, entry.offset, new Float32Array(n).fill(Number.NaN));
  }
}
