// A decode-only app: load a trained checkpoint, decode 16 random latent codes on the GPU and draw
// them on a 2-D canvas. `bench/package-size.ts` builds this file with Vite against the packed
// package to measure what a browser app pays for webgpu-vae.
import { createRuntime, VaeInference } from 'webgpu-vae';

const status = document.querySelector<HTMLParagraphElement>('#status')!;
const canvas = document.querySelector<HTMLCanvasElement>('#samples')!;

/** Standard normal draws (Box–Muller); any source of latent codes works. */
function normals(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - Math.random();
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
  }
  return out;
}

async function main(): Promise<void> {
  const rt = await createRuntime();
  const vae = await VaeInference.fromCheckpoint(rt, './model.safetensors');
  const n = 16;
  const side = Math.round(Math.sqrt(vae.config.inputSize));
  const images = await vae.decode(normals(n * vae.config.latentSize), n);
  // 4 × 4 tiles, grayscale intensities in [0, 1] to RGBA bytes.
  const cols = 4;
  canvas.width = cols * side;
  canvas.height = Math.ceil(n / cols) * side;
  const pixels = new ImageData(canvas.width, canvas.height);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const v = Math.round(255 * Math.min(1, Math.max(0, images[(i * side + y) * side + x]!)));
        const px = (Math.floor(i / cols) * side + y) * canvas.width + (i % cols) * side + x;
        pixels.data.set([v, v, v, 255], 4 * px);
      }
    }
  }
  canvas.getContext('2d')!.putImageData(pixels, 0, 0);
  status.textContent = `decoded ${n} samples on ${rt.info.name}`;
}

main().catch((e: unknown) => {
  status.textContent = String(e);
});
