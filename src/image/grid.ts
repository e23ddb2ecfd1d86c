// Tiling a batch of single-channel images into one grayscale picture, and colour maps for it.
// Browser-safe (no Node imports).

/**
 * Byte written for a NaN value: mid gray (128), visibly different from both the black background
 * and the white strokes of digits, so a model that produced NaNs shows gray blotches.
 */
export const NAN_MARKER = 128;

/** Layout, background and clamping of imageGrid. */
export interface ImageGridOptions {
  /** Images per row (default ceil(sqrt(n))). */
  columns?: number;
  /** Pixels of background between images and around the border (default 2). */
  padding?: number;
  /** Background intensity in [0, 1] (default 0, black). */
  background?: number;
  /**
   * true (default): values outside [0, 1] (±Infinity included) are clamped. false: such a value
   * throws an Error naming the image, the pixel and the value (for checking data that must
   * already be in range). NaN always becomes NAN_MARKER.
   */
  clamp?: boolean;
}

/** An 8-bit grayscale picture. */
export interface GrayImage {
  /** Row-major bytes, one per pixel, length width * height. */
  pixels: Uint8Array;
  width: number;
  height: number;
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`imageGrid: ${name} must be a positive integer, got ${v}`);
  }
}

/** Maps a value in [0, 1] to a byte: clamp, then round(v * 255); NaN → NAN_MARKER. */
export function toByte(v: number): number {
  if (Number.isNaN(v)) return NAN_MARKER;
  if (v <= 0) return 0;
  if (v >= 1) return 255;
  return Math.round(v * 255);
}

/**
 * Lays out `n` images (row-major (N, height * width) values in [0, 1]) in a grid, left to right
 * then top to bottom. With cols = min(columns, n), image i sits at column i % cols, row
 * floor(i / cols), its top-left pixel at (padding + col * (width + padding), padding + row *
 * (height + padding)). The result is cols * width + (cols + 1) * padding wide and rows * height +
 * (rows + 1) * padding high, rows = ceil(n / cols); cells past the last image stay background.
 */
export function imageGrid(
  images: Float32Array,
  n: number,
  height: number,
  width: number,
  options: ImageGridOptions = {},
): GrayImage {
  checkPositiveInt('n', n);
  checkPositiveInt('height', height);
  checkPositiveInt('width', width);
  const size = height * width;
  if (images.length !== n * size) {
    throw new Error(
      `imageGrid: images has ${images.length} values, expected ${n * size} ` +
        `(${n} images of ${height} x ${width}); pass images.subarray(0, ${n * size}) for a prefix`,
    );
  }
  const columns = options.columns ?? Math.ceil(Math.sqrt(n));
  checkPositiveInt('columns', columns);
  const padding = options.padding ?? 2;
  if (!Number.isInteger(padding) || padding < 0) {
    throw new Error(`imageGrid: padding must be a non-negative integer, got ${padding}`);
  }
  const background = options.background ?? 0;
  if (!(background >= 0 && background <= 1)) {
    throw new Error(`imageGrid: background must be in [0, 1], got ${background}`);
  }
  const clamp = options.clamp ?? true;

  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / cols);
  const outW = cols * width + (cols + 1) * padding;
  const outH = rows * height + (rows + 1) * padding;
  const pixels = new Uint8Array(outW * outH).fill(toByte(background));

  for (let i = 0; i < n; i++) {
    const x0 = padding + (i % cols) * (width + padding);
    const y0 = padding + Math.floor(i / cols) * (height + padding);
    const base = i * size;
    for (let y = 0; y < height; y++) {
      const row = (y0 + y) * outW + x0;
      for (let x = 0; x < width; x++) {
        const v = images[base + y * width + x]!;
        if (!clamp && (v < 0 || v > 1)) {
          throw new Error(
            `imageGrid: image ${i} pixel (${y}, ${x}) is ${v}, outside [0, 1] (clamp: false)`,
          );
        }
        pixels[row + x] = toByte(v);
      }
    }
  }
  return { pixels, width: outW, height: outH };
}

// ---- colour maps ----

/** A colour map for single-channel images. */
export type Colormap = 'gray' | 'viridis' | 'magma';

/** Every colour map, for menus. */
export const COLORMAPS: readonly Colormap[] = ['gray', 'viridis', 'magma'];

// Nine evenly spaced stops of matplotlib's perceptually uniform maps (0, 1/8, ..., 1); the 256-entry
// tables are linear interpolations between them (exact at the stops, within a few levels elsewhere).
const STOPS: Record<Exclude<Colormap, 'gray'>, readonly number[]> = {
  viridis: [
    0x440154, 0x472c7a, 0x3b518b, 0x2c718e, 0x21908d, 0x27ad81, 0x5cc863, 0xaadc32, 0xfde725,
  ],
  magma: [0x000004, 0x1c1044, 0x4f127b, 0x812581, 0xb5367a, 0xe55064, 0xfb8761, 0xfec287, 0xfcfdbf],
};

const luts = new Map<Colormap, Uint8Array>();

/** The 256 × RGB lookup table of a colour map (index = gray byte). */
export function colormapLut(colormap: Colormap): Uint8Array {
  const cached = luts.get(colormap);
  if (cached) return cached;
  const lut = new Uint8Array(256 * 3);
  if (colormap === 'gray') {
    for (let v = 0; v < 256; v++) lut.fill(v, 3 * v, 3 * v + 3);
  } else {
    const stops = STOPS[colormap];
    if (!stops) {
      throw new Error(
        `colorize: unknown colormap '${String(colormap)}' (known: ${COLORMAPS.join(', ')})`,
      );
    }
    const segments = stops.length - 1;
    for (let v = 0; v < 256; v++) {
      const t = (v / 255) * segments;
      const k = Math.min(segments - 1, Math.floor(t));
      const f = t - k;
      const a = stops[k]!;
      const b = stops[k + 1]!;
      for (let c = 0; c < 3; c++) {
        const shift = 16 - 8 * c;
        const ca = (a >>> shift) & 0xff;
        const cb = (b >>> shift) & 0xff;
        lut[3 * v + c] = Math.round(ca + (cb - ca) * f);
      }
    }
  }
  luts.set(colormap, lut);
  return lut;
}

/** Maps grayscale bytes through a colour map: RGB bytes, 3 per input byte. */
export function colorize(gray: Uint8Array, colormap: Colormap = 'gray'): Uint8Array {
  const lut = colormapLut(colormap);
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    const g = 3 * gray[i]!;
    out[3 * i] = lut[g]!;
    out[3 * i + 1] = lut[g + 1]!;
    out[3 * i + 2] = lut[g + 2]!;
  }
  return out;
}
