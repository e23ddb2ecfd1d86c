// Checkpoints: safetensors files with the model config and the optimizer state, in memory.
import {
  decodeCheckpoint,
  decodeSafetensors,
  encodeCheckpoint,
  encodeSafetensors,
  SafetensorsError,
  type Checkpoint,
} from 'webgpu-vae';

export function checkpointExample(): Checkpoint {
  const bytes = encodeCheckpoint({
    params: { 'encoder.0.weight': { shape: [2, 3], data: new Float32Array(6) } },
    config: { inputSize: 3, latentSize: 2 },
    optimizer: {
      type: 'adam',
      step: 10,
      moments: { m: { 'encoder.0.weight': { shape: [2, 3], data: new Float32Array(6) } } },
      hyper: { lr: 1e-3 },
    },
  });
  const checkpoint = decodeCheckpoint(bytes, { source: 'example.safetensors' });
  // Any safetensors file (e.g. from PyTorch's safetensors.torch.save_file), float32 tensors.
  const plain = encodeSafetensors({ w: { shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
  try {
    decodeSafetensors(plain.subarray(0, 10), { source: 'truncated' });
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e; // names the source and the problem
  }
  return checkpoint;
}
