// Browser-safe data exports. Node-only helpers (file paths, zlib) are in ./idx-node.js.
export * from './rng.js';
export * from './idx.js';
export * from './embedded.js';
export * from './synthetic.js';
export * from './batches.js';
