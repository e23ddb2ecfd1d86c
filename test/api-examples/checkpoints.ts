// Checkpoints: safetensors files with the model config and the optimizer state, in memory.
import {
  decodeCheckpoint,
  decodeSafetensors,
  encodeCheckpoint,
  encodeSafetensors,
  openCheckpointSource,
  readCheckpointSource,
  SafetensorsError,
  type Checkpoint,
  type OpenedCheckpoint,
  type SafetensorsHeader,
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

/** A checkpoint from a URL (streamed), a File or bytes; the header arrives before the weights. */
export async function sourceExample(url: string, file: File): Promise<Checkpoint[]> {
  const opened: OpenedCheckpoint = openCheckpointSource(url, {
    maxBytes: 256 * 2 ** 20,
    onProgress: (loaded, total) => console.log(`${loaded} of ${total ?? '?'} bytes`),
    signal: AbortSignal.timeout(60_000),
  });
  // The model description and the tensor list, while the weights still download.
  const header: SafetensorsHeader = await opened.header;
  console.log(
    header.metadata.config,
    header.tensors.map((t) => `${t.name} [${t.shape}]`),
  );
  const fromUrl = decodeCheckpoint(await opened.bytes, { source: opened.name });
  // All at once: a File from <input type="file"> (also a Blob, an ArrayBuffer or a URL).
  const { bytes, name } = await readCheckpointSource(file);
  return [fromUrl, decodeCheckpoint(bytes, { source: name })]; // errors name the file
}
