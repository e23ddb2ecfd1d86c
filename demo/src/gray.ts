// Digits drawn into a 2-D canvas in gray: the one helper of the panels that show images read back
// from the worker (interpolation, inpainting, VQ).
import { colorize, imageGrid } from '../../src/image/grid.js';

const SIDE = 28;

export interface GrayOptions {
  /** Images per row (default n). */
  columns?: number;
  /** Pixels between images (default imageGrid's). */
  padding?: number;
  /** CSS pixels per image pixel (default: the canvas's own CSS size). */
  scale?: number;
  /** One image only, no padding: the pixels where mask is 1 are drawn in `rgb` instead. */
  overlay?: { mask: Float32Array; rgb: readonly [number, number, number] };
}

/** Draws n images of 28×28 values in [0, 1] as a gray grid, resizing the canvas to fit. */
export function drawGray(
  canvas: HTMLCanvasElement,
  images: Float32Array,
  n: number,
  o: GrayOptions = {},
): void {
  const grid = imageGrid(images, n, SIDE, SIDE, {
    columns: o.columns ?? n,
    ...(o.padding !== undefined ? { padding: o.padding } : {}),
  });
  const rgb = colorize(grid.pixels, 'gray');
  canvas.width = grid.width;
  canvas.height = grid.height;
  if (o.scale !== undefined) canvas.style.width = `${grid.width * o.scale}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const data = ctx.createImageData(grid.width, grid.height);
  for (let i = 0; i < grid.pixels.length; i++) {
    const pixel =
      o.overlay?.mask[i] === 1
        ? o.overlay.rgb
        : ([rgb[3 * i] ?? 0, rgb[3 * i + 1] ?? 0, rgb[3 * i + 2] ?? 0] as const);
    data.data.set([...pixel, 255], 4 * i);
  }
  ctx.putImageData(data, 0, 0);
}
