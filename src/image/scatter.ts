// 2-D point clouds as images, for the synthetic experiments' figures: panels side by side on one
// shared square extent, each a density of its points (darker where more points fall on a pixel),
// with the axes through the origin. Plain RGB bytes; encode them with encodePng / encodePngSync.

/** Options of {@link scatterPanels}. */
export interface ScatterOptions {
  /** Side of each square panel in pixels (default 320). */
  size?: number;
  /** Half-width of the plotted square [−extent, extent]² (default: from the points, see below). */
  extent?: number;
  /** Pixels between panels and around them (default 8). */
  margin?: number;
}

/** An RGB image (3 bytes per pixel, row-major, top row first). */
export interface RgbImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

/** Ink colour of the points (matplotlib's first colour) and of the axes. */
const INK = [31, 119, 180] as const;
const AXIS = 200;
/** Points on one pixel that make it about 63 % inked: one point shows, crowds saturate slowly. */
const POINTS_PER_INK = 3;

/**
 * A symmetric half-width that holds all but the outermost 0.5 % of the points of every panel in
 * each coordinate, plus 10 %: the plot is not ruled by a few far outliers.
 */
export function scatterExtent(panels: readonly Float32Array[]): number {
  let extent = 0;
  for (const points of panels) {
    const magnitudes = Float32Array.from(points, Math.abs).sort();
    if (magnitudes.length === 0) continue;
    const q = magnitudes[Math.min(magnitudes.length - 1, Math.floor(magnitudes.length * 0.995))]!;
    extent = Math.max(extent, q);
  }
  return extent > 0 && Number.isFinite(extent) ? extent * 1.1 : 1;
}

/**
 * Draws point clouds (each row-major (n, 2)) as square panels side by side on one extent, y up.
 * Points outside the extent and non-finite points are left out.
 */
export function scatterPanels(
  panels: readonly Float32Array[],
  options: ScatterOptions = {},
): RgbImage {
  const size = options.size ?? 320;
  const margin = options.margin ?? 8;
  if (!Number.isInteger(size) || size < 16) {
    throw new RangeError(`scatterPanels: size must be an integer >= 16, got ${size}`);
  }
  for (const [i, points] of panels.entries()) {
    if (points.length % 2 !== 0) {
      throw new RangeError(`scatterPanels: panel ${i} must be (n, 2) points, got ${points.length}`);
    }
  }
  const extent = options.extent ?? scatterExtent(panels);
  if (!(extent > 0) || !Number.isFinite(extent)) {
    throw new RangeError(`scatterPanels: extent must be a positive number, got ${extent}`);
  }
  const width = margin + panels.length * (size + margin);
  const height = size + 2 * margin;
  const pixels = new Uint8Array(width * height * 3).fill(255);
  const counts = new Float32Array(size * size);
  const toPixel = (v: number) => Math.floor(((v + extent) / (2 * extent)) * size);
  const origin = Math.min(size - 1, toPixel(0));
  panels.forEach((points, p) => {
    counts.fill(0);
    for (let i = 0; i < points.length; i += 2) {
      const col = toPixel(points[i]!);
      const row = size - 1 - toPixel(points[i + 1]!);
      if (col < 0 || col >= size || row < 0 || row >= size) continue;
      const at = row * size + col;
      counts[at] = (counts[at] ?? 0) + 1;
    }
    const left = margin + p * (size + margin);
    for (let row = 0; row < size; row++) {
      for (let col = 0; col < size; col++) {
        const o = ((margin + row) * width + left + col) * 3;
        const ink = 1 - Math.exp(-counts[row * size + col]! / POINTS_PER_INK);
        const paper = row === origin || col === origin ? AXIS : 255;
        INK.forEach((channel, c) => {
          pixels[o + c] = Math.round(paper + (channel - paper) * ink);
        });
      }
    }
  });
  return { width, height, pixels };
}
