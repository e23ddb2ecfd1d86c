// The `inpaint` command: test images with masks drawn on the CPU (seeded), completed by
// VaeInference.inpaint, drawn as rows of original | masked | filled in DIR/inpaint.png, with the
// missing-pixel error before and after the passes.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRng, type Rng } from '../data/rng.js';
import { imageGrid } from '../image/grid.js';
import { encodePngSync } from '../image/png-node.js';
import { VaeInference } from '../vae/inference.js';
import { missingPixelBce } from '../vae/inpaint.js';
import type { InpaintCliOptions, MaskKind } from './args.js';
import { Output, round } from './output.js';
import { openTestRun } from './test-run.js';

/**
 * One mask per row (rows, side²), 1 where missing: a quadrant, a block with sides in
 * [side/4, side/2] placed uniformly, or each pixel with probability p.
 */
export function drawMasks(kind: MaskKind, rows: number, side: number, p: number, rng: Rng) {
  const D = side * side;
  const mask = new Float32Array(rows * D);
  const half = Math.floor(side / 2);
  const lo = Math.max(1, Math.round(side / 4));
  const hi = Math.max(lo, Math.round(side / 2));
  for (let b = 0; b < rows; b++) {
    const row = mask.subarray(b * D, (b + 1) * D);
    if (kind === 'pixels') {
      for (let i = 0; i < D; i++) row[i] = rng.next() < p ? 1 : 0;
      continue;
    }
    let top: number, left: number, height: number, width: number;
    if (kind === 'quadrant') {
      const q = rng.int(4);
      [top, height] = q >= 2 ? [half, side - half] : [0, half];
      [left, width] = q % 2 === 1 ? [half, side - half] : [0, half];
    } else {
      [height, width] = [lo + rng.int(hi - lo + 1), lo + rng.int(hi - lo + 1)];
      [top, left] = [rng.int(side - height + 1), rng.int(side - width + 1)];
    }
    for (let h = top; h < top + height; h++) row.fill(1, h * side + left, h * side + left + width);
  }
  return mask;
}

/**
 * Writes `rows` rows of `columns` square tiles (rows·columns, side²; NaN pixels are the grid's
 * missing-pixel marker) as one PNG, creating its folder.
 */
export async function writeTileRows(
  path: string,
  tiles: Float32Array,
  rows: number,
  columns: number,
  side: number,
): Promise<void> {
  const grid = imageGrid(tiles, rows * columns, side, side, { columns });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, encodePngSync(grid.pixels, grid.width, grid.height, 1));
}

/** x (side²) with the pixels where mask is 1 marked missing (NaN), for a tile. */
export function markMissing(x: Float32Array, mask: Float32Array): Float32Array {
  return x.map((v, i) => (mask[i] === 1 ? Number.NaN : v));
}

export async function inpaint(o: InpaintCliOptions): Promise<void> {
  const out = new Output(o.json);
  const run = await openTestRun(o, out);
  const { data, D, rows, rt, model } = run;
  const inference = VaeInference.create(model);
  try {
    if (model.config.condition.kind !== 'none') {
      throw new Error(`${o.checkpoint}: inpaint takes unconditioned models (condition 'none')`);
    }
    const x = data.test.images.slice(0, rows * D);
    const mask = drawMasks(o.mask, rows, data.side, o.p, createRng(o.seed));
    const fill = model.config.masking?.fill ?? 0;
    const errors: number[] = [];
    const filled = await inference.inpaint(x, mask, {
      iterations: o.iterations,
      onIteration: (_i, images) => errors.push(missingPixelBce(images, x, mask)),
    });
    const before = missingPixelBce(
      Float32Array.from(x, (v, i) => (mask[i] === 1 ? fill : v)),
      x,
      mask,
    );
    // Rows of original | masked (missing pixels as NaN: the grid's marker) | filled.
    const tiles = new Float32Array(3 * rows * D);
    for (let b = 0; b < rows; b++) {
      const src = x.subarray(b * D, (b + 1) * D);
      tiles.set(src, 3 * b * D);
      tiles.set(markMissing(src, mask.subarray(b * D, (b + 1) * D)), (3 * b + 1) * D);
      tiles.set(filled.subarray(b * D, (b + 1) * D), (3 * b + 2) * D);
    }
    const path = join(o.out, 'inpaint.png');
    await writeTileRows(path, tiles, rows, 3, data.side);
    const last = errors.at(-1) ?? before;
    out.log(
      `missing-pixel BCE (nats per pixel): ${before.toFixed(4)} filled with ${fill}, ` +
        `${(errors[0] ?? before).toFixed(4)} after 1 pass, ${last.toFixed(4)} after ${o.iterations}`,
    );
    out.finish('inpaint', [path], {
      mask: o.mask,
      count: rows,
      iterations: o.iterations,
      bceBefore: round(before),
      bcePerPass: errors.map((e) => round(e)),
      adapter: rt.info.name,
    });
  } finally {
    inference.destroy();
    run.destroy();
  }
}
