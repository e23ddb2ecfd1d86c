// The Node entry: IDX folders, checkpoint files written atomically, PNG files, the digits.
import {
  encodePngSync,
  findIdxFile,
  IDX_FILE_STEMS,
  imageGrid,
  loadEmbeddedDigits,
  loadIdxDataset,
  loadIdxSplit,
  readCheckpointFile,
  readIdxImagesFile,
  readIdxLabelsFile,
  readIdxPair,
  readMaybeGzip,
  readSafetensorsFile,
  writeCheckpointFile,
  writeSafetensorsFile,
  type Checkpoint,
  type DecodedSafetensors,
} from 'webgpu-vae/node';
import { writeFileSync } from 'node:fs';

export async function nodeExample(dir: string): Promise<Checkpoint> {
  const { train, test } = loadIdxDataset(dir); // train-images-idx3-ubyte(.gz), ...
  const digits = await loadEmbeddedDigits({ trainCount: 1000, testCount: 100 }); // needs `mnist`
  const grid = imageGrid(test.images.subarray(0, 64 * 784), 64, 28, 28);
  writeFileSync('digits.png', encodePngSync(grid.pixels, grid.width, grid.height, 1));
  await writeCheckpointFile('model.safetensors', {
    params: { w: { shape: [2], data: new Float32Array([train.count, digits.train.count]) } },
  });
  return readCheckpointFile('model.safetensors');
}

/** The IDX files one by one, and plain safetensors files. */
export async function filesExample(dir: string): Promise<DecodedSafetensors> {
  const path = findIdxFile(dir, 'testImages'); // tries IDX_FILE_STEMS.testImages, with and without .gz
  console.log(IDX_FILE_STEMS.testImages, readMaybeGzip(path).length);
  const images = readIdxImagesFile(path);
  const labels = readIdxLabelsFile(findIdxFile(dir, 'testLabels'));
  const pair = readIdxPair(path, findIdxFile(dir, 'testLabels')); // checked to match
  const test = loadIdxSplit(dir, 'test');
  await writeSafetensorsFile('pixels.safetensors', {
    pixels: { shape: [images.count, 784], data: pair.images },
    labels: { shape: [labels.count], data: Float32Array.from(test.labels) },
  });
  return readSafetensorsFile('pixels.safetensors');
}
