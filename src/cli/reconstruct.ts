// The `reconstruct` command: the first test images and their reconstructions decode(encode(x))
// (the posterior mean's decode; a vq model's codes' decode), as pairs in DIR/reconstructions.png.
// What a vq model can draw until a prior over its codes is trained.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { imageGrid } from '../image/grid.js';
import { encodePngSync } from '../image/png-node.js';
import { VaeInference } from '../vae/inference.js';
import type { ReconstructOptions } from './args.js';
import { Output } from './output.js';
import { openTestRun } from './test-run.js';

export async function reconstructImages(o: ReconstructOptions): Promise<void> {
  const out = new Output(o.json);
  const run = await openTestRun(o, out);
  const { data, D, rows, rt, model } = run;
  const inference = VaeInference.create(model);
  try {
    const x = data.test.images.slice(0, rows * D);
    const labels = data.test.labels ? Array.from(data.test.labels).slice(0, rows) : undefined;
    if (model.config.condition.kind === 'label' && !labels) {
      throw new Error(`${o.checkpoint}: the model is conditioned on labels; the data has none`);
    }
    const r = await inference.reconstruct(
      x,
      rows,
      model.config.condition.kind === 'label' ? { labels: labels! } : {},
    );
    // Pairs: each test image followed by its reconstruction, 8 pairs a row.
    const pairs = new Float32Array(2 * rows * D);
    for (let i = 0; i < rows; i++) {
      pairs.set(x.subarray(i * D, (i + 1) * D), 2 * i * D);
      pairs.set(r.images.subarray(i * D, (i + 1) * D), (2 * i + 1) * D);
    }
    const grid = imageGrid(pairs, 2 * rows, data.side, data.side, { columns: 16 });
    await mkdir(o.out, { recursive: true });
    const path = join(o.out, 'reconstructions.png');
    await writeFile(path, encodePngSync(grid.pixels, grid.width, grid.height, 1));
    out.finish('reconstruct', [path], { count: rows, adapter: rt.info.name });
  } finally {
    inference.destroy();
    run.destroy();
  }
}
