// webgpu-vae: Variational Autoencoders trained and run with handwritten WebGPU compute shaders.
export * from './gpu/device.js';
export * from './gpu/buffers.js';
export * from './gpu/kernel.js';
export * from './gpu/reflect.js';
export * from './gpu/runtime.js';
export * from './gpu/timing.js';
export * from './gpu/tuning-store.js';
export * from './kernels/activation-codes.js';
export * from './kernels/fill.js';
export * from './kernels/checks.js';
export * from './kernels/reparam.js';
export * from './kernels/kl.js';
export * from './kernels/likelihood.js';
export * from './data/index.js';
export * from './checkpoint/index.js';
export * from './kernels/activations.js';
export * from './kernels/reduce.js';
export * from './kernels/adam.js';
export * from './kernels/matmul.js';
export * from './kernels/matmul-pack.js';
export * from './kernels/matmul-select.js';
export * from './kernels/matmul-defaults.js';
export * from './kernels/conv.js';
export * from './kernels/graph-util.js';
export {
  Graph,
  GradContext,
  Tensor as GraphTensor,
  type Op,
  type OpRule,
  type TensorRole,
} from './graph/graph.js';
export * from './graph/ops.js';
export * from './graph/planner.js';
export * from './graph/executor.js';
export * from './vae/config.js';
export * from './vae/graphs.js';
export * from './vae/model.js';
export * from './vae/schedule.js';
export * from './vae/trainer.js';
export * from './vae/reference.js';
export * from './image/png.js';
export * from './image/grid.js';
export * from './vae/inference.js';
export * from './kernels/latent.js';
export * from './kernels/display.js';
export * from './display/index.js';
