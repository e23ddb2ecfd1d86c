// webgpu-vae: Variational Autoencoders trained and run with handwritten WebGPU compute shaders.
export * from './gpu/device.js';
export * from './gpu/buffers.js';
export * from './gpu/kernel.js';
export * from './gpu/reflect.js';
export * from './gpu/runtime.js';
export * from './gpu/timing.js';
export * from './kernels/activation-codes.js';
export * from './kernels/fill.js';
export * from './kernels/reparam.js';
export * from './kernels/kl.js';
export * from './kernels/likelihood.js';
export * from './data/index.js';
export * from './checkpoint/index.js';
export * from './kernels/activations.js';
export * from './kernels/reduce.js';
export * from './kernels/adam.js';
export * from './kernels/matmul.js';
