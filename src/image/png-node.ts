// The synchronous PNG encoder for Node: the same file as encodePng, compressed with node:zlib.
// Kept apart from png.ts so that browser bundles do not pull in node:zlib.
import { deflateSync } from 'node:zlib';
import { assemblePng, pngImage, type PngChannels } from './png.js';

/** Encodes 8-bit pixels as a PNG file, synchronously (see encodePng for the arguments). */
export function encodePngSync(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
): Uint8Array {
  const image = pngImage(pixels, width, height, channels);
  return assemblePng(image, deflateSync(image.scanlines));
}
