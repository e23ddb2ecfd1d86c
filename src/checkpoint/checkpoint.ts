// Model checkpoints as safetensors files.
//
// Format choices (format "webgpu-vae.checkpoint", version 1):
//  - Parameters are F32 tensors under PyTorch-style names ('encoder.0.weight', 'decoder.2.bias'),
//    so that `safetensors.torch.load_file` and `model.load_state_dict` can read them directly.
//  - The model config is JSON-encoded under the metadata key 'config' (metadata values must be
//    strings per the spec).
//  - Optimizer state: each moment buffer (for Adam 'm' and 'v') is stored as F32 tensors named
//    'optimizer.<moment>.<parameter name>', e.g. 'optimizer.m.encoder.0.weight', with the
//    parameter's shape. The metadata key 'optimizer' holds a JSON object
//    {"type": "adam", "step": 1200, "moments": ["m", "v"], "hyper": {"lr": 0.001, ...}}.
//    Parameter names therefore must not start with 'optimizer.'.
//  - Any other metadata (string → string) is kept as is; the keys 'format', 'format_version',
//    'config' and 'optimizer' are reserved.

import type { DecodeOptions, Tensor, TensorInput, TensorsInput } from './safetensors.js';
import {
  SafetensorsError,
  checkExpected,
  decodeSafetensors,
  encodeSafetensors,
  planSafetensors,
  tensorEntries,
} from './safetensors.js';
import type { SafetensorsPlan } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'webgpu-vae.checkpoint';
export const CHECKPOINT_FORMAT_VERSION = '1';
const RESERVED_KEYS = ['format', 'format_version', 'config', 'optimizer'];
const OPTIMIZER_PREFIX = 'optimizer.';

/** Optimizer state to store in a checkpoint. */
export interface OptimizerStateInput {
  /** Optimizer name, e.g. 'adam'. */
  type: string;
  /** Number of steps taken (Adam's bias correction needs it). */
  step: number;
  /** Moment buffers by moment name ('m', 'v'), each parameter name → tensor. */
  moments: Readonly<Record<string, TensorsInput>>;
  /** Hyperparameters (any JSON), e.g. { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }. */
  hyper?: unknown;
}

/** What encodeCheckpoint stores: parameters, the model config, optionally the optimizer state. */
export interface CheckpointInput {
  /** Parameters, PyTorch-style name → tensor, in module order. */
  params: TensorsInput;
  /** The model config (any JSON-serializable value). */
  config?: unknown;
  optimizer?: OptimizerStateInput;
  /** Extra string metadata. */
  metadata?: Readonly<Record<string, string>>;
}

/** Optimizer state read from a checkpoint. */
export interface OptimizerState {
  type: string;
  step: number;
  moments: Record<string, Map<string, Tensor>>;
  hyper: unknown;
}

/** A decoded checkpoint: parameters by name, the model config, the optimizer state if stored. */
export interface Checkpoint {
  params: Map<string, Tensor>;
  config: unknown;
  optimizer: OptimizerState | undefined;
  /** Extra metadata (the reserved keys removed). */
  metadata: Record<string, string>;
}

/** Checks decodeCheckpoint makes while reading. */
export interface CheckpointDecodeOptions {
  /** Name of the file or source, used in error messages. */
  source?: string;
  /** The parameters the model expects, name → shape (missing, extra or reshaped ones fail). */
  expect?: DecodeOptions['expect'];
  /** Require optimizer state to be present (default false). */
  requireOptimizer?: boolean;
}

/** The flat tensor list and metadata of a checkpoint, checked but not yet encoded. */
export function checkpointEntries(ckpt: CheckpointInput): {
  entries: [string, TensorInput][];
  metadata: Record<string, string>;
} {
  const params = tensorEntries(ckpt.params);
  const shapes = new Map<string, readonly number[]>();
  for (const [name, t] of params) {
    if (name.startsWith(OPTIMIZER_PREFIX)) {
      throw new Error(
        `parameter name ${JSON.stringify(name)} uses the reserved prefix 'optimizer.'`,
      );
    }
    shapes.set(name, t.shape);
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    format_version: CHECKPOINT_FORMAT_VERSION,
  };
  for (const [k, v] of Object.entries(ckpt.metadata ?? {})) {
    if (RESERVED_KEYS.includes(k)) throw new Error(`metadata key ${JSON.stringify(k)} is reserved`);
    metadata[k] = v;
  }
  if (ckpt.config !== undefined) metadata.config = JSON.stringify(ckpt.config);
  const entries: [string, TensorInput][] = [...params];
  if (ckpt.optimizer) {
    const opt = ckpt.optimizer;
    if (!Number.isSafeInteger(opt.step) || opt.step < 0) {
      throw new Error(`optimizer step must be a non-negative integer, got ${opt.step}`);
    }
    const momentNames = Object.keys(opt.moments);
    for (const m of momentNames) {
      if (!/^[A-Za-z0-9_]+$/.test(m))
        throw new Error(`invalid optimizer moment name ${JSON.stringify(m)}`);
      const got = tensorEntries(opt.moments[m]!);
      const names = new Set(got.map(([n]) => n));
      for (const p of shapes.keys()) {
        if (!names.has(p))
          throw new Error(`optimizer moment '${m}' has no tensor for parameter ${p}`);
      }
      for (const [p, t] of got) {
        const shape = shapes.get(p);
        if (!shape)
          throw new Error(`optimizer moment '${m}' has a tensor for unknown parameter ${p}`);
        if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
          throw new Error(
            `optimizer moment '${m}' for ${p} has shape ${JSON.stringify(t.shape)}, ` +
              `the parameter has ${JSON.stringify(shape)}`,
          );
        }
        entries.push([`${OPTIMIZER_PREFIX}${m}.${p}`, t]);
      }
    }
    metadata.optimizer = JSON.stringify({
      type: opt.type,
      step: opt.step,
      moments: momentNames,
      hyper: opt.hyper ?? null,
    });
  }
  return { entries, metadata };
}

/** Plans a checkpoint's layout (shapes only; tensor data is not read). */
export function planCheckpoint(ckpt: CheckpointInput): {
  plan: SafetensorsPlan;
  entries: [string, TensorInput][];
} {
  const { entries, metadata } = checkpointEntries(ckpt);
  return { plan: planSafetensors(entries, metadata), entries };
}

/** Encodes a checkpoint as safetensors bytes (browser or Node). */
export function encodeCheckpoint(ckpt: CheckpointInput): Uint8Array {
  const { entries, metadata } = checkpointEntries(ckpt);
  return encodeSafetensors(entries, metadata);
}

/** Decodes and validates a checkpoint from encodeCheckpoint (or any F32/F16/BF16 safetensors). */
export function decodeCheckpoint(
  bytes: Uint8Array,
  options: CheckpointDecodeOptions = {},
): Checkpoint {
  const source = options.source ?? 'checkpoint';
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  const { tensors, metadata: raw } = decodeSafetensors(bytes, { source });
  if (raw.format !== undefined && raw.format !== CHECKPOINT_FORMAT) {
    fail(
      `metadata format is ${JSON.stringify(raw.format)}, expected ${JSON.stringify(CHECKPOINT_FORMAT)}`,
    );
  }
  if (raw.format_version !== undefined && raw.format_version !== CHECKPOINT_FORMAT_VERSION) {
    fail(
      `unsupported checkpoint format_version ${JSON.stringify(raw.format_version)} (this version reads ${CHECKPOINT_FORMAT_VERSION})`,
    );
  }
  const params = new Map<string, Tensor>();
  const optTensors = new Map<string, Tensor>();
  for (const [name, t] of tensors) {
    (name.startsWith(OPTIMIZER_PREFIX) ? optTensors : params).set(name, t);
  }
  if (options.expect) checkExpected(params, options.expect, source);
  let config: unknown = undefined;
  if (raw.config !== undefined) {
    try {
      config = JSON.parse(raw.config);
    } catch (e) {
      fail(`metadata 'config' is not valid JSON (${(e as Error).message})`);
    }
  }
  let optimizer: OptimizerState | undefined;
  if (raw.optimizer !== undefined) {
    let o: unknown;
    try {
      o = JSON.parse(raw.optimizer);
    } catch (e) {
      fail(`metadata 'optimizer' is not valid JSON (${(e as Error).message})`);
    }
    const obj = o as { type?: unknown; step?: unknown; moments?: unknown; hyper?: unknown } | null;
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      fail(`metadata 'optimizer' is not a JSON object`);
    const { type, step, moments, hyper } = obj!;
    if (typeof type !== 'string') fail(`metadata 'optimizer' has no string 'type'`);
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
      fail(`metadata 'optimizer' step ${JSON.stringify(step)} is not a non-negative integer`);
    }
    if (
      !Array.isArray(moments) ||
      moments.some((m) => typeof m !== 'string' || !/^[A-Za-z0-9_]+$/.test(m))
    ) {
      fail(`metadata 'optimizer' moments must be an array of names`);
    }
    const state: OptimizerState = {
      type: type as string,
      step: step as number,
      moments: {},
      hyper,
    };
    for (const m of moments as string[]) {
      const map = new Map<string, Tensor>();
      for (const [p, pt] of params) {
        const name = `${OPTIMIZER_PREFIX}${m}.${p}`;
        const t = optTensors.get(name);
        if (!t) return fail(`optimizer tensor ${name} is missing`);
        if (t.shape.length !== pt.shape.length || t.shape.some((d, i) => d !== pt.shape[i])) {
          fail(
            `optimizer tensor ${name} has shape ${JSON.stringify(t.shape)}, the parameter has ${JSON.stringify(pt.shape)}`,
          );
        }
        map.set(p, t);
        optTensors.delete(name);
      }
      state.moments[m] = map;
    }
    optimizer = state;
  } else if (options.requireOptimizer) {
    fail('the checkpoint has no optimizer state');
  }
  if (optTensors.size > 0) {
    fail(
      `optimizer tensors that match no parameter or moment: ${[...optTensors.keys()].join(', ')}`,
    );
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (!RESERVED_KEYS.includes(k)) metadata[k] = v;
  return { params, config, optimizer, metadata };
}
