// Digits drawn on the main thread: images in [0, 1] as one gray row on a 2-D canvas.
import { colorize, imageGrid } from '../../src/image/grid.js';

/** n 28×28 images side by side, shown at twice their size. */
export function putGray(canvas: HTMLCanvasElement, images: Float32Array, n: number): void {
  const grid = imageGrid(images, n, 28, 28, { columns: n });
  const rgb = colorize(grid.pixels, 'gray');
  canvas.width = grid.width;
  canvas.height = grid.height;
  canvas.style.width = `${grid.width * 2}px`;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(grid.width, grid.height);
  for (let i = 0; i < grid.pixels.length; i++) {
    data.data.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, 255], 4 * i);
  }
  ctx.putImageData(data, 0, 0);
}
