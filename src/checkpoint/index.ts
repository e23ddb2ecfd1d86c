// Browser-safe checkpoint exports. The atomic Node file writer/reader is in ./file.js.
export * from './safetensors.js';
export * from './checkpoint.js';
export * from './source.js';
export { StrictJsonError, parseJsonStrict } from './json-strict.js';
export type { JsonObject, JsonValue } from './json-strict.js';
