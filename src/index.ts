/// <reference types="@webgpu/types" preserve="true" />
/**
 * webgpu-vae: Variational Autoencoders trained and run with handwritten WebGPU compute shaders, in
 * the browser and in Node.
 *
 * This is the browser-safe entry and the one list of the public API: everything here is
 * documented and covered by a typed example in `test/api-examples/`. Node-only additions (files,
 * node:zlib) are in `webgpu-vae/node`; the embedded MNIST digits (the optional `mnist` package)
 * in `webgpu-vae/digits`. Kernels, the training graph and the float64 test references are
 * internal. To change the API, edit this list (and the example of its group).
 *
 * @packageDocumentation
 */

// ---- Runtime: a WebGPU device, kernels declared as data, prepared dispatches ----
export {
  createRuntime,
  GpuRuntime,
  PreparedDispatch,
  type BindingResource,
  type PrepareOptions,
  type PrepareOptionsFor,
  type RuntimeOptions,
  type Work,
} from './gpu/runtime.js';
export type { Encodable, Program } from './gpu/program.js';
export {
  requestGpu,
  describeAdapter,
  ADAPTER_CHOICES,
  type AdapterChoice,
  type AdapterKind,
  type GpuDeviceInfo,
  type RequestGpuOptions,
} from './gpu/device.js';
export {
  BufferAllocator,
  readFloats,
  readRange,
  type AllocatorStats,
  type BufferRange,
} from './gpu/buffers.js';
export {
  defineKernel,
  dispatch1d,
  type KernelDef,
  type Shape,
  type Workgroups,
} from './gpu/kernel.js';
export { GpuTimer, type KernelTime } from './gpu/timing.js';
export {
  indexedDbTuningStore,
  TUNING_CACHE_ENV,
  type TuningOptions,
  type TuningRecord,
  type TuningRecords,
  type TuningStore,
} from './gpu/tuning-store.js';
export { fillForward } from './kernels/fill.js';

// ---- Model description: one JSON object, a section per part (see README) ----
export {
  convVaePreset,
  convVqPreset,
  MAX_LATENT_SIZE,
  MODEL_VERSION,
  mlpVaePreset,
  resolveVaeConfig,
  type CapacityConfig,
  type ConditionConfig,
  type ObjectiveConfig,
  type PosteriorConfig,
  type PriorConfig,
  type ConvLayerConfig,
  type DecoderConfig,
  type EncoderConfig,
  type MlpConfig,
  type ParameterSpec,
  type ResolvedConvLayer,
  type ResolvedDecoderConfig,
  type ResolvedEncoderConfig,
  type ResolvedVaeConfig,
  type VaeConfig,
} from './vae/config.js';
export type { DiagonalPosteriorConfig } from './vae/posterior/diagonal.js';
export type { FullPosteriorConfig } from './vae/posterior/full.js';
export type { PlanarPosteriorConfig } from './vae/posterior/planar.js';
export type { HierarchicalPosteriorConfig } from './vae/posterior/hierarchical.js';
export type { IafPosteriorConfig } from './vae/posterior/iaf.js';
export type { VqPosteriorConfig } from './vae/posterior/vq.js';
export { codeUsage, type CodeUsage } from './vae/code-usage.js';
export type { StandardNormalPriorConfig } from './vae/prior/standard-normal.js';
export type { ConditionalPriorConfig } from './vae/prior/conditional.js';
export type { CodeShape, MadePriorConfig } from './vae/prior/made.js';
export type { ElboObjectiveConfig } from './vae/objective/elbo.js';
export type { IwaeObjectiveConfig } from './vae/objective/iwae.js';
export type { M2ClassifierConfig, M2ObjectiveConfig } from './vae/objective/m2.js';
export type { NoConditionConfig } from './vae/condition/none.js';
export type { LabelConditionConfig } from './vae/condition/label.js';
export type { QuadrantsConditionConfig } from './vae/condition/quadrants.js';
export type {
  BlockMaskingConfig,
  MaskingCommon,
  MaskingConfig,
  NoMaskingConfig,
  PixelsMaskingConfig,
  QuadrantMaskingConfig,
  RandomMaskingConfig,
} from './vae/masking/kinds.js';
export type { MaskPattern } from './kernels/mask.js';
export { ACTIVATIONS, type Activation } from './kernels/activation-codes.js';
export type { Likelihood } from './kernels/likelihood.js';
export type { MatmulVariant } from './kernels/matmul.js';

// ---- Model ----
export { VaeModel, type ParamEntry, type VaeModelOptions } from './vae/model.js';
export {
  PYTORCH_EXAMPLES_VAE,
  renameTensor,
  weightsFromStateDict,
  type StateDictOptions,
  type StateDictRename,
  type StateDictTensors,
} from './vae/state-dict.js';

// ---- Trainer ----
export {
  Trainer,
  TrainingError,
  type BatchData,
  type Dataset,
  type EpochReport,
  type FitOptions,
  type Metrics,
  type SkipReport,
  type StepReport,
  type TrainerOptions,
} from './vae/trainer.js';
export { formatMetrics } from './vae/metrics.js';
export {
  PriorSampler,
  PriorTrainer,
  type PriorEpochReport,
  type PriorTrainerOptions,
} from './vae/prior-stage.js';
export { Evaluator, type EvaluatorOptions, type LogLikelihoodOptions } from './vae/evaluator.js';
export {
  Optimizer,
  type FlatParam,
  type OptimizerOptions,
  type ParamGroup,
  type ParamSelector,
} from './optim/optimizer.js';
export { learningRateAt, type LrSchedule, type ScheduleContext } from './optim/schedule.js';

// ---- Inference ----
export {
  DEFAULT_BATCH_SIZES,
  VaeInference,
  type Completed,
  type CompleteOptions,
  type Decoded,
  type DecoderProgram,
  type Encoded,
  type InferenceOptions,
  type InterpolateOptions,
  type InterpolationMethod,
  type LabelOptions,
  type Labels,
  type LatentDecodeOptions,
  type LoadOptions,
  type ManifoldOptions,
  type SampleOptions,
  type TraverseOptions,
} from './vae/inference.js';
export { MAX_INPAINT_ITERATIONS, type InpaintOptions } from './vae/inpaint.js';

// ---- Display: decoded images drawn from GPU buffers, and image files ----
export {
  blitTarget,
  canvasTarget,
  GridDisplay,
  readTexture,
  textureTarget,
  type CanvasTargetOptions,
  type DisplayTarget,
  type GridDisplayOptions,
} from './display/grid-display.js';
export {
  FpsCounter,
  gridLayout,
  type DisplayFormat,
  type GridLayout,
  type GridLayoutOptions,
} from './display/layout.js';
export {
  LatentView,
  TraversalLoop,
  type LatentViewOptions,
  type TraversalLoopOptions,
} from './display/latent-view.js';
export type { LatentCodeSpec } from './kernels/latent.js';
export {
  colorize,
  COLORMAPS,
  imageGrid,
  type Colormap,
  type GrayImage,
  type ImageGridOptions,
} from './image/grid.js';
export { encodePng, type PngChannels } from './image/png.js';

// ---- Data loaders ----
export {
  binarizeInto,
  createBinarizer,
  decodeIdxImages,
  decodeIdxLabels,
  fetchIdxDataset,
  IdxFormatError,
  parseIdxImages,
  parseIdxLabels,
  type IdxDataset,
  type IdxImageOptions,
  type IdxImages,
  type IdxLabelOptions,
  type IdxLabels,
} from './data/idx.js';
export {
  generateSynthetic,
  syntheticLogDensity,
  SYNTHETIC_NAMES,
  type SyntheticData,
  type SyntheticName,
  type SyntheticOptions,
} from './data/synthetic.js';
export { Batcher, CyclicBatcher, type BatcherOptions } from './data/batches.js';
export { labeledSubset, type LabeledSplit } from './data/labeled-subset.js';
export { createRng, type Rng } from './data/rng.js';

// ---- Checkpoints ----
export {
  decodeCheckpoint,
  encodeCheckpoint,
  type Checkpoint,
  type CheckpointDecodeOptions,
  type CheckpointInput,
  type OptimizerState,
  type OptimizerStateInput,
} from './checkpoint/checkpoint.js';
export {
  openCheckpointSource,
  readCheckpointSource,
  type CheckpointSource,
  type OpenedCheckpoint,
  type ReadSourceOptions,
} from './checkpoint/source.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  SafetensorsError,
  type DecodedSafetensors,
  type DecodeOptions,
  type SafetensorsDtype,
  type SafetensorsHeader,
  type Tensor,
  type TensorLayout,
  type TensorInput,
  type TensorsInput,
} from './checkpoint/safetensors.js';
