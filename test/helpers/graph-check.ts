// Checks a small graph end to end: its GPU gradients against the float64 interpreter of the same
// graph (src/reference/graph.ts), and the interpreter against central finite differences of its own
// loss. A graph built here has a random probe: loss = Σ probe ⊙ y for the checked output y, so
// every output element carries a different weight.
import { CompiledGraph } from '../../src/graph/executor.js';
import { Graph, type Tensor } from '../../src/graph/graph.js';
import { multiply } from '../../src/graph/ops/elementwise.js';
import { objective } from '../../src/graph/ops/objective.js';
import { total } from '../../src/graph/ops/util.js';
import { planFlat } from '../../src/graph/planner.js';
import type { GpuRuntime } from '../../src/gpu/runtime.js';
import { runGraph64 } from '../../src/reference/graph.js';
import { POISON } from './gpu.js';
import { describeFd, finiteDifferenceAt, mismatches, type Tolerance } from './reference.js';

export interface CheckedGraph {
  graph: Graph;
  /** Parameter values (every trainable leaf). */
  params: Map<string, Float32Array>;
  /** Input values by name. */
  inputs: Map<string, Float32Array>;
}

/**
 * A graph over parameters and inputs made by `build`, whose output is probed: loss = Σ probe ⊙ y.
 * `param(name, values, shape)` declares a trainable parameter, `input(name, values, shape)` data.
 */
export function probedGraph(
  rng: () => number,
  build: (
    g: Graph,
    param: (name: string, values: Float32Array, shape: readonly number[]) => Tensor,
    input: (name: string, values: Float32Array, shape: readonly number[]) => Tensor,
  ) => Tensor,
): CheckedGraph {
  const g = new Graph();
  const params = new Map<string, Float32Array>();
  const inputs = new Map<string, Float32Array>();
  const y = build(
    g,
    (name, values, shape) => {
      params.set(name, values);
      return g.param(name, shape);
    },
    (name, values, shape) => {
      inputs.set(name, values);
      return g.input(name, shape);
    },
  );
  const probeValues = Float32Array.from({ length: y.size }, () => 2 * rng() - 1);
  inputs.set('probe', probeValues);
  const probe = g.input('probe', y.shape);
  const hyper = g.input('hyper', [1]);
  inputs.set('hyper', Float32Array.of(1));
  const s = total(g, multiply(g, 'probed', y, probe), 'probed.sum');
  objective(g, hyper, [{ name: 'out', weight: 1, value: s }], 1).keep = true;
  g.backward();
  return { graph: g, params, inputs };
}

/** Runs the graph on the GPU (gradients poisoned first) and returns loss and parameter gradients. */
export async function runOnGpu(
  rt: GpuRuntime,
  c: CheckedGraph,
): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const alignment = rt.device.limits.minStorageBufferOffsetAlignment;
  const { offsets, bytes } = planFlat(c.graph.params, alignment);
  const layout = new Map(
    c.graph.params.map((p) => [p.name, { offset: offsets.get(p)!.offset, shape: p.shape }]),
  );
  const flat = new Float32Array(bytes / 4);
  for (const p of c.graph.params) flat.set(c.params.get(p.name)!, offsets.get(p)!.offset / 4);
  const params = rt.buffers.upload('check.params', flat);
  const grads = rt.buffers.upload('check.grads', new Float32Array(bytes / 4).fill(POISON));
  const cg = await CompiledGraph.compile(rt, c.graph, {
    params: { layout, params: params.buffer, grads: grads.buffer },
    label: 'check',
  });
  try {
    for (const t of c.graph.inputs) cg.write(t, c.inputs.get(t.name)!);
    cg.update({ step: 0 });
    await rt.submitChecked(cg.dispatches, 'check');
    const root = c.graph.ops.find((op) => op.def.root)!;
    const [loss] = await cg.read(root.outputs[0]!);
    const out = new Map<string, Float32Array>();
    for (const p of c.graph.params) {
      const g = c.graph.tensors.find((t) => t.gradOf === p);
      if (g) out.set(p.name, await cg.read(g));
    }
    return { loss: loss!, grads: out };
  } finally {
    cg.destroy();
    rt.buffers.destroy(params.buffer);
    rt.buffers.destroy(grads.buffer);
  }
}

/** The interpreter's loss for parameter values (float64). */
export function referenceLoss(c: CheckedGraph, params: Map<string, Float64Array>): number {
  return runGraph64(c.graph, { params, inputs: c.inputs }).loss;
}

/**
 * The whole check: GPU gradients ≈ interpreter gradients (tol, relative to each tensor's scale),
 * interpreter gradients ≈ central differences of the interpreter loss (on up to `fdPoints`
 * entries per parameter). Returns the problems found (empty: all agree).
 */
export async function checkGraphGradients(
  rt: GpuRuntime,
  c: CheckedGraph,
  o: { rel?: number; fdPoints?: number; fdStep?: number; fdRel?: number } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const f64 = new Map([...c.params].map(([k, v]) => [k, Float64Array.from(v)]));
  const ref = runGraph64(c.graph, { params: f64, inputs: c.inputs });
  const gpu = await runOnGpu(rt, c);
  const rel = o.rel ?? 2e-4;
  if (!(Math.abs(gpu.loss - ref.loss) <= rel * (1 + Math.abs(ref.loss)))) {
    problems.push(`loss: GPU ${gpu.loss}, reference ${ref.loss}`);
  }
  for (const [name, want] of ref.grads) {
    const scale = Math.max(1e-3, ...Array.from(want, Math.abs));
    const tol: Tolerance = { atol: rel * scale, rtol: rel };
    const got = gpu.grads.get(name);
    const m = got ? mismatches(got, want, tol, `GPU d/d${name}`) : `no GPU gradient for ${name}`;
    if (m) problems.push(m);
  }
  const h = o.fdStep ?? 1e-5;
  const fdRel = o.fdRel ?? 1e-5;
  for (const [name, value] of f64) {
    const want = ref.grads.get(name)!;
    const n = value.length;
    const points = Math.min(n, o.fdPoints ?? 12);
    const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
    for (let k = 0; k < points; k++) {
      const i = Math.floor((k * n) / points);
      const fd = finiteDifferenceAt(
        () => referenceLoss(c, f64),
        value,
        i,
        h,
        (d) => Math.abs(d - want[i]!) <= fdRel * scale + fdRel * Math.abs(d),
      );
      if (!fd.ok) {
        problems.push(
          `reference d/d${name}[${i}] = ${want[i]}, finite difference ${describeFd(fd)} (scale ${scale})`,
        );
      }
    }
  }
  return problems;
}
