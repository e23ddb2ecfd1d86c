// The CPU side of the GPU-direct display: tiling math (the same layout as imageGrid in
// src/image/grid.ts), the colour-map LUT packed for the display kernel, and an FPS counter.
// Browser-safe and Node-safe (no DOM, no GPU).
import { colormapLut, COLORMAPS, type Colormap } from '../image/grid.js';

/** How tiles are arranged in a grid. */
export interface GridLayoutOptions {
  /** Tiles per row (default ceil(sqrt(n))). */
  columns?: number;
  /** Background texels between and around tiles (default 2). */
  padding?: number;
}

/** Where every tile of a grid lies, in texels, and the padded row stride of the picture. */
export interface GridLayout {
  n: number;
  imageHeight: number;
  imageWidth: number;
  cols: number;
  rows: number;
  padding: number;
  /** Picture size in texels. */
  width: number;
  height: number;
  /** Texels per row of the pixel buffer: width rounded up to 64 (256 bytes, copy alignment). */
  rowStride: number;
}

/** Bytes per row a buffer-to-texture copy needs to be a multiple of. */
export const COPY_ROW_ALIGNMENT = 256;

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`gridLayout: ${name} must be a positive integer, got ${v}`);
  }
}

/** Layout of n images of height × width in a grid (exactly as imageGrid places them). */
export function gridLayout(
  n: number,
  imageHeight: number,
  imageWidth: number,
  options: GridLayoutOptions = {},
): GridLayout {
  positiveInt('n', n);
  positiveInt('imageHeight', imageHeight);
  positiveInt('imageWidth', imageWidth);
  const columns = options.columns ?? Math.ceil(Math.sqrt(n));
  positiveInt('columns', columns);
  const padding = options.padding ?? 2;
  if (!Number.isInteger(padding) || padding < 0) {
    throw new Error(`gridLayout: padding must be a non-negative integer, got ${padding}`);
  }
  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / cols);
  const width = cols * imageWidth + (cols + 1) * padding;
  const height = rows * imageHeight + (rows + 1) * padding;
  const texelsPerAlignment = COPY_ROW_ALIGNMENT / 4;
  const rowStride = Math.ceil(width / texelsPerAlignment) * texelsPerAlignment;
  return { n, imageHeight, imageWidth, cols, rows, padding, width, height, rowStride };
}

/** The image index and pixel under texel (x, y), or undefined on the background. */
export function tileAt(
  layout: GridLayout,
  x: number,
  y: number,
): { image: number; row: number; col: number } | undefined {
  const { padding, imageWidth, imageHeight, cols } = layout;
  if (x < padding || y < padding || x >= layout.width || y >= layout.height) return undefined;
  const cw = imageWidth + padding;
  const ch = imageHeight + padding;
  const tileCol = Math.floor((x - padding) / cw);
  const tileRow = Math.floor((y - padding) / ch);
  const col = x - padding - tileCol * cw;
  const row = y - padding - tileRow * ch;
  const image = tileRow * cols + tileCol;
  if (tileCol >= cols || col >= imageWidth || row >= imageHeight || image >= layout.n) {
    return undefined;
  }
  return { image, row, col };
}

/** Texel byte order of the display target. */
export type DisplayFormat = 'rgba8unorm' | 'bgra8unorm';

/**
 * The LUT of a colour map as 256 packed texels (u32, little-endian bytes in the target's channel
 * order, alpha 255), as the display kernel reads it.
 */
export function packedLut(
  colormap: Colormap,
  format: DisplayFormat = 'rgba8unorm',
): Uint32Array<ArrayBuffer> {
  if (!COLORMAPS.includes(colormap)) {
    throw new Error(
      `display: unknown colormap '${String(colormap)}' (known: ${COLORMAPS.join(', ')})`,
    );
  }
  if (format !== 'rgba8unorm' && format !== 'bgra8unorm') {
    throw new Error(`display: format must be 'rgba8unorm' or 'bgra8unorm', got ${String(format)}`);
  }
  const lut = colormapLut(colormap);
  const out = new Uint32Array(256);
  for (let v = 0; v < 256; v++) {
    let r = lut[3 * v]!;
    const g = lut[3 * v + 1]!;
    let b = lut[3 * v + 2]!;
    if (format === 'bgra8unorm') [r, b] = [b, r];
    out[v] = (r | (g << 8) | (b << 16) | (255 << 24)) >>> 0;
  }
  return out;
}

/** Frames per second over a sliding window of frame timestamps (milliseconds). */
export class FpsCounter {
  private readonly times: number[] = [];

  constructor(
    /** Window length in milliseconds (default 1000). */
    readonly windowMs = 1000,
  ) {}

  /** Records a frame at `now` (default performance.now()). */
  tick(now: number = performance.now()): void {
    this.times.push(now);
    while (this.times.length > 2 && now - this.times[0]! > this.windowMs) this.times.shift();
  }

  /** Frames per second in the window (0 before two frames). */
  get fps(): number {
    const n = this.times.length;
    if (n < 2) return 0;
    const span = this.times[n - 1]! - this.times[0]!;
    return span > 0 ? ((n - 1) * 1000) / span : 0;
  }

  /** Frames recorded in the window. */
  get frames(): number {
    return this.times.length;
  }

  /** Forgets the frames counted so far. */
  reset(): void {
    this.times.length = 0;
  }
}
