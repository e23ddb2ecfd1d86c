// The optimizer of a model's flat parameter buffer: Adam / AdamW (kernels/adam.ts) with parameter
// groups — frozen, or with their own learning rate and weight decay — one learning-rate schedule,
// and the state a checkpoint keeps (step, moments). A step is one program recorded after the
// backward pass: one gradient norm over the whole gradient buffer (clipping and the GPU-side
// non-finite skip are global), then one Adam dispatch per contiguous run of a group's parameters.
// Non-parameter tensors stored with the weights (EMA statistics: ParameterSpec.buffer) and frozen
// parameters get no update and no moments.
import type { BufferRange } from '../gpu/buffers.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { prepareAdam, type AdamHooks, type AdamHyper } from '../kernels/adam.js';
import { prepareReduceTotal } from '../kernels/reduce.js';

/** Adam's learning rate when none is given (torch.optim.Adam's default). */
export const DEFAULT_LR = 1e-3;

/** Which parameters a group holds: names, a pattern on names, or a predicate. */
export type ParamSelector = readonly string[] | RegExp | ((name: string) => boolean);

/**
 * A group of parameters with its own treatment: frozen, or its own learning rate and weight decay.
 * A parameter belongs to the first group that selects it; parameters in no group use the
 * optimizer's lr and weight decay. A group that selects no parameter is an error.
 *
 * @example
 * ```ts
 * const groups: ParamGroup[] = [
 *   { params: /^encoder\./, frozen: true }, // fine-tune the decoder only
 *   { params: ['decoder.out.weight', 'decoder.out.bias'], lr: 1e-4 },
 *   { params: (name) => name.endsWith('.bias'), weightDecay: 0 },
 * ];
 * ```
 */
export interface ParamGroup {
  /** The parameters (PyTorch names, e.g. 'decoder.0.weight') this group holds. */
  params: ParamSelector;
  /** No update (and no gradient computed, where the graph allows). */
  frozen?: boolean;
  /** This group's learning rate, >= 0 (default: the optimizer's); the schedule scales it alike. */
  lr?: number;
  /** This group's weight decay, >= 0 (default: the optimizer's). */
  weightDecay?: number;
}

/**
 * A parameter as the optimizer sees it: where it lives in the flat buffers (the parameters, the
 * gradients and both moments share one layout). {@link VaeModel.flatParams} gives a model's.
 */
export interface FlatParam {
  /** PyTorch-style name, what {@link ParamGroup.params} selects on. */
  name: string;
  /** Byte offset in the flat buffers (aligned). */
  offset: number;
  /** Floats. */
  size: number;
  /** A non-parameter tensor stored with the weights (never optimized). */
  buffer?: boolean;
}

/**
 * Options of {@link Optimizer.create}: Adam's hyperparameters (lr default 1e-3, beta1 0.9, beta2
 * 0.999, eps 1e-8, weightDecay 0, maxNorm off) for every parameter, and the groups that differ.
 * Note `decoupled` defaults to false here: classic Adam with L2 weight decay, as torch.optim.Adam
 * (true gives AdamW).
 */
export interface OptimizerOptions extends Omit<AdamHyper, 'skipNonFinite'> {
  /** Groups, first match wins; parameters in no group use the optimizer's lr and weight decay. */
  groups?: readonly ParamGroup[];
  /** Prefix of the GPU objects' labels (default 'optimizer'). */
  label?: string;
}

export function selects(selector: ParamSelector, name: string): boolean {
  if (typeof selector === 'function') return selector(name);
  if (selector instanceof RegExp) return selector.test(name);
  return selector.includes(name);
}

/** A contiguous byte range of parameters sharing one group (one Adam dispatch). */
interface Run {
  group: number;
  start: number;
  end: number;
}

/**
 * Adam (or AdamW) over a flat parameter buffer on the GPU, with parameter groups (frozen, or their
 * own learning rate and weight decay). A step is one {@link Program}: one gradient norm over the
 * whole gradient buffer (for clipping and to skip, on the GPU, a step whose gradients are not
 * finite: `stats[1]` counts those), then one Adam dispatch per contiguous run of a group's
 * parameters. Frozen parameters and non-parameter tensors get no update and no moments.
 *
 * A {@link Trainer} makes and drives its own. Used directly, write the gradients into
 * {@link Optimizer.grads} (keep a frozen parameter's at zero: the norm covers the whole buffer),
 * then for each step: {@link Optimizer.setStep}, record {@link Optimizer.program} after the work
 * that wrote the gradients, submit, {@link Optimizer.advance}.
 *
 * @example
 * ```ts
 * const optimizer = await Optimizer.create(
 *   rt,
 *   { buffer: model.params, offset: 0, size: model.flatSize * 4 },
 *   model.flatSize,
 *   model.flatParams(),
 *   { lr: 1e-3, groups: [{ params: /^encoder\./, frozen: true }] },
 * );
 * // ... gradients written into optimizer.grads ...
 * optimizer.setStep(optimizer.baseLr);
 * rt.submit([optimizer.program]);
 * optimizer.advance();
 * ```
 */
export class Optimizer {
  /** Adam steps taken (the 1-based number of the last one). */
  private t = 0;
  private lrScale = 1;

  private constructor(
    /** The runtime the buffers and the program live on. */
    readonly rt: GpuRuntime,
    /** The parameters of the flat buffer, as given to create(). */
    readonly params: readonly FlatParam[],
    /** Group index of each parameter, -1 when it gets no update. */
    private readonly groupOf: readonly number[],
    private readonly groupHyper: readonly { lr: number; weightDecay: number }[],
    /** The gradient buffer (flat layout, `flatFloats` floats) the step reads. */
    readonly grads: BufferRange,
    /** Adam's first moments (flat layout; zero at creation). */
    readonly m: BufferRange,
    /** Adam's second moments (flat layout; zero at creation). */
    readonly v: BufferRange,
    /** [0] gradient sum of squares of the last step, [1] skipped (non-finite) steps. */
    readonly stats: BufferRange,
    /** One optimizer step: record it after the work that writes the gradients. */
    readonly program: Program,
    private readonly updates: readonly (AdamHooks & { group: number })[],
    /** The options given to create(). */
    readonly options: OptimizerOptions,
  ) {}

  private destroyed = false;

  /**
   * Prepares the optimizer of a flat buffer of `flatFloats` floats holding `params`. The gradient
   * buffer, the moments and the stats are made here and freed by destroy().
   *
   * @param paramsBuffer The parameters the step updates in place (e.g. {@link VaeModel.params}).
   * @param flatFloats Floats in the flat layout (e.g. {@link VaeModel.flatSize}).
   * @param params Where each parameter lies (byte offsets into the flat layout).
   * @throws Error naming the group whose lr or weight decay is not a finite number >= 0 or that
   *   selects no parameter, or the Adam hyperparameter that is out of range.
   */
  static async create(
    rt: GpuRuntime,
    paramsBuffer: BufferRange,
    flatFloats: number,
    params: readonly FlatParam[],
    options: OptimizerOptions = {},
  ): Promise<Optimizer> {
    const label = options.label ?? 'optimizer';
    const groups = options.groups ?? [];
    const baseLr = options.lr ?? DEFAULT_LR;
    const baseWd = options.weightDecay ?? 0;
    const groupHyper = [
      { lr: baseLr, weightDecay: baseWd },
      ...groups.map((g, i) => {
        for (const [k, v] of [
          ['lr', g.lr],
          ['weightDecay', g.weightDecay],
        ] as const) {
          if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
            throw new Error(`optimizer: groups[${i}].${k} must be a finite number >= 0, got ${v}`);
          }
        }
        return { lr: g.lr ?? baseLr, weightDecay: g.weightDecay ?? baseWd };
      }),
    ];
    const groupOf = params.map((p) => {
      if (p.buffer) return -1;
      const i = groups.findIndex((g) => selects(g.params, p.name));
      if (i < 0) return 0;
      return groups[i]!.frozen ? -1 : i + 1;
    });
    groups.forEach((g, i) => {
      if (!params.some((p) => !p.buffer && selects(g.params, p.name))) {
        throw new Error(`optimizer: groups[${i}] selects no parameter`);
      }
    });
    const runs: Run[] = [];
    params.forEach((p, i) => {
      const group = groupOf[i]!;
      if (group < 0) return;
      const last = runs.at(-1);
      const prev = params[i - 1];
      if (last && last.group === group && prev && groupOf[i - 1] === group) {
        last.end = p.offset + 4 * p.size;
      } else {
        runs.push({ group, start: p.offset, end: p.offset + 4 * p.size });
      }
    });
    const bytes = flatFloats * 4;
    const grads = rt.buffers.storage(`${label}.grads`, bytes);
    const m = rt.buffers.storage(`${label}.adam.m`, bytes);
    const v = rt.buffers.storage(`${label}.adam.v`, bytes);
    const stats = rt.buffers.storage(`${label}.stats`, 8);
    rt.device.queue.writeBuffer(stats.buffer, 0, new Float32Array(2));
    const owned = [grads, m, v, stats];
    const updates: (AdamHooks & { group: number })[] = [];
    let program: Program;
    try {
      program = await buildProgram(rt, `${label}.step`, async (b) => {
        // One norm over every gradient (frozen and unreached ones are kept at zero by the trainer).
        b.append(
          await prepareReduceTotal(rt, {
            x: grads,
            out: { buffer: stats.buffer, offset: 0, size: 4 },
            n: flatFloats,
            op: 'sumsq',
            label: `${label}.gradnorm`,
          }),
        );
        for (const run of runs) {
          const range = (r: BufferRange): BufferRange => ({
            buffer: r.buffer,
            offset: r.offset + run.start,
            size: run.end - run.start,
          });
          const h = groupHyper[run.group]!;
          const step = await prepareAdam(rt, {
            ...options,
            lr: h.lr,
            weightDecay: h.weightDecay,
            decoupled: options.decoupled ?? false,
            params: range(paramsBuffer),
            grads: range(grads),
            m: range(m),
            v: range(v),
            n: (run.end - run.start) / 4,
            stats,
            computeNorm: false,
            label: `${label}.adam[${run.start / 4}:${run.end / 4}]`,
          });
          b.append(step);
          updates.push(Object.assign(step, { group: run.group }));
        }
      });
    } catch (error) {
      for (const r of owned) rt.buffers.destroy(r.buffer);
      throw error;
    }
    return new Optimizer(
      rt,
      params,
      groupOf,
      groupHyper,
      grads,
      m,
      v,
      stats,
      program,
      updates,
      options,
    );
  }

  /** Adam steps taken so far. */
  get step(): number {
    return this.t;
  }

  /**
   * How much one skipped step adds to stats[1]: each Adam dispatch of the step counts it (they all
   * skip together, reading one global norm); 0 when nothing is trained.
   */
  get skipCountPerStep(): number {
    return this.updates.length;
  }

  /** Whether a parameter is updated (not frozen, not a buffer). */
  trains(name: string): boolean {
    const i = this.params.findIndex((p) => p.name === name);
    return i >= 0 && this.groupOf[i]! >= 0;
  }

  /** The base learning rate (group 0's). */
  get baseLr(): number {
    return this.groupHyper[0]!.lr;
  }

  /**
   * Prepares step t = step + 1 with the scheduled base learning rate `lr`: each group's rate is
   * scaled by lr / baseLr. Record `program` after the backward pass, then call advance().
   */
  setStep(lr: number): void {
    this.lrScale = lr / this.baseLr;
    const next = this.t + 1;
    for (const u of this.updates) u.setStep(next, this.groupHyper[u.group]!.lr * this.lrScale);
  }

  /** Counts the step recorded since setStep(). */
  advance(): void {
    this.t++;
  }

  /**
   * Restores the step count (checkpoints), which sets Adam's bias corrections of the next step.
   *
   * @throws Error when t is not an integer >= 0.
   */
  restoreStep(t: number): void {
    if (!Number.isInteger(t) || t < 0) {
      throw new Error(`optimizer: step must be an integer >= 0, got ${t}`);
    }
    this.t = t;
  }

  /** Frees the program, the gradient buffer, the moments and the stats (not the parameters). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.program.destroy();
    for (const r of [this.grads, this.m, this.v, this.stats]) this.rt.buffers.destroy(r.buffer);
  }
}
