// A checkpoint's model on the GPU beside the test split it runs on: what the commands that show a
// model test images (inpaint, complete, reconstruct) start from. One place reads the checkpoint,
// loads the data, sets up the runtime and checks that the model takes the data's images.
import { readCheckpointFile } from '../checkpoint/file.js';
import type { AdapterChoice } from '../gpu/device.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { VaeModel } from '../vae/model.js';
import type { DatasetName } from './args.js';
import { loadSplits, resolveDataSource, type Splits } from './data.js';
import { runtime, type Output } from './output.js';

export interface TestRun {
  data: Splits;
  /** Values per image (side²). */
  D: number;
  /** Test images shown: the count asked for, at most the test split's. */
  rows: number;
  rt: GpuRuntime;
  model: VaeModel;
  /** Frees the model and the device. */
  destroy(): void;
}

/** Opens `checkpoint` on the test split of --dataset / --data; errors name the file and sizes. */
export async function openTestRun(
  o: {
    checkpoint: string;
    dataset: DatasetName | undefined;
    data: string | undefined;
    adapter: AdapterChoice;
    count: number;
  },
  out: Output,
): Promise<TestRun> {
  const ckpt = await readCheckpointFile(o.checkpoint);
  const data = await loadSplits(resolveDataSource(o.dataset, o.data));
  out.log(`data: ${data.source}`);
  const D = data.side * data.side;
  const rt = await runtime(o.adapter, out);
  const model = VaeModel.fromDecoded(rt, ckpt, o.checkpoint);
  const destroy = () => {
    model.destroy();
    rt.device.destroy();
  };
  if (model.config.inputSize !== D) {
    destroy();
    throw new Error(
      `${o.checkpoint}: the model takes ${model.config.inputSize} values per image, the data has ${D}`,
    );
  }
  return { data, D, rows: Math.min(o.count, data.test.count), rt, model, destroy };
}
