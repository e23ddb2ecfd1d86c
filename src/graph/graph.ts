// A static graph of tensors and ops, and reverse-mode autodiff over it.
//
// The forward graph is built once by adding ops (`graph.add(def, name, inputs, outputs, attrs)`).
// An op type is one `OpDef` (src/graph/ops/*): its dispatches (`prepare`) and its gradient rule
// (`grad`). Inputs and outputs are named, so a rule reads `op.in.weight`, not a position.
// `backward()` starts at the one root op (the objective: a weighted sum of named terms), walks the
// forward ops in reverse and lets each rule emit backward ops, once; the result is one flat op list
// that the planner (planner.ts) gives memory and the executor (executor.ts) turns into dispatches.
//
// Gradient rule for tensors used more than once: every backward op writes a gradient through
// `GradContext.slot(t)`, which hands out the same gradient tensor each time and says whether this
// write is the first (assign, ACCUMULATE = false) or a later one (add, ACCUMULATE = true). So no
// gradient buffer is ever zeroed, and a tensor used twice sums its gradients. A view's gradient is
// its upstream gradient viewed (`GradContext.adopt`), not a copy.
import type { PrepareContext, PreparedOp } from './prepare.js';

export type TensorRole =
  /** Written by the CPU before each step (the batch, labels, per-step hyperparameters). */
  | 'input'
  /** A view into the flat parameter buffer. */
  | 'param'
  /** A view into the flat gradient buffer (the gradient of a 'param'). */
  | 'param-grad'
  /** Planned by liveness in the activation pool. */
  | 'temp'
  /** Its own buffer, kept across steps (e.g. the metrics accumulator). */
  | 'state';

export class Tensor {
  /** Keep alive until the end of the step (read by the caller after it). */
  keep = false;
  constructor(
    readonly id: number,
    readonly name: string,
    readonly shape: readonly number[],
    readonly role: TensorRole,
    readonly requiresGrad: boolean,
    /** For 'param-grad': the parameter it is the gradient of. */
    readonly gradOf?: Tensor,
    /** A view: the same values as `viewOf` (same buffer, same size) under another shape. */
    readonly viewOf?: Tensor,
  ) {}

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The first dimension (rows of a row-major matrix view). */
  get rows(): number {
    return this.shape[0]!;
  }

  /** Values per row: size / rows. */
  get cols(): number {
    return this.size / this.shape[0]!;
  }

  /** The tensor whose buffer this one lives in (itself unless it is a view). */
  get base(): Tensor {
    return this.viewOf ? this.viewOf.base : this;
  }

  toString(): string {
    return `${this.name}(${this.shape.join('×')})`;
  }
}

/** Named tensors: an op's inputs or outputs (optional ones may be undefined). */
export type TensorMap = { readonly [name: string]: Tensor | undefined };

/**
 * How an op's outputs are given: a new temporary of a shape, or an existing tensor; an optional
 * output may be left undefined (not computed).
 */
export type OutputSpec<Out extends TensorMap> = {
  readonly [K in keyof Out]:
    Tensor | readonly number[] | (undefined extends Out[K] ? undefined : never);
};

export interface Op<
  In extends TensorMap = TensorMap,
  Out extends TensorMap = TensorMap,
  A = unknown,
> {
  readonly id: number;
  readonly def: OpDef<In, Out, A>;
  /** def.type, e.g. 'linear' or 'linear_backward'. */
  readonly type: string;
  /** Label of its dispatches, e.g. 'encoder.0' or 'encoder.0.dW'. */
  readonly name: string;
  readonly phase: 'forward' | 'backward';
  readonly in: In;
  readonly out: Out;
  readonly attrs: A;
  /** The defined inputs and outputs in declaration order (liveness, listings). */
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
}

/**
 * An op type: how it becomes dispatches (`prepare`, see executor.ts) and its gradient rule
 * (`grad`), which emits backward ops through `graph.add(...)`, reading output gradients with
 * `ctx.grad` and writing input gradients through `ctx.slot`. Ops without `grad` are not
 * differentiable (backward ops, metrics). The one `root` op (the objective) starts the walk: its
 * rule writes the first gradients without reading one.
 */
export interface OpDef<
  In extends TensorMap = TensorMap,
  Out extends TensorMap = TensorMap,
  A = unknown,
> {
  readonly type: string;
  readonly root?: boolean;
  grad?(g: Graph, op: Op<In, Out, A>, ctx: GradContext): void;
  prepare(ctx: PrepareContext, op: Op<In, Out, A>): Promise<PreparedOp>;
}

/** Declares an op type (identity: it exists for the types). */
export function defineOp<In extends TensorMap, Out extends TensorMap, A>(
  def: OpDef<In, Out, A>,
): OpDef<In, Out, A> {
  return def;
}

/** The gradient tensors of one backward pass, handed out by the rule for tensors used twice. */
export class GradContext {
  private readonly grads = new Map<Tensor, { grad: Tensor; writes: number }>();

  constructor(private readonly graph: Graph) {}

  /** Whether a gradient is wanted for t (a parameter, or something computed from one). */
  needs(t: Tensor | undefined): t is Tensor {
    return t !== undefined && t.requiresGrad;
  }

  /** The finished gradient of t, or undefined when nothing contributed to it (a zero gradient). */
  grad(t: Tensor | undefined): Tensor | undefined {
    return t === undefined ? undefined : this.grads.get(t)?.grad;
  }

  /**
   * The gradient tensor a backward op writes for t, and whether it must add to earlier writes.
   * Parameters' gradients live in the flat gradient buffer; others are pooled temporaries.
   */
  slot(t: Tensor): { grad: Tensor; accumulate: boolean } {
    if (!t.requiresGrad) throw new Error(`graph: no gradient is wanted for ${t.toString()}`);
    let entry = this.grads.get(t);
    if (!entry) {
      const grad =
        t.role === 'param'
          ? this.graph.tensor(`${t.name}.grad`, t.shape, 'param-grad', false, t)
          : this.graph.tensor(`${t.name}.grad`, t.shape, 'temp', false);
      entry = { grad, writes: 0 };
      this.grads.set(t, entry);
    }
    entry.writes++;
    return { grad: entry.grad, accumulate: entry.writes > 1 };
  }

  /**
   * Makes `make()`, a view of `source` (a finished gradient that nothing else reads: a view's
   * upstream gradient), t's gradient instead of copying it into t's slot; later writes for t add
   * to it. Only for a temporary t with no gradient yet and a temporary source (a parameter's
   * gradient lives in the flat gradient buffer). Returns false, making nothing, when it cannot.
   */
  adopt(t: Tensor, source: Tensor, make: () => Tensor): boolean {
    if (!t.requiresGrad || this.grads.has(t)) return false;
    if (t.role !== 'temp' || source.base.role !== 'temp') return false;
    this.grads.set(t, { grad: make(), writes: 1 });
    return true;
  }

  /**
   * Where a backward kernel that writes several inputs' gradients at once puts t's: its slot
   * when a gradient is wanted for t, else a scratch tensor named `scratch` that nothing reads.
   */
  slotOrScratch(t: Tensor, scratch: string): { grad: Tensor; accumulate: boolean } {
    return t.requiresGrad
      ? this.slot(t)
      : { grad: this.graph.tensor(scratch, t.shape, 'temp', false), accumulate: false };
  }

  /** Gradients of the parameters, in the order the parameters were declared. */
  paramGrads(): Tensor[] {
    return this.graph.params.map((p) => this.grads.get(p)?.grad).filter((g) => g !== undefined);
  }
}

export class Graph {
  readonly tensors: Tensor[] = [];
  readonly ops: Op[] = [];
  readonly params: Tensor[] = [];
  readonly inputs: Tensor[] = [];
  private readonly names = new Set<string>();
  private differentiated = false;

  tensor(
    name: string,
    shape: readonly number[],
    role: TensorRole,
    requiresGrad: boolean,
    gradOf?: Tensor,
    viewOf?: Tensor,
  ): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1) {
        throw new Error(`graph: tensor '${name}' has a bad shape [${shape.join(', ')}]`);
      }
    }
    let unique = name;
    for (let i = 2; this.names.has(unique); i++) unique = `${name}#${i}`;
    this.names.add(unique);
    const t = new Tensor(
      this.tensors.length,
      unique,
      [...shape],
      role,
      requiresGrad,
      gradOf,
      viewOf,
    );
    this.tensors.push(t);
    return t;
  }

  /** Data written by the CPU each step; never differentiated. */
  input(name: string, shape: readonly number[]): Tensor {
    if (this.inputs.some((t) => t.name === name)) {
      throw new Error(`graph: input '${name}' declared twice`);
    }
    const t = this.tensor(name, shape, 'input', false);
    this.inputs.push(t);
    return t;
  }

  /** A buffer that persists across steps (read and written by ops, never planned over). */
  state(name: string, shape: readonly number[]): Tensor {
    return this.tensor(name, shape, 'state', false);
  }

  /** A parameter (a view into the flat parameter buffer); trainable ones get gradients. */
  param(name: string, shape: readonly number[], trainable = true): Tensor {
    if (this.params.some((p) => p.name === name)) {
      throw new Error(`graph: parameter '${name}' declared twice`);
    }
    const t = this.tensor(name, shape, 'param', trainable);
    this.params.push(t);
    return t;
  }

  /** The parameter named `name` (declared earlier), or a named error. */
  paramNamed(name: string): Tensor {
    const p = this.params.find((t) => t.name === name);
    if (!p) throw new Error(`graph: no parameter '${name}' (declared: ${this.paramNames()})`);
    return p;
  }

  private paramNames(): string {
    return this.params.map((p) => p.name).join(', ') || 'none';
  }

  /**
   * The same values under another shape of the same size, in the same buffer (no copy, no
   * dispatch). Its gradient flows back through the op `def` (a copy; see ops/util.ts).
   */
  viewTensor(x: Tensor, shape: readonly number[], name = `${x.name}.view`): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== x.size) {
      throw new Error(`graph: a view of ${x.toString()} as [${shape.join(', ')}] changes its size`);
    }
    if (x.role === 'param' || x.role === 'param-grad') {
      throw new Error(`graph: ${x.toString()} is a ${x.role}; views are of temporaries and inputs`);
    }
    return this.tensor(name, shape, x.role, x.requiresGrad, undefined, x);
  }

  /**
   * Adds an op. Outputs given as shapes become new temporaries, named after the op (the first
   * output takes the op's name, others `<op>.<key>`). In the forward phase an output requires a
   * gradient when the op is differentiable and some input does.
   */
  add<In extends TensorMap, Out extends TensorMap, A>(
    def: OpDef<In, Out, A>,
    name: string,
    inputs: In,
    outputs: OutputSpec<Out>,
    attrs: A,
  ): Op<In, Out, A> {
    const phase = this.differentiated ? 'backward' : 'forward';
    const inputList = Object.values(inputs).filter((t): t is Tensor => t !== undefined);
    const wantsGrad =
      phase === 'forward' && def.grad !== undefined && inputList.some((t) => t.requiresGrad);
    const out: Record<string, Tensor> = {};
    let first = true;
    for (const [key, spec] of Object.entries(outputs) as [
      string,
      Tensor | readonly number[] | undefined,
    ][]) {
      if (spec === undefined) continue;
      out[key] =
        spec instanceof Tensor
          ? spec
          : this.tensor(first ? name : `${name}.${key}`, spec, 'temp', wantsGrad);
      first = false;
    }
    const op: Op<In, Out, A> = {
      id: this.ops.length,
      def,
      type: def.type,
      name,
      phase,
      in: inputs,
      out: out as unknown as Out,
      attrs,
      inputs: inputList,
      outputs: Object.values(out),
    };
    this.ops.push(op as unknown as Op);
    return op;
  }

  /**
   * Reverse-mode autodiff from the root op (the objective): emits the backward ops of everything
   * it depends on, once. Returns the parameter gradients (in parameter order).
   */
  backward(): Tensor[] {
    if (this.differentiated) throw new Error('graph: backward() was already called');
    const forward = [...this.ops];
    const roots = forward.filter((op) => op.def.root);
    if (roots.length !== 1) {
      throw new Error(
        `graph: backward() needs exactly one root op (the objective), found ${roots.length}` +
          (roots.length ? ` (${roots.map((op) => op.name).join(', ')})` : ''),
      );
    }
    this.differentiated = true;
    const ctx = new GradContext(this);
    for (let i = forward.length - 1; i >= 0; i--) {
      const op = forward[i]!;
      if (!op.def.grad || !op.inputs.some((t) => t.requiresGrad)) continue;
      const seeded = op.def.root === true || op.outputs.some((t) => ctx.grad(t) !== undefined);
      if (seeded) op.def.grad(this, op, ctx);
    }
    return ctx.paramGrads();
  }

  /** A readable listing of the ops with their tensors (debugging, tests). */
  describe(): string {
    return this.ops
      .map(
        (op) =>
          `${op.phase === 'forward' ? 'F' : 'B'} ${op.type} ${op.name}: ` +
          `${op.inputs.map(String).join(', ')} -> ${op.outputs.map(String).join(', ')}`,
      )
      .join('\n');
  }
}
