// Node-only additions (file system): IDX files from a path, atomic checkpoint files.
export * from './index.js';
export * from './data/idx-node.js';
export * from './checkpoint/file.js';
