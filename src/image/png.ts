// A small, dependency-free PNG encoder (8-bit grayscale / RGB / RGBA, no interlacing), browser-safe:
// CRC-32, Adler-32 and the zlib/deflate stream are written here. Every row uses filter type 0
// (None); the deflate stream is fixed-Huffman with a simple LZ77 matcher, or stored (uncompressed)
// blocks whenever those come out smaller (e.g. noise).

export type PngChannels = 1 | 3 | 4;

const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG colour type for 1 (grayscale), 3 (RGB) and 4 (RGBA) channels. */
const COLOR_TYPE: Record<PngChannels, number> = { 1: 0, 3: 2, 4: 6 };

/** Largest width / height the PNG format allows (2^31 - 1). */
const PNG_MAX_DIM = 0x7fffffff;

// ---- checksums ----

let crcTable: Uint32Array | undefined;

function getCrcTable(): Uint32Array {
  if (crcTable) return crcTable;
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  crcTable = table;
  return table;
}

/** CRC-32 (ISO 3309 / PNG / zlib's crc32) of `bytes`, continuing from `crc` (default: a fresh one). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const table = getCrcTable();
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Adler-32 (the zlib stream checksum) of `bytes`. */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  const NMAX = 5552; // largest block for which the sums cannot overflow 2^32 before the modulo
  for (let i = 0; i < bytes.length;) {
    const end = Math.min(bytes.length, i + NMAX);
    for (; i < end; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

// ---- deflate ----

/** Growable byte buffer with an LSB-first bit writer (the deflate bit order). */
class BitWriter {
  private buf: Uint8Array;
  private pos = 0;
  private bitBuf = 0;
  private bitCount = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Appends the low `n` (≤ 24) bits of `value`, least significant first. */
  bits(value: number, n: number): void {
    this.bitBuf |= (value & ((1 << n) - 1)) << this.bitCount;
    this.bitCount += n;
    if (this.bitCount >= 8) {
      this.ensure(4);
      while (this.bitCount >= 8) {
        this.buf[this.pos++] = this.bitBuf & 0xff;
        this.bitBuf >>>= 8;
        this.bitCount -= 8;
      }
    }
  }

  /** Pads to a byte boundary with zero bits. */
  align(): void {
    if (this.bitCount > 0) this.bits(0, 8 - this.bitCount);
  }

  /** Appends whole bytes (the writer must be byte-aligned). */
  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  get length(): number {
    return this.pos + Math.ceil(this.bitCount / 8);
  }

  finish(): Uint8Array {
    this.align();
    return this.buf.slice(0, this.pos);
  }
}

function reverseBits(code: number, n: number): number {
  let r = 0;
  for (let i = 0; i < n; i++) {
    r = (r << 1) | (code & 1);
    code >>>= 1;
  }
  return r;
}

// Fixed Huffman literal/length code (RFC 1951, 3.2.6), stored bit-reversed for the LSB-first writer.
let fixedLitCodes: Uint16Array | undefined;
let fixedLitLens: Uint8Array | undefined;

function fixedLiteralTables(): { codes: Uint16Array; lens: Uint8Array } {
  if (!fixedLitCodes || !fixedLitLens) {
    const codes = new Uint16Array(288);
    const lens = new Uint8Array(288);
    for (let v = 0; v < 288; v++) {
      let code: number;
      let len: number;
      if (v < 144) [code, len] = [0x30 + v, 8];
      else if (v < 256) [code, len] = [0x190 + v - 144, 9];
      else if (v < 280) [code, len] = [v - 256, 7];
      else [code, len] = [0xc0 + v - 280, 8];
      codes[v] = reverseBits(code, len);
      lens[v] = len;
    }
    fixedLitCodes = codes;
    fixedLitLens = lens;
  }
  return { codes: fixedLitCodes, lens: fixedLitLens };
}

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
  163, 195, 227, 258,
];
const LENGTH_EXTRA = [
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];

/** Largest index i with table[i] <= value (table ascending, table[0] <= value). */
function bucket(table: readonly number[], value: number): number {
  let lo = 0;
  let hi = table.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (table[mid]! <= value) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const WINDOW = 32768;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
const HASH_BITS = 15;
const MAX_CHAIN = 32;

/** Raw deflate (RFC 1951) as one fixed-Huffman block, with greedy hash-chain LZ77 matching. */
function deflateFixed(data: Uint8Array): Uint8Array {
  const { codes, lens } = fixedLiteralTables();
  const out = new BitWriter(data.length / 2 + 16);
  out.bits(1, 1); // BFINAL
  out.bits(1, 2); // BTYPE = 01 (fixed Huffman)
  const n = data.length;
  const head = new Int32Array(1 << HASH_BITS).fill(-1);
  const prev = new Int32Array(Math.min(n, WINDOW));
  const hashAt = (i: number) =>
    (((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!) * 2654435761) >>> (32 - HASH_BITS);
  const insert = (i: number) => {
    if (i + MIN_MATCH > n) return;
    const h = hashAt(i);
    prev[i % WINDOW] = head[h]!;
    head[h] = i;
  };
  const literal = (v: number) => out.bits(codes[v]!, lens[v]!);

  let i = 0;
  while (i < n) {
    let bestLen = 0;
    let bestDist = 0;
    if (i + MIN_MATCH <= n) {
      const maxLen = Math.min(MAX_MATCH, n - i);
      let cand = head[hashAt(i)]!;
      for (let chain = 0; cand >= 0 && i - cand <= WINDOW && chain < MAX_CHAIN; chain++) {
        if (data[cand + bestLen] === data[i + bestLen]) {
          let len = 0;
          while (len < maxLen && data[cand + len] === data[i + len]) len++;
          if (len > bestLen) {
            bestLen = len;
            bestDist = i - cand;
            if (len === maxLen) break;
          }
        }
        const next = prev[cand % WINDOW]!;
        if (next >= cand) break; // stale entry from an overwritten window slot
        cand = next;
      }
    }
    if (bestLen >= MIN_MATCH) {
      const lc = bucket(LENGTH_BASE, bestLen);
      literal(257 + lc);
      if (LENGTH_EXTRA[lc]! > 0) out.bits(bestLen - LENGTH_BASE[lc]!, LENGTH_EXTRA[lc]!);
      const dc = bucket(DIST_BASE, bestDist);
      out.bits(reverseBits(dc, 5), 5);
      if (DIST_EXTRA[dc]! > 0) out.bits(bestDist - DIST_BASE[dc]!, DIST_EXTRA[dc]!);
      for (let k = 0; k < bestLen; k++) insert(i + k);
      i += bestLen;
    } else {
      literal(data[i]!);
      insert(i);
      i++;
    }
  }
  literal(256); // end of block
  return out.finish();
}

/** Raw deflate (RFC 1951) as stored (uncompressed) blocks of at most 65535 bytes. */
function deflateStored(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(data.length + 5 * blocks);
  let pos = 0;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, data.length - start);
    out[pos++] = b === blocks - 1 ? 1 : 0; // BFINAL, BTYPE = 00, padding bits
    out[pos++] = len & 0xff;
    out[pos++] = len >>> 8;
    out[pos++] = ~len & 0xff;
    out[pos++] = (~len >>> 8) & 0xff;
    out.set(data.subarray(start, start + len), pos);
    pos += len;
  }
  return out;
}

/**
 * A zlib stream (RFC 1950) of `data`: fixed-Huffman deflate, or stored blocks when smaller.
 * `inflate` (Node's zlib.inflateSync, browsers' DecompressionStream('deflate')) reads it back.
 */
export function zlibCompress(data: Uint8Array): Uint8Array {
  const fixed = deflateFixed(data);
  const body = fixed.length <= data.length + 5 * Math.ceil(data.length / 65535) ? fixed : null;
  const raw = body ?? deflateStored(data);
  const out = new Uint8Array(raw.length + 6);
  out[0] = 0x78; // CM = 8 (deflate), CINFO = 7 (32 KiB window)
  out[1] = 0x01; // FCHECK: (0x78 << 8 | 0x01) % 31 == 0, no dictionary, FLEVEL 0
  out.set(raw, 2);
  const adler = adler32(data);
  const end = raw.length + 2;
  out[end] = adler >>> 24;
  out[end + 1] = (adler >>> 16) & 0xff;
  out[end + 2] = (adler >>> 8) & 0xff;
  out[end + 3] = adler & 0xff;
  return out;
}

// ---- PNG ----

function writeU32(out: Uint8Array, pos: number, v: number): void {
  out[pos] = v >>> 24;
  out[pos + 1] = (v >>> 16) & 0xff;
  out[pos + 2] = (v >>> 8) & 0xff;
  out[pos + 3] = v & 0xff;
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

/**
 * Encodes 8-bit pixels as a PNG file. `pixels` is row-major, `channels` interleaved bytes per
 * pixel: 1 grayscale, 3 RGB, 4 RGBA (straight alpha), length width * height * channels.
 */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: PngChannels,
): Uint8Array {
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

  const ihdr = new Uint8Array(13);
  writeU32(ihdr, 0, width);
  writeU32(ihdr, 4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels];
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace

  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type None
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }

  const parts = [
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibCompress(raw)),
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
