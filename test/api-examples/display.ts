// Display: decoded images drawn straight from GPU buffers into a canvas, and image files.
import {
  blitTarget,
  canvasTarget,
  colorize,
  COLORMAPS,
  encodePng,
  FpsCounter,
  GridDisplay,
  gridLayout,
  imageGrid,
  LatentView,
  readTexture,
  textureTarget,
  TraversalLoop,
  type Colormap,
  type VaeInference,
} from 'webgpu-vae';

/** A 16×16 traversal grid of latent dimension 0 and up, redrawn every animation frame. */
export async function traversalExample(
  vae: VaeInference,
  canvas: HTMLCanvasElement,
): Promise<TraversalLoop> {
  const side = Math.sqrt(vae.config.inputSize);
  const target = canvasTarget(vae.rt, canvas, gridLayout(256, side, side, { columns: 16 }));
  const view = await LatentView.create(vae, target, {
    rows: 16,
    cols: 16,
    spec: { mode: 'traverse', dimA: 0, lo: -3, hi: 3 },
    colormap: 'viridis',
  });
  view.setBase(new Float32Array(vae.config.latentSize));
  const loop = new TraversalLoop(view, { onFrame: (fps) => console.log(`${fps.toFixed(0)} fps`) });
  loop.start();
  return loop;
}

/** Samples decoded on the GPU and tiled into a canvas without a readback. */
export async function gridExample(vae: VaeInference, canvas: HTMLCanvasElement): Promise<void> {
  const Z = vae.config.latentSize;
  const side = Math.sqrt(vae.config.inputSize);
  const z = vae.rt.buffers.storage('codes', 4 * 64 * Z);
  const images = await vae.decodeGpu(z, 64);
  const display = await GridDisplay.create(vae.rt, {
    source: images,
    n: 64,
    height: side,
    width: side,
  });
  const target = canvasTarget(vae.rt, canvas, display.layout);
  display.draw(target);
  display.destroy();
  target.destroy();
}

/** The same pictures as a PNG file (e.g. for a download link). */
export async function pngExample(images: Float32Array, n: number, side: number): Promise<Blob> {
  const grid = imageGrid(images, n, side, side, { columns: 8 });
  const png = await encodePng(colorize(grid.pixels, 'magma'), grid.width, grid.height, 3);
  return new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' });
}

/** Off screen: draw into a texture and read the texels back (tests, thumbnails). */
export async function textureExample(vae: VaeInference, images: GPUBuffer): Promise<Uint8Array> {
  const side = Math.sqrt(vae.config.inputSize);
  const source = { buffer: images, offset: 0, size: images.size };
  const colormap: Colormap = COLORMAPS[1]!;
  const display = await GridDisplay.create(vae.rt, {
    source,
    n: 4,
    height: side,
    width: side,
    colormap,
  });
  const target = textureTarget(vae.rt, display.layout);
  display.draw(target);
  const texels = await readTexture(
    vae.rt,
    target.gpuTexture,
    display.layout.width,
    display.layout.height,
  );
  target.destroy();
  display.destroy();
  return texels;
}

/** Into any render target (e.g. a WebXR layer): the tiles are blitted into what `output` gives. */
export function blitExample(vae: VaeInference, output: () => GPUTexture, format: GPUTextureFormat) {
  const fps = new FpsCounter();
  fps.tick();
  return blitTarget(vae.rt, gridLayout(16, 28, 28), output, format);
}
