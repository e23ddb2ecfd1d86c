// The `complete` command: test images completed from their observed quadrants by a completion
// model (condition 'quadrants', the CVAE of Sohn et al. 2015) with VaeInference.complete, drawn as
// rows of original | observed | one or more completions, with the completions' missing-pixel error.
import { join } from 'node:path';
import { VaeInference } from '../vae/inference.js';
import { missingPixelBce } from '../vae/inpaint.js';
import type { VaeModel } from '../vae/model.js';
import type { CompleteCliOptions } from './args.js';
import { markMissing, writeTileRows } from './inpaint.js';
import { Output, round } from './output.js';
import { openTestRun } from './test-run.js';

/** A completion model's check, naming the checkpoint and what to train instead. */
export function checkCompletionModel(model: VaeModel, source: string, command: string): void {
  const kind = model.config.condition.kind;
  if (kind !== 'quadrants') {
    throw new Error(
      `${source}: ${command} takes completion models (condition 'quadrants', as trained by ` +
        `train --condition quadrants --observed N); this one has condition '${kind}'`,
    );
  }
}

/**
 * Completes the first `rows` images of x (rows, side²) `draws` times (seeds seed, seed + 1, …)
 * and writes the rows original | observed | completions to `path`. Returns the missing-pixel BCE
 * (nats per pixel) of the completions, one per draw.
 */
export async function writeCompletions(
  model: VaeModel,
  x: Float32Array,
  rows: number,
  side: number,
  o: { path: string; draws: number; seed: number },
): Promise<number[]> {
  const D = side * side;
  const inference = VaeInference.create(model);
  try {
    const columns = 2 + o.draws;
    const tiles = new Float32Array(rows * columns * D);
    const bce: number[] = [];
    for (let d = 0; d < o.draws; d++) {
      // Seeds wrap within [0, 2^32): complete() takes any seed there.
      const done = await inference.complete(x, rows, { seed: (o.seed + d) >>> 0 });
      bce.push(missingPixelBce(done.images, x.subarray(0, rows * D), done.missing));
      for (let b = 0; b < rows; b++) {
        const at = b * columns * D;
        const src = x.subarray(b * D, (b + 1) * D);
        if (d === 0) {
          tiles.set(src, at);
          tiles.set(markMissing(src, done.missing.subarray(b * D, (b + 1) * D)), at + D);
        }
        tiles.set(done.images.subarray(b * D, (b + 1) * D), at + (2 + d) * D);
      }
    }
    await writeTileRows(o.path, tiles, rows, columns, side);
    return bce;
  } finally {
    inference.destroy();
  }
}

export async function complete(o: CompleteCliOptions): Promise<void> {
  const out = new Output(o.json);
  const run = await openTestRun(o, out);
  const { data, rows, rt, model } = run;
  try {
    checkCompletionModel(model, o.checkpoint, 'complete');
    // --out names the PNG, or a folder for complete.png (as the other commands' --out DIR).
    const path = o.out.endsWith('.png') ? o.out : join(o.out, 'complete.png');
    const bce = await writeCompletions(model, data.test.images, rows, data.side, {
      path,
      draws: o.draws,
      seed: o.seed,
    });
    const mean = bce.reduce((a, b) => a + b, 0) / bce.length;
    out.log(
      `missing-pixel BCE of the completions (nats per pixel): ${mean.toFixed(4)}` +
        (bce.length > 1 ? ` (mean of ${bce.length} draws)` : ''),
    );
    out.finish('complete', [path], {
      count: rows,
      draws: o.draws,
      observed: model.config.condition.kind === 'quadrants' ? model.config.condition.observed : 0,
      bce: bce.map((e) => round(e)),
      adapter: rt.info.name,
    });
  } finally {
    run.destroy();
  }
}
