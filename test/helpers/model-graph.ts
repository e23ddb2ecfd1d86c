// Running one model graph step directly (tests): compile against a model's flat buffers and write
// a batch, its labels, the given noise and the step's hyperparameters; the same step's inputs for
// the float64 interpreter (src/reference/graph.ts), and its gradients against finite differences.
import { CompiledGraph } from '../../src/graph/executor.js';
import type { GpuRuntime } from '../../src/gpu/runtime.js';
import { runGraph64 } from '../../src/reference/graph.js';
import type { ModelGraph } from '../../src/vae/build.js';
import type { ResolvedVaeConfig } from '../../src/vae/config.js';
import { hyperAt } from '../../src/vae/evaluator.js';
import { writeFeeds } from '../../src/vae/feeds.js';
import type { VaeModel } from '../../src/vae/model.js';
import { describeFd, finiteDifferenceAt } from './reference.js';

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
  o: {
    x: Float32Array;
    labels?: ArrayLike<number>;
    eps?: Float32Array;
    mask?: Float32Array;
    step?: number;
  },
): void {
  const rows = mg.x.rows;
  writeFeeds(cg, mg.feeds, { images: o.x, labels: o.labels }, 0, rows);
  if (mg.mask?.role === 'input') {
    if (!o.mask) throw new Error('the graph takes a given mask: pass mask');
    cg.write(mg.mask, o.mask);
  }
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

/** What writeStepInputs writes, as the interpreter's inputs: the feeds, eps, hyper. */
export function stepInputs64(
  mg: ModelGraph,
  config: ResolvedVaeConfig,
  o: { x: ArrayLike<number>; labels?: ArrayLike<number>; eps?: ArrayLike<number>; step?: number },
): Map<string, ArrayLike<number>> {
  const inputs = new Map<string, ArrayLike<number>>([['hyper', hyperAt(config, o.step ?? 0)]]);
  // Every feed as writeFeeds writes it: x and the condition's inputs (labels, the images again).
  for (const feed of mg.feeds) {
    if (feed.field === 'images') inputs.set(feed.tensor.name, o.x);
    else if (feed.field === 'labels' && o.labels) inputs.set(feed.tensor.name, o.labels);
  }
  if (mg.eps) {
    if (!o.eps) throw new Error('the graph takes given noise: pass eps');
    inputs.set('eps', o.eps);
  }
  return inputs;
}

/**
 * The interpreter's parameter gradients of a training graph against central differences of its
 * own objective (the loss times `scale`, as the trainer minimizes it), at `indices(n)` of every
 * parameter of n values: |fd − g| ≤ 1e-7·max(1, the gradient's largest |value|) + 1e-6·|g|.
 * Returns the disagreements, [] when all agree.
 */
export function interpreterFdProblems(
  mg: ModelGraph,
  params: Map<string, Float64Array>,
  inputs: ReadonlyMap<string, ArrayLike<number>>,
  o: { scale: number; step?: number; indices: (n: number) => number[] },
): string[] {
  const step = o.step ?? 0;
  const run = () => runGraph64(mg.graph, { params, inputs, step });
  const grads = run().grads;
  // Measured over 59 seeds of every variant in test/model-layer.test.ts (relu, elu and
  // leaky_relu kinks included): the worst |fd − g| / max(1, scale) is 6e-9 at h = 1e-5 (7e-8 at
  // 1e-6, where rounding dominates).
  const h = 1e-5;
  const problems: string[] = [];
  for (const [name, value] of params) {
    const want = grads.get(name)!;
    const scale = Math.max(1, ...Array.from(want, Math.abs));
    for (const i of o.indices(value.length)) {
      const g = want[i]!;
      const fd = finiteDifferenceAt(
        () => o.scale * run().loss,
        value,
        i,
        h,
        (d) => Math.abs(d - g) <= 1e-7 * scale + 1e-6 * Math.abs(g),
      );
      if (!fd.ok)
        problems.push(`d/d${name}[${i}]: interpreter ${g}, finite difference ${describeFd(fd)}`);
    }
  }
  return problems;
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
