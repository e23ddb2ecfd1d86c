// The float64 reference of a whole model: an interpreter of the same forward graph the GPU runs
// (src/vae/build.ts), op by op with the float64 function pair of each op type (ops.ts), and its own
// reverse walk over vector-Jacobian products. It never uses the gradient rules' backward ops, so
// comparing the GPU's gradients with it checks the kernels and the rules at once; comparing it with
// finite differences and with the PyTorch twin checks it. Not part of the package entry.
import type { Graph, Op, Tensor } from '../graph/graph.js';
import { REFERENCE_OPS } from './ops.js';

export interface GraphInputs64 {
  /** Parameter values by name (every parameter of the graph). */
  params: ReadonlyMap<string, ArrayLike<number>>;
  /** Input values by name (x, labels, hyper, eps…). */
  inputs: ReadonlyMap<string, ArrayLike<number>>;
  /** The step (part of the PRNG counter of sampling ops without given noise). */
  step?: number;
}

export interface GraphResult64 {
  /** The value of any forward tensor. */
  value(t: Tensor): Float64Array;
  /** The root op's loss (the batch sum of the per-example objective); NaN without a root. */
  loss: number;
  /** d (scale · loss) / d parameter, by parameter name (zeros where the loss does not reach). */
  grads: Map<string, Float64Array>;
  /** d (scale · loss) / d tensor for any forward tensor the loss reaches. */
  grad(t: Tensor): Float64Array | undefined;
}

/** What an op's reference gets: its tensors' values by name, and the run's step. */
export interface RefContext {
  in(name: string): Float64Array;
  /** An optional input: undefined when the op has none of that name. */
  maybe(name: string): Float64Array | undefined;
  /** Any tensor's current value (e.g. a non-parameter tensor an op rewrites in place). */
  value(t: Tensor): Float64Array;
  step: number;
}

/** The float64 pair of an op type: its outputs, and the gradients of its inputs. */
export interface ReferenceOp {
  forward(op: Op, ctx: RefContext): Record<string, Float64Array>;
  /**
   * Input gradients for the output gradients `d` (undefined where an output got none). Only the
   * inputs that need one must be present. Absent for ops without a gradient (metrics).
   */
  vjp?(
    op: Op,
    ctx: RefContext,
    out: (name: string) => Float64Array,
    d: (name: string) => Float64Array | undefined,
  ): Record<string, Float64Array | undefined>;
  /** The root (the objective): the gradients of its inputs for dloss = 1. */
  seed?(op: Op, ctx: RefContext): Record<string, Float64Array | undefined>;
}

/** Runs the forward ops of `graph` in float64 and differentiates its objective. */
export function runGraph64(graph: Graph, values: GraphInputs64): GraphResult64 {
  const vals = new Map<Tensor, Float64Array>();
  const read = (t: Tensor): Float64Array => {
    const base = t.base;
    const v = vals.get(base);
    if (v) return v;
    if (base.role === 'param') {
      const p = values.params.get(base.name);
      if (!p) throw new Error(`reference: no value for parameter '${base.name}'`);
      if (p.length !== base.size) {
        throw new Error(
          `reference: parameter '${base.name}' has ${p.length} values, not ${base.size}`,
        );
      }
      const f = Float64Array.from(p);
      vals.set(base, f);
      return f;
    }
    if (base.role === 'input') {
      const x = values.inputs.get(base.name);
      if (!x) throw new Error(`reference: no value for input '${base.name}'`);
      if (x.length < base.size) {
        throw new Error(`reference: input '${base.name}' has ${x.length} values, not ${base.size}`);
      }
      const f = Float64Array.from({ length: base.size }, (_, i) => x[i]!);
      vals.set(base, f);
      return f;
    }
    throw new Error(`reference: ${t.toString()} has no value yet (computed after its use?)`);
  };
  const step = values.step ?? 0;
  const contextOf = (op: Op): RefContext => ({
    in(name) {
      const t = op.in[name];
      if (!t) throw new Error(`reference: ${op.type} '${op.name}' has no input '${name}'`);
      return read(t);
    },
    maybe(name) {
      const t = op.in[name];
      return t ? read(t) : undefined;
    },
    value: read,
    step,
  });
  const forward = graph.ops.filter((op) => op.phase === 'forward');
  for (const op of forward) {
    const ref = REFERENCE_OPS[op.type];
    if (!ref) throw new Error(`reference: no float64 reference for op type '${op.type}'`);
    const outs = ref.forward(op, contextOf(op));
    for (const [key, t] of Object.entries(op.out)) {
      // State (metrics) is not modelled; a view's values are its base's.
      if (!t || t.role === 'state' || t.viewOf) continue;
      const v = outs[key];
      if (!v) throw new Error(`reference: ${op.type} '${op.name}' computed no '${key}'`);
      if (v.length !== t.size) {
        throw new Error(
          `reference: ${op.type} '${op.name}' output '${key}' has ${v.length} values, ${t.toString()} holds ${t.size}`,
        );
      }
      vals.set(t, v);
    }
  }
  const roots = forward.filter((op) => op.def.root);
  if (roots.length > 1) throw new Error(`reference: ${roots.length} root ops, expected 1`);
  const root = roots[0];
  if (!root) {
    // A forward-only graph (inference): values, no loss or gradients.
    return { value: read, loss: NaN, grads: new Map(), grad: () => undefined };
  }
  const loss = read(root.outputs[0]!)[0]!;

  // Reverse walk: gradients per base tensor, summed over uses (views share their base's).
  const grads = new Map<Tensor, Float64Array>();
  const addGrad = (t: Tensor, g: Float64Array) => {
    if (!t.requiresGrad) return;
    const base = t.base;
    const have = grads.get(base);
    if (!have) grads.set(base, Float64Array.from(g));
    else for (let i = 0; i < g.length; i++) have[i] = have[i]! + g[i]!;
  };
  const applyInputs = (op: Op, dIn: Record<string, Float64Array | undefined>) => {
    for (const [key, g] of Object.entries(dIn)) {
      const t = op.in[key];
      if (g && t) addGrad(t, g);
    }
  };
  const rootRef = REFERENCE_OPS[root.type]!;
  if (!rootRef.seed) throw new Error(`reference: root op type '${root.type}' has no seed`);
  applyInputs(root, rootRef.seed(root, contextOf(root)));
  for (let i = forward.length - 1; i >= 0; i--) {
    const op = forward[i]!;
    if (op === root || !op.inputs.some((t) => t.requiresGrad)) continue;
    // A view's gradient is its base's already (gradients are kept per base tensor).
    if (op.outputs.every((t) => t.viewOf)) continue;
    const ref = REFERENCE_OPS[op.type]!;
    const outGrad = (name: string) => {
      const t = op.out[name];
      return t ? grads.get(t.base) : undefined;
    };
    if (!Object.values(op.out).some((t) => t && grads.has(t.base))) continue;
    if (!ref.vjp) throw new Error(`reference: op type '${op.type}' has no vector-Jacobian product`);
    applyInputs(
      op,
      ref.vjp(op, contextOf(op), (name) => read(op.out[name]!), outGrad),
    );
  }
  const paramGrads = new Map<string, Float64Array>();
  for (const p of graph.params) {
    paramGrads.set(p.name, grads.get(p) ?? new Float64Array(p.size));
  }
  return {
    value: read,
    loss,
    grads: paramGrads,
    grad: (t) => grads.get(t.base),
  };
}
