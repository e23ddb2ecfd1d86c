// A PNG encoder (8-bit grayscale / RGB / RGBA, filter None, no interlacing), browser-safe. The zlib
// stream comes from the platform rather than a hand-written deflate: CompressionStream('deflate')
// here (browsers and Node ≥ 18), node:zlib's deflateSync in png-node.ts (a synchronous variant for
// Node). Only the chunk CRC-32 is computed here, since browsers expose no CRC API.

/** Bytes per pixel: 1 grayscale, 3 RGB, 4 RGBA. */
export type PngChannels = 1 | 3 | 4;

const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG colour type for 1 (grayscale), 3 (RGB) and 4 (RGBA) channels. */
const COLOR_TYPE: Record<PngChannels, number> = { 1: 0, 3: 2, 4: 6 };

/** Largest width / height the PNG format allows (2^31 - 1). */
const PNG_MAX_DIM = 0x7fffffff;

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309, as PNG chunks use it) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function writeU32(out: Uint8Array, pos: number, v: number): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(pos, v);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  writeU32(out, 0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  writeU32(out, 8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > PNG_MAX_DIM) {
    throw new Error(`encodePng: ${name} must be an integer in 1..${PNG_MAX_DIM}, got ${v}`);
  }
}

/** What the encoders share: the checked image, its filtered rows, and the file around the IDAT. */
export interface PngImage {
  width: number;
  height: number;
  channels: PngChannels;
  /** Each row prefixed with its filter type (0, None): the bytes to zlib-compress. */
  scanlines: Uint8Array<ArrayBuffer>;
}

/**
 * Checks 8-bit pixels (row-major, `channels` interleaved bytes per pixel: 1 grayscale, 3 RGB,
 * 4 RGBA with straight alpha; length width * height * channels) and lays out their scanlines.
 */
export function pngImage(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
): PngImage {
  if (!(pixels instanceof Uint8Array)) {
    throw new Error('encodePng: pixels must be a Uint8Array (bytes 0..255)');
  }
  checkDim('width', width);
  checkDim('height', height);
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new Error(`encodePng: channels must be 1, 3 or 4, got ${String(channels)}`);
  }
  const expected = width * height * channels;
  if (pixels.length !== expected) {
    throw new Error(
      `encodePng: pixels has ${pixels.length} bytes, expected ${expected} ` +
        `(${width} x ${height} x ${channels} channel${channels === 1 ? '' : 's'})`,
    );
  }
  const stride = width * channels;
  const scanlines = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    scanlines.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return { width, height, channels, scanlines };
}

/** The PNG file: signature, IHDR, one IDAT holding `zlibData` (the compressed scanlines), IEND. */
export function assemblePng(image: PngImage, zlibData: Uint8Array): Uint8Array {
  const ihdr = new Uint8Array(13);
  writeU32(ihdr, 0, image.width);
  writeU32(ihdr, 4, image.height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[image.channels];
  // bytes 10..12: compression deflate, filter method 0, no interlace (all 0)
  const parts = [
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibData),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/**
 * Encodes 8-bit pixels as a PNG file (see pngImage for the layout), compressing with the
 * platform's CompressionStream (browsers, Node ≥ 18). In Node, encodePngSync (webgpu-vae/node)
 * does the same synchronously with node:zlib.
 */
export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
): Promise<Uint8Array> {
  const image = pngImage(pixels, width, height, channels);
  if (typeof CompressionStream === 'undefined') {
    throw new Error('encodePng: CompressionStream is not available in this environment');
  }
  const stream = new Blob([image.scanlines]).stream().pipeThrough(new CompressionStream('deflate'));
  return assemblePng(image, new Uint8Array(await new Response(stream).arrayBuffer()));
}
