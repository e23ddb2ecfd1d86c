// A static graph of tensors and ops, and reverse-mode autodiff over it.
//
// The forward graph is built once by calling the builder's op methods (src/graph/ops.ts declares
// each op type: its forward dispatches and its gradient rule). `backward()` walks the forward ops
// in reverse and lets each op's rule emit backward ops, once; the result is one flat op list that
// the planner (planner.ts) gives memory and the executor (executor.ts) turns into dispatches.
//
// Gradient rule for tensors used more than once: every backward op writes a gradient through
// `GradContext.slot(t)`, which hands out the same gradient tensor each time and says whether this
// write is the first (assign, ACCUMULATE = false) or a later one (add, ACCUMULATE = true). So no
// gradient buffer is ever zeroed, and a tensor used twice sums its gradients.

export type TensorRole =
  /** Written by the CPU before each step (the batch, given noise). */
  | 'input'
  /** A view into the flat parameter buffer. */
  | 'param'
  /** A view into the flat gradient buffer (the gradient of a 'param'). */
  | 'param-grad'
  /** Planned by liveness in the activation arena. */
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
  ) {}

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  toString(): string {
    return `${this.name}(${this.shape.join('×')})`;
  }
}

export interface Op<A = unknown> {
  readonly id: number;
  readonly type: string;
  /** Label of its dispatches, e.g. 'encoder.0' or 'encoder.0.backward.dW'. */
  readonly name: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: A;
  readonly phase: 'forward' | 'backward';
}

/** The gradient tensors of one backward pass, handed out by the rule for tensors used twice. */
export class GradContext {
  private readonly grads = new Map<Tensor, { grad: Tensor; writes: number }>();

  constructor(private readonly graph: Graph) {}

  /** Whether a gradient is wanted for t (a parameter, or something computed from one). */
  needs(t: Tensor): boolean {
    return t.requiresGrad;
  }

  /** The finished gradient of t, or undefined when nothing contributed to it (a zero gradient). */
  grad(t: Tensor): Tensor | undefined {
    return this.grads.get(t)?.grad;
  }

  /**
   * The gradient tensor a backward op writes for t, and whether it must add to earlier writes.
   * Parameters' gradients live in the flat gradient buffer; others are arena temporaries.
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

  /** Gradients of the parameters, in the order the parameters were declared. */
  paramGrads(): Tensor[] {
    return this.graph.params.map((p) => this.grads.get(p)?.grad).filter((g) => g !== undefined);
  }
}

/**
 * An op type: how to build its dispatches (executor.ts) and how to differentiate it. `grad` emits
 * backward ops through `graph.op(...)`, reading output gradients from `ctx.grad` and writing input
 * gradients through `ctx.slot`. Ops without `grad` are not differentiable (metrics, backward ops).
 * Loss ops (`loss: true`) seed the walk: their rule knows its own weight in the objective.
 */
export interface OpRule<A = unknown> {
  readonly loss?: boolean;
  grad?(graph: Graph, op: Op<A>, ctx: GradContext): void;
}

export class Graph {
  readonly tensors: Tensor[] = [];
  readonly ops: Op[] = [];
  readonly params: Tensor[] = [];
  readonly inputs: Tensor[] = [];
  private readonly names = new Set<string>();
  private differentiated = false;

  constructor(private readonly rules: Readonly<Record<string, OpRule>>) {}

  tensor(
    name: string,
    shape: readonly number[],
    role: TensorRole,
    requiresGrad: boolean,
    gradOf?: Tensor,
  ): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1) {
        throw new Error(`graph: tensor '${name}' has a bad shape [${shape.join(', ')}]`);
      }
    }
    let unique = name;
    for (let i = 2; this.names.has(unique); i++) unique = `${name}#${i}`;
    this.names.add(unique);
    const t = new Tensor(this.tensors.length, unique, [...shape], role, requiresGrad, gradOf);
    this.tensors.push(t);
    return t;
  }

  /** Data written by the CPU each step; never differentiated. */
  input(name: string, shape: readonly number[]): Tensor {
    const t = this.tensor(name, shape, 'input', false);
    this.inputs.push(t);
    return t;
  }

  /** A buffer that persists across steps (read and written by ops, never planned over). */
  state(name: string, shape: readonly number[]): Tensor {
    return this.tensor(name, shape, 'state', false);
  }

  /** A trainable parameter (a view into the flat parameter buffer). */
  param(name: string, shape: readonly number[], trainable = true): Tensor {
    if (this.params.some((p) => p.name === name)) {
      throw new Error(`graph: parameter '${name}' declared twice`);
    }
    const t = this.tensor(name, shape, 'param', trainable);
    this.params.push(t);
    return t;
  }

  /**
   * Adds an op. Its outputs are made here: `outputs` gives their names and shapes. In the forward
   * phase an output requires a gradient when the op is differentiable and some input does.
   */
  op<A>(
    type: string,
    name: string,
    inputs: readonly Tensor[],
    outputs: readonly (Tensor | { name: string; shape: readonly number[] })[],
    attrs: A,
  ): Op<A> {
    const rule = this.rules[type];
    if (!rule) throw new Error(`graph: unknown op type '${type}'`);
    const phase = this.differentiated ? 'backward' : 'forward';
    const differentiable = phase === 'forward' && rule.grad !== undefined;
    const wantsGrad = differentiable && inputs.some((t) => t.requiresGrad);
    const outs = outputs.map((o) =>
      o instanceof Tensor ? o : this.tensor(o.name, o.shape, 'temp', wantsGrad),
    );
    const op: Op<A> = { id: this.ops.length, type, name, inputs, outputs: outs, attrs, phase };
    this.ops.push(op as Op);
    return op;
  }

  /**
   * Reverse-mode autodiff: emits the backward ops of every loss op and of everything they depend
   * on, once. Returns the parameter gradients (in parameter order).
   */
  backward(): Tensor[] {
    if (this.differentiated) throw new Error('graph: backward() was already called');
    const forward = [...this.ops];
    if (!forward.some((op) => this.rules[op.type]?.loss)) {
      throw new Error('graph: backward() needs at least one loss op');
    }
    this.differentiated = true;
    const ctx = new GradContext(this);
    for (let i = forward.length - 1; i >= 0; i--) {
      const op = forward[i]!;
      const rule = this.rules[op.type]!;
      if (!rule.grad || !op.inputs.some((t) => t.requiresGrad)) continue;
      const seeded = rule.loss === true || op.outputs.some((t) => ctx.grad(t) !== undefined);
      if (seeded) rule.grad(this, op, ctx);
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
