// A VAE's parameters on the GPU: one flat buffer laid out by parameterSpecs (each tensor at an
// aligned offset, so a graph binds it as a range and Adam updates all of them in one dispatch),
// seeded PyTorch-style initialization, and conversion to and from checkpoints.
import { readRange } from '../gpu/buffers.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  type Checkpoint,
  type OptimizerStateInput,
} from '../checkpoint/checkpoint.js';
import { createRng } from '../data/rng.js';
import { planFlat } from '../graph/planner.js';
import { WeightPacks } from '../kernels/matmul-pack.js';
import {
  parameterSpecs,
  resolveVaeConfig,
  type ParameterSpec,
  type ResolvedVaeConfig,
  type VaeConfig,
} from './config.js';
import {
  weightsFromStateDict,
  type StateDictOptions,
  type StateDictTensors,
} from './state-dict.js';

/** Options of VaeModel.create. */
export interface VaeModelOptions {
  /** Seed of the initial weights (default 0). */
  seed?: number;
  /** Initial weights by name (e.g. from a checkpoint); every parameter must be given. */
  weights?: ReadonlyMap<string, Float32Array>;
  label?: string;
}

/** Where one parameter lies in the model's flat buffers. */
export interface ParamEntry {
  spec: ParameterSpec;
  /** Byte offset in the flat buffers. */
  offset: number;
  shape: readonly number[];
}

/** Float count of a shape. */
function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * PyTorch's default nn.Linear init (kaiming_uniform with a = √5 for weights, U(±1/√fan_in) for
 * biases, both bound 1/√fan_in), drawn from our seeded RNG: parameters in module order.
 */
export function initialWeights(config: ResolvedVaeConfig, seed: number): Map<string, Float32Array> {
  const rng = createRng(seed);
  const weights = new Map<string, Float32Array>();
  for (const spec of parameterSpecs(config)) {
    const init = spec.init;
    if (init && 'copyOf' in init) {
      const source = weights.get(init.copyOf);
      if (!source)
        throw new Error(`init: '${spec.name}' copies '${init.copyOf}', not declared before it`);
      weights.set(spec.name, source.slice());
      continue;
    }
    const data = new Float32Array(count(spec.shape));
    if (init) data.fill(init.fill);
    else {
      const bound = 1 / Math.sqrt(spec.fanIn);
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound;
    }
    weights.set(spec.name, data);
  }
  return weights;
}

/**
 * A VAE's validated config and its parameters in one flat GPU buffer (PyTorch names and
 * initialisation), made from a config or a checkpoint.
 */
export class VaeModel {
  readonly config: ResolvedVaeConfig;
  readonly specs: ParameterSpec[];
  readonly layout: Map<string, ParamEntry>;
  /** Floats in the flat buffers (with alignment padding, which stays 0). */
  readonly flatSize: number;
  /** The flat parameter buffer. */
  readonly params: GPUBuffer;
  /**
   * Texture packs of the weights that feed texture-fed matmuls, shared by every graph over this
   * model: repacked once after an upload (writeWeights) and once per optimizer step (the trainer
   * records packs.encodeStale(pass) right after Adam); never once per run.
   */
  readonly packs: WeightPacks;
  private destroyed = false;

  private constructor(
    readonly rt: GpuRuntime,
    config: ResolvedVaeConfig,
    readonly label: string,
  ) {
    this.config = config;
    this.specs = parameterSpecs(config);
    const alignment = rt.device.limits.minStorageBufferOffsetAlignment;
    const items = this.specs.map((s) => ({ size: count(s.shape) }));
    const { offsets, bytes } = planFlat(items, alignment);
    this.layout = new Map();
    this.specs.forEach((spec, i) => {
      const offset = offsets.get(items[i]!)!.offset;
      this.layout.set(spec.name, { spec, offset, shape: spec.shape });
    });
    this.flatSize = bytes / 4;
    this.params = rt.buffers.storage(`${label}.params`, bytes).buffer;
    this.packs = new WeightPacks(rt, this.params, `${label}.params`);
  }

  /** Makes a model with fresh seeded weights, or with `weights` when given. */
  static create(rt: GpuRuntime, config: VaeConfig, options: VaeModelOptions = {}): VaeModel {
    const resolved = resolveVaeConfig(config);
    const model = new VaeModel(rt, resolved, options.label ?? 'vae');
    model.writeWeights(options.weights ?? initialWeights(resolved, options.seed ?? 0));
    return model;
  }

  /** A model whose weights are all zero until writeWeights (a checkpoint still downloading). */
  static empty(rt: GpuRuntime, config: VaeConfig, label = 'vae'): VaeModel {
    return new VaeModel(rt, resolveVaeConfig(config), label);
  }

  /** Loads a model from checkpoint bytes (names, shapes and the config are all checked). */
  static fromCheckpoint(
    rt: GpuRuntime,
    bytes: Uint8Array,
    source = 'checkpoint',
  ): { model: VaeModel; checkpoint: Checkpoint } {
    const checkpoint = decodeCheckpoint(bytes, { source });
    return { model: VaeModel.fromDecoded(rt, checkpoint, source), checkpoint };
  }

  /** A model from a decoded checkpoint: its config and weights (names and shapes checked). */
  static fromDecoded(rt: GpuRuntime, checkpoint: Checkpoint, source = 'checkpoint'): VaeModel {
    if (checkpoint.config === undefined) {
      throw new Error(`${source}: the checkpoint has no model config in its metadata`);
    }
    let config: ResolvedVaeConfig;
    try {
      config = resolveVaeConfig(checkpoint.config as VaeConfig);
    } catch (error) {
      throw new Error(`${source}: ${(error as Error).message}`, { cause: error });
    }
    const weights = new Map<string, Float32Array>();
    for (const [name, t] of checkpoint.params) weights.set(name, t.data);
    try {
      return VaeModel.create(rt, config, { weights });
    } catch (error) {
      throw new Error(`${source}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * A model from a PyTorch state_dict (e.g. safetensors tensors from decodeSafetensors) under
   * `config`; `rename` maps other names to ours (PYTORCH_EXAMPLES_VAE.rename loads
   * pytorch/examples' VAE). A mismatch names the tensor and both shapes (see state-dict.ts).
   */
  static fromStateDict(
    rt: GpuRuntime,
    config: VaeConfig,
    tensors: StateDictTensors,
    options: StateDictOptions & { label?: string } = {},
  ): VaeModel {
    const weights = weightsFromStateDict(config, tensors, options);
    return VaeModel.create(rt, config, {
      weights,
      ...(options.label ? { label: options.label } : {}),
    });
  }

  /** Checks names and sizes, then uploads the weights into the flat buffer. */
  writeWeights(weights: ReadonlyMap<string, Float32Array>): void {
    this.checkAlive();
    const flat = this.flatten(weights, 'weights');
    this.rt.device.queue.writeBuffer(this.params, 0, flat);
    this.packs.invalidate();
  }

  /** Lays named tensors out like the flat buffers; throws naming any missing/extra/misfit one. */
  flatten(tensors: ReadonlyMap<string, Float32Array>, what: string): Float32Array<ArrayBuffer> {
    const missing = this.specs.filter((s) => !tensors.has(s.name)).map((s) => s.name);
    const extra = [...tensors.keys()].filter((n) => !this.layout.has(n));
    if (missing.length || extra.length) {
      throw new Error(
        `${what} do not match the model: ` +
          [
            missing.length ? `missing ${missing.join(', ')}` : '',
            extra.length ? `unexpected ${extra.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; '),
      );
    }
    const flat = new Float32Array(this.flatSize);
    for (const [name, entry] of this.layout) {
      const data = tensors.get(name)!;
      const n = count(entry.shape);
      if (data.length !== n) {
        throw new Error(
          `${what}: '${name}' has ${data.length} values, the model's [${entry.shape.join(', ')}] needs ${n}`,
        );
      }
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(data[i]!)) {
          throw new Error(`${what}: '${name}'[${i}] is ${data[i]} (not finite)`);
        }
      }
      flat.set(data, entry.offset / 4);
    }
    return flat;
  }

  /** Splits a flat buffer's contents into named tensors. */
  unflatten(flat: Float32Array): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, entry] of this.layout) {
      out.set(name, flat.slice(entry.offset / 4, entry.offset / 4 + count(entry.shape)));
    }
    return out;
  }

  /** Reads a flat buffer (parameters, gradients or a moment) back as named tensors. */
  async readFlat(buffer: GPUBuffer = this.params): Promise<Map<string, Float32Array>> {
    this.checkAlive();
    const bytes = await readRange(this.rt.device, { buffer, offset: 0, size: this.flatSize * 4 });
    return this.unflatten(new Float32Array(bytes));
  }

  /** The weights as named tensors (waits for the GPU). */
  async readWeights(): Promise<Map<string, Float32Array>> {
    return this.readFlat(this.params);
  }

  /** Checkpoint bytes: the weights, the config, and the optimizer state when given. */
  async toCheckpoint(
    optimizer?: OptimizerStateInput,
    metadata?: Record<string, string>,
  ): Promise<Uint8Array> {
    const weights = await this.readWeights();
    return encodeCheckpoint({
      params: [...weights].map(
        ([name, data]) => [name, { shape: this.layout.get(name)!.shape, data }] as const,
      ),
      config: this.config,
      ...(optimizer ? { optimizer } : {}),
      ...(metadata ? { metadata } : {}),
    });
  }

  /** Where each tensor lives in the flat buffers, for the optimizer. */
  flatParams(): { name: string; offset: number; size: number; buffer?: boolean }[] {
    return [...this.layout.values()].map((e) => ({
      name: e.spec.name,
      offset: e.offset,
      size: count(e.shape),
      ...(e.spec.buffer ? { buffer: true } : {}),
    }));
  }

  /** The graphs' view of the parameters. */
  paramBuffers(grads?: GPUBuffer): {
    layout: Map<string, { offset: number; shape: readonly number[] }>;
    params: GPUBuffer;
    grads?: GPUBuffer;
  } {
    return { layout: this.layout, params: this.params, ...(grads ? { grads } : {}) };
  }

  /** Frees the parameter buffer. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.packs.destroy();
    this.rt.buffers.destroy(this.params);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error(`model '${this.label}' was destroyed`);
  }
}
