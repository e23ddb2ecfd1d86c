// What the demo's main thread and its worker say to each other. The worker (worker.ts) owns the GPU:
// the runtime, the models, training, inference and the GPU-drawn views (their canvases are
// transferred to it as OffscreenCanvases). The main thread owns the DOM: it calls the Engine's
// methods (rpc.ts) and listens to its events. A new panel adds its methods to Engine, their
// implementation to worker.ts, and a panel module under panels/.
import type { Colormap } from '../../src/image/grid.js';
import type { SyntheticName } from '../../src/data/synthetic.js';
import { EXPERIMENT_POSTERIORS, type ExperimentPosterior } from '../../src/experiments/settings.js';

/**
 * The posteriors the synthetic panel trains with: the experiments' table (how menus name them and
 * their model-description section, at the notes' settings).
 */
export { EXPERIMENT_POSTERIORS as SYNTHETIC_POSTERIORS };
export type SyntheticPosterior = ExperimentPosterior;

/** The canvases the worker draws into (GPU-direct, or through a readback where it must). */
export const VIEW_IDS = ['slider-image', 'traversal', 'manifold'] as const;
export type ViewId = (typeof VIEW_IDS)[number];

/** How the worker draws the views. */
export type DisplayMode = 'gpu' | 'readback';

export interface CanvasStats {
  mean: number;
  std: number;
  hash: number;
  width: number;
  height: number;
}

/**
 * The digits models the train panel makes: a VAE, one conditional on the digit class, or a
 * semi-supervised M2 model (conditional, plus a classifier q(y|x); trained on a few labelled digits
 * and the rest unlabelled).
 */
export type DigitsKind = 'plain' | 'conditional' | 'm2';

/** What the panels need to know of the current digits model. */
export interface ModelInfo {
  latent: number;
  /** Classes of a conditional model (condition 'label'); 0 for an unconditional one. */
  classes: number;
  /** Whether it has M2's classifier q(y|x) (objective 'm2'). */
  classifier: boolean;
  /** A vq model's codebook (posterior 'vq'); absent for continuous latents. */
  vq?: VqInfo;
}

/** A vq model's codebook: `codes` vectors of `dim` values; `vectors` codes per image. */
export interface VqInfo {
  codes: number;
  dim: number;
  vectors: number;
}

/** A test digit, its code indices (vectors) and the decode of those codes (784). */
export interface VqDigit {
  image: Float32Array;
  codes: Float32Array;
  decoded: Float32Array;
}

/** How often each code is picked over the code grids of the first `digits` test digits. */
export interface CodeUsage {
  /** Per code (K): the vectors assigned to it; they sum to `vectors`. */
  counts: number[];
  vectors: number;
  digits: number;
  /** Codes picked at least once, and exp(entropy) of the frequencies. */
  inUse: number;
  perplexity: number;
}

/** A test digit as an M2 model sees it (VaeInference.styleTransfer). */
export interface StyleResult {
  /** The digit (784) and its true label. */
  image: Float32Array;
  label: number;
  /** q(y|x) (classes) and its argmax. */
  probs: Float32Array;
  predicted: number;
  /** Its style (its code under the predicted class) decoded as every class: (classes, 784). */
  styles: Float32Array;
}

export interface TrainResult {
  losses: number[];
  stepsPerSecond: number;
  steps: number;
  /** Animation frames drawn while training (the animation yields to the steps). */
  frames: number;
}

export interface InpaintResult {
  /** The test digit (784). */
  original: Float32Array;
  /** Its completion after every pass (784). */
  filled: Float32Array;
  /** Mean BCE at the missing pixels after each pass (nats per pixel). */
  errors: number[];
}

export interface SyntheticResult {
  data: number;
  prior: number;
  recon: number;
  loss: number[];
  /** 2-D points to plot (x, y interleaved). */
  points: { data: Float32Array; prior: Float32Array; recon: Float32Array };
  seconds: number;
}

/** The worker's methods, called from the main thread. */
export interface Engine {
  /**
   * Starts the GPU and loads the digits; the canvases are the views' (transferred), drawn as
   * `display` says (main.ts finds out whether WebGPU canvases work, see canvas-probe.ts).
   */
  start(
    canvases: Record<ViewId, OffscreenCanvas>,
    display: DisplayMode,
  ): Promise<{ adapter: string }>;
  /**
   * A fresh digits model with this latent size and kind (drops the current one); an M2 model
   * trains with `labels` labelled training digits (an equal share per class), the rest unlabelled.
   */
  newModel(latent: number, kind: DigitsKind, labels?: number): Promise<ModelInfo>;
  setCode(code: Float32Array): Promise<void>;
  /** Conditional models: the class the latent views decode under, p(x | z, y = label). */
  setClass(label: number): Promise<void>;
  setAnimate(on: boolean): Promise<void>;
  setTraversal(dim: number, range: number): Promise<void>;
  setColormap(colormap: Colormap): Promise<void>;
  /** Trains the digits model; `pauseViews` stops the views meanwhile (a baseline for tests). */
  train(steps: number, options?: { pauseViews?: boolean }): Promise<TrainResult>;
  stopTraining(): Promise<void>;
  /**
   * Decodes codes between two test digits' posterior means. A conditional model encodes each
   * digit under its own label and decodes the codes under the selected class.
   */
  interpolate(
    a: number,
    b: number,
    method: 'linear' | 'spherical',
  ): Promise<{ strip: Float32Array; n: number }>;
  /** A test digit (784) by index, for drawing a mask on. */
  testImage(index: number): Promise<Float32Array>;
  /**
   * Fills the pixels of test digit `index` where mask (784) is 1 by `iterations` encode-decode
   * passes (VaeInference.inpaint), sending 'inpaint-progress' after each pass.
   */
  inpaint(index: number, mask: Float32Array, iterations: number): Promise<InpaintResult>;
  /** M2 models: test digit `index` classified, and its style drawn as every class. */
  styleTransfer(index: number): Promise<StyleResult>;
  synthetic(
    name: SyntheticName,
    steps: number,
    posterior: SyntheticPosterior,
  ): Promise<SyntheticResult>;
  saveCheckpoint(): Promise<{ bytes: Uint8Array; latent: number; step: number }>;
  loadCheckpoint(file: File): Promise<ModelInfo & { name: string }>;
  /** A fresh VQ-VAE on the digits (drops the current model); see vqDigitsConfig in worker.ts. */
  newVqModel(): Promise<ModelInfo>;
  /** vq models: test digit `index`, its code grid and their decode. */
  vqEncode(index: number): Promise<VqDigit>;
  /**
   * vq models: the image of one code grid (integer indices in [0, codes)); a conditional model
   * decodes it under test digit `index`'s label.
   */
  vqDecode(codes: Float32Array, index: number): Promise<Float32Array>;
  /** vq models: per-code counts over the first `digits` test digits. */
  codeUsage(digits: number): Promise<CodeUsage>;
  /** Draws a view and measures its pixels in the same task (a presented canvas reads blank). */
  snapshot(id: ViewId): Promise<CanvasStats>;
  measureFps(ms: number): Promise<{ fps: number; frames: number }>;
}

/** Events the worker sends. */
export interface EngineEvents {
  status: string;
  error: string;
  /** The objective per example and every metric the model reports (recon, kl, … by name). */
  metrics: { step: number; loss: number; values: Readonly<Record<string, number>> };
  'train-progress': { step: number; stepsPerSecond: number };
  frame: { frames: number; fps: number };
  /** After each pass of inpaint(): its number and the completed digit so far (784). */
  'inpaint-progress': { iteration: number; image: Float32Array };
  /** A train() run ended (its steps done or stopped): the digits model's weights changed. */
  'train-done': { step: number };
}

export type CallMessage = { kind: 'call'; id: number; method: keyof Engine; args: unknown[] };
export type ReplyMessage =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string };
export type EventMessage = {
  [K in keyof EngineEvents]: { kind: 'event'; name: K; data: EngineEvents[K] };
}[keyof EngineEvents];
