// Weights from a PyTorch state_dict (safetensors tensors under any names): a name map renames
// them to ours, then every tensor is checked against the model's parameter list (names, then
// shapes) before anything reaches the GPU. A model whose layers are ours under other names
// (pytorch/examples' VAE calls encoder.0 `fc1`) loads without conversion scripts.
import type { Tensor } from '../checkpoint/safetensors.js';
import { parameterSpecs, resolveVaeConfig, type VaeConfig } from './config.js';

/**
 * How tensor names map to ours: an object whose keys are full tensor names or module prefixes
 * (`{ fc1: 'encoder.0' }` renames fc1.weight and fc1.bias; the longest matching key wins), or a
 * function returning the new name (undefined: keep the name).
 */
export type StateDictRename =
  Readonly<Record<string, string>> | ((name: string) => string | undefined);

/** Options of {@link weightsFromStateDict} and {@link VaeModel.fromStateDict}. */
export interface StateDictOptions {
  /** How the state_dict's names map to ours (default: the names are ours already). */
  rename?: StateDictRename;
  /** Names the source in errors (a file name). */
  source?: string;
}

/** Tensors as decodeSafetensors returns them, or any name → { shape, data } collection. */
export type StateDictTensors =
  | ReadonlyMap<string, Tensor>
  | Readonly<Record<string, Tensor>>
  | Iterable<readonly [string, Tensor]>;

/**
 * The VAE of pytorch/examples (vae/main.py): fc1 784→400 (ReLU), fc21/fc22 400→20 (mu, logvar),
 * fc3 20→400 (ReLU), fc4 400→784 (sigmoid of it is the image: Bernoulli logits), loss BCE + KL
 * summed over the batch. `config` is that model as a (version 1) description and `rename` maps its
 * module names to ours (fc1 → encoder.0, fc21 → encoder.mu, fc22 → encoder.logvar,
 * fc3 → decoder.0, fc4 → decoder.out). Its state_dict, saved as safetensors
 * (`safetensors.torch.save_file(model.state_dict(), 'vae.safetensors')`), loads with no conversion.
 *
 * @example
 * ```ts
 * const { tensors } = decodeSafetensors(bytes, { source: 'vae.safetensors' });
 * const model = VaeModel.fromStateDict(rt, PYTORCH_EXAMPLES_VAE.config, tensors, {
 *   rename: PYTORCH_EXAMPLES_VAE.rename,
 *   source: 'vae.safetensors',
 * });
 * ```
 */
export const PYTORCH_EXAMPLES_VAE: { config: VaeConfig; rename: Readonly<Record<string, string>> } =
  {
    config: {
      inputSize: 784,
      latentSize: 20,
      encoder: { hidden: [400], activation: 'relu' },
      decoder: { hidden: [400], activation: 'relu' },
      likelihood: { kind: 'bernoulli' },
      reduction: 'sum',
    },
    rename: {
      fc1: 'encoder.0',
      fc21: 'encoder.mu',
      fc22: 'encoder.logvar',
      fc3: 'decoder.0',
      fc4: 'decoder.out',
    },
  };

function entries(tensors: StateDictTensors): (readonly [string, Tensor])[] {
  if (tensors instanceof Map) return [...(tensors as ReadonlyMap<string, Tensor>)];
  if (Symbol.iterator in tensors) return [...(tensors as Iterable<readonly [string, Tensor]>)];
  return Object.entries(tensors as Readonly<Record<string, Tensor>>);
}

/**
 * The new name of `name` under a rename map (see {@link StateDictRename}): an exact key wins,
 * then the longest key that is a module prefix of the name (`fc1` renames `fc1.weight`, not
 * `fc10.weight`); a name no key matches, or that the function returns undefined for, is kept.
 *
 * @example
 * ```ts
 * renameTensor('fc21.bias', PYTORCH_EXAMPLES_VAE.rename); // 'encoder.mu.bias'
 * renameTensor('module.fc1.weight', (n) => n.replace(/^module\./, '')); // 'fc1.weight'
 * ```
 */
export function renameTensor(name: string, rename: StateDictRename | undefined): string {
  if (rename === undefined) return name;
  if (typeof rename === 'function') return rename(name) ?? name;
  if (Object.prototype.hasOwnProperty.call(rename, name)) return rename[name]!;
  let best: string | undefined;
  for (const key of Object.keys(rename)) {
    if (name.startsWith(`${key}.`) && (best === undefined || key.length > best.length)) best = key;
  }
  return best === undefined ? name : rename[best]! + name.slice(best.length);
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * The model's weights by our names from a state_dict: renamed, then checked (every parameter
 * present, nothing extra, no two tensors on one name, each shape the model's) with errors that name
 * the tensor (its own name and ours) and both shapes. Nothing touches the GPU: pass the result as
 * {@link VaeModelOptions.weights} (what {@link VaeModel.fromStateDict} does).
 *
 * @param config The model the tensors are for (validated with {@link resolveVaeConfig}).
 * @param tensors The state_dict: e.g. `decodeSafetensors(bytes).tensors`.
 * @returns Every parameter of the model by name, in module order.
 * @throws Error `<source>: …` listing the missing tensors and those the model does not have, or
 *   naming a tensor whose shape or value count does not fit, or two tensors renamed to one name;
 *   an invalid `config` throws as resolveVaeConfig does.
 */
export function weightsFromStateDict(
  config: VaeConfig,
  tensors: StateDictTensors,
  options: StateDictOptions = {},
): Map<string, Float32Array> {
  const source = options.source ?? 'state_dict';
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  const specs = parameterSpecs(resolveVaeConfig(config));
  const expected = new Map(specs.map((s) => [s.name, s.shape]));
  const renamed = new Map<string, { from: string; tensor: Tensor }>();
  const extra: string[] = [];
  for (const [from, tensor] of entries(tensors)) {
    const to = renameTensor(from, options.rename);
    const label = to === from ? `'${from}'` : `'${from}' (→ '${to}')`;
    if (!expected.has(to)) {
      extra.push(label);
      continue;
    }
    const earlier = renamed.get(to);
    if (earlier) fail(`'${earlier.from}' and '${from}' both map to '${to}'`);
    const want = expected.get(to)!;
    const got = tensor.shape;
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
      fail(`tensor ${label} has shape ${shapeText(got)}, the model expects ${shapeText(want)}`);
    }
    const count = want.reduce((a, b) => a * b, 1);
    if (tensor.data.length !== count) {
      fail(`tensor ${label} holds ${tensor.data.length} values, its shape needs ${count}`);
    }
    renamed.set(to, { from, tensor });
  }
  const missing = specs.filter((s) => !renamed.has(s.name)).map((s) => s.name);
  if (missing.length > 0 || extra.length > 0) {
    fail(
      [
        missing.length ? `missing tensors the model expects: ${missing.join(', ')}` : '',
        extra.length ? `tensors the model does not have: ${extra.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ') + (options.rename ? '' : ' (pass a rename map for other names)'),
    );
  }
  return new Map(specs.map((s) => [s.name, renamed.get(s.name)!.tensor.data]));
}
