// CLI building blocks: PNG encoders, image grid + colour maps, progress line, argv parser, data
// and model choice.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, encodePng, type PngChannels } from '../src/image/png.js';
import { encodePngSync } from '../src/image/png-node.js';
import { colorize, colormapLut, imageGrid, NAN_MARKER, toByte } from '../src/image/grid.js';
import {
  createProgress,
  formatNumber,
  formatProgress,
  type ProgressStream,
} from '../src/cli/progress.js';
import { parseCliArgs, usage, type CliArgs } from '../src/cli/args.js';
import { defineCommand, parseCommand } from '../src/cli/flags.js';
import { datasetRoots, resolveDataSource } from '../src/cli/data.js';
import { modelConfig, type ModelChoice } from '../src/cli/model.js';
import { convVaePreset, resolveVaeConfig } from '../src/vae/config.js';
import { drawMasks } from '../src/cli/inpaint.js';
import { missingPixelBce } from '../src/vae/inpaint.js';
import { createRng } from '../src/data/rng.js';
import { freshSeed, makeRng } from './helpers/reference.js';

// ---- independent PNG reader ----

/** Bitwise CRC-32 (no table), independent of the encoder's. */
function crcRef(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk {
  type: string;
  data: Uint8Array;
}

function parseChunks(png: Uint8Array): Chunk[] {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let pos = 8;
  while (pos < png.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...png.subarray(pos + 4, pos + 8));
    const data = png.subarray(pos + 8, pos + 8 + len);
    const crc = view.getUint32(pos + 8 + len);
    expect(crc, `CRC of ${type}`).toBe(crcRef(png.subarray(pos + 4, pos + 8 + len)));
    chunks.push({ type, data });
    pos += 12 + len;
  }
  expect(pos).toBe(png.length);
  return chunks;
}

function decodePng(png: Uint8Array) {
  const chunks = parseChunks(png);
  expect(chunks[0]!.type).toBe('IHDR');
  expect(chunks.at(-1)!.type).toBe('IEND');
  expect(chunks.at(-1)!.data.length).toBe(0);
  const ihdr = chunks[0]!.data;
  expect(ihdr.length).toBe(13);
  const v = new DataView(ihdr.buffer, ihdr.byteOffset, 13);
  const width = v.getUint32(0);
  const height = v.getUint32(4);
  const [bitDepth, colorType, compression, filter, interlace] = [...ihdr.subarray(8)];
  expect([bitDepth, compression, filter, interlace]).toEqual([8, 0, 0, 0]);
  const channels = ({ 0: 1, 2: 3, 6: 4 } as Record<number, number>)[colorType!]!;
  const idat = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
  const raw = new Uint8Array(inflateSync(idat));
  const stride = width * channels;
  expect(raw.length).toBe(height * (stride + 1));
  const pixels = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0); // filter None
    pixels.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, channels, colorType, pixels };
}

/** Byte-exact comparison that reports the first difference (fast for large arrays). */
function expectBytes(got: Uint8Array, want: Uint8Array): void {
  expect(got.length).toBe(want.length);
  const i = got.findIndex((v, k) => v !== want[k]);
  expect(i, i < 0 ? '' : `first difference at byte ${i}: ${got[i]} vs ${want[i]}`).toBe(-1);
}

function randomBytes(rng: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng() * 256);
  return out;
}

/** Both encoders: CompressionStream (browsers and Node) and node:zlib (Node, synchronous). */
const ENCODERS: [string, (...a: Parameters<typeof encodePngSync>) => Promise<Uint8Array>][] = [
  ['encodePng', encodePng],
  ['encodePngSync', async (...a) => encodePngSync(...a)],
];

describe.each(ENCODERS)('PNG encoder (%s)', (_name, encode) => {
  const cases: [number, number, PngChannels][] = [
    [1, 1, 1],
    [1, 1, 3],
    [1, 1, 4],
    [7, 13, 1],
    [7, 13, 3],
    [13, 7, 4],
    [300, 5, 1],
    [300, 5, 3],
    [5, 300, 4],
  ];
  for (const [w, h, c] of cases) {
    it(`round-trips random ${w}x${h}x${c}`, async () => {
      const rng = makeRng(w * 1000 + h * 10 + c);
      const pixels = randomBytes(rng, w * h * c);
      const png = await encode(pixels, w, h, c);
      const back = decodePng(png);
      expect(back.width).toBe(w);
      expect(back.height).toBe(h);
      expect(back.channels).toBe(c);
      expect(back.colorType).toBe({ 1: 0, 3: 2, 4: 6 }[c]);
      expectBytes(back.pixels, pixels);
    });
  }

  it('compresses compressible images and round-trips them', async () => {
    const rng = makeRng(7);
    const w = 301;
    const h = 257;
    const pixels = new Uint8Array(w * h * 3);
    for (let i = 0; i < pixels.length; i++) {
      pixels[i] = (i % 97 < 40 ? 0 : (i * 31) % 251) ^ (rng() < 0.01 ? 0xff : 0);
    }
    const png = await encode(pixels, w, h, 3);
    expect(png.length).toBeLessThan(pixels.length / 2);
    expectBytes(decodePng(png).pixels, pixels);
    const flat = new Uint8Array(1000 * 300); // all zeros
    const flatPng = await encode(flat, 1000, 300, 1);
    expect(flatPng.length).toBeLessThan(2000);
    expectBytes(decodePng(flatPng).pixels, flat);
  });

  it('validates its arguments', async () => {
    await expect(encode(new Uint8Array(10), 2, 2, 3)).rejects.toThrow(
      /pixels has 10 bytes, expected 12 \(2 x 2 x 3 channels\)/,
    );
    await expect(encode(new Uint8Array(4), 0, 4, 1)).rejects.toThrow(/width must be an integer/);
    await expect(encode(new Uint8Array(4), 4, 1.5, 1)).rejects.toThrow(/height must be an integer/);
    await expect(encode(new Uint8Array(4), 2, 1, 2 as PngChannels)).rejects.toThrow(
      /channels must be 1, 3 or 4, got 2/,
    );
    await expect(encode([1] as unknown as Uint8Array, 1, 1, 1)).rejects.toThrow(/Uint8Array/);
  });
});

describe('PNG chunks', () => {
  it('crc32 matches a bitwise reference and the check value', () => {
    const data = randomBytes(makeRng(11), 20_000);
    expect(crc32(data)).toBe(crcRef(data));
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('both encoders write the same image', async () => {
    const pixels = randomBytes(makeRng(5), 17 * 9 * 4);
    const a = decodePng(await encodePng(pixels, 17, 9, 4));
    const b = decodePng(encodePngSync(pixels, 17, 9, 4));
    expectBytes(a.pixels, b.pixels);
    expect([a.width, a.height, a.colorType]).toEqual([b.width, b.height, b.colorType]);
  });
});

// ---- grid ----

describe('imageGrid', () => {
  /** Image i filled with a constant (i + 1) / 10. */
  function constantImages(n: number, h: number, w: number): Float32Array {
    const out = new Float32Array(n * h * w);
    for (let i = 0; i < n; i++) out.fill((i + 1) / 10, i * h * w, (i + 1) * h * w);
    return out;
  }

  it('places images row-major with padding around and between them', () => {
    const n = 5;
    const h = 3;
    const w = 4;
    const grid = imageGrid(constantImages(n, h, w), n, h, w, { columns: 3, padding: 1 });
    expect(grid.width).toBe(3 * 4 + 4 * 1);
    expect(grid.height).toBe(2 * 3 + 3 * 1);
    expect(grid.pixels.length).toBe(grid.width * grid.height);
    const at = (x: number, y: number) => grid.pixels[y * grid.width + x];
    for (let i = 0; i < n; i++) {
      const x0 = 1 + (i % 3) * (w + 1);
      const y0 = 1 + Math.floor(i / 3) * (h + 1);
      const v = Math.round(((i + 1) / 10) * 255);
      expect(at(x0, y0)).toBe(v);
      expect(at(x0 + w - 1, y0 + h - 1)).toBe(v);
      expect(at(x0 - 1, y0)).toBe(0); // padding left of it
      expect(at(x0 + w, y0 + h)).toBe(0); // padding after it
    }
    // The sixth cell is empty: background.
    expect(at(1 + 2 * (w + 1), 1 + h + 1)).toBe(0);
    // Exactly n * h * w non-background pixels.
    expect(grid.pixels.filter((p) => p !== 0).length).toBe(n * h * w);
  });

  it('keeps pixel order inside an image and uses ceil(sqrt(n)) columns by default', () => {
    const n = 10;
    const h = 2;
    const w = 3;
    const images = new Float32Array(n * h * w);
    for (let i = 0; i < images.length; i++) images[i] = (i % (h * w)) / 5;
    const grid = imageGrid(images, n, h, w);
    // 4 columns, 3 rows, padding 2.
    expect(grid.width).toBe(4 * 3 + 5 * 2);
    expect(grid.height).toBe(3 * 2 + 4 * 2);
    // Image 6: column 2, row 1.
    const x0 = 2 + 2 * (w + 2);
    const y0 = 2 + 1 * (h + 2);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        expect(grid.pixels[(y0 + y) * grid.width + x0 + x]).toBe(toByte((y * w + x) / 5));
      }
    }
  });

  it('narrows to n columns, padding 0 and a background', () => {
    const grid = imageGrid(constantImages(2, 2, 2), 2, 2, 2, {
      columns: 8,
      padding: 0,
      background: 1,
    });
    expect([grid.width, grid.height]).toEqual([4, 2]);
    const g2 = imageGrid(constantImages(1, 1, 1), 1, 1, 1, { padding: 3, background: 1 });
    expect([g2.width, g2.height]).toEqual([7, 7]);
    expect(g2.pixels.filter((p) => p === 255).length).toBe(48);
    expect(g2.pixels[3 * 7 + 3]).toBe(toByte(0.1));
  });

  it('clamps, rounds and marks NaN', () => {
    const values = new Float32Array([-1, 0, 0.5, 1, 2, NaN, Infinity, -Infinity, 1 / 255]);
    const grid = imageGrid(values, 1, 1, values.length, { padding: 0 });
    expect([...grid.pixels]).toEqual([0, 0, 128, 255, 255, NAN_MARKER, 255, 0, 1]);
    expect(NAN_MARKER).toBe(128);
    expect(() => imageGrid(values, 1, 1, values.length, { clamp: false })).toThrow(
      /image 0 pixel \(0, 0\) is -1, outside \[0, 1\]/,
    );
    // clamp: false still accepts in-range values and NaN.
    const ok = imageGrid(new Float32Array([0, NaN, 1]), 1, 1, 3, { clamp: false, padding: 0 });
    expect([...ok.pixels]).toEqual([0, NAN_MARKER, 255]);
  });

  it('validates its arguments', () => {
    expect(() => imageGrid(new Float32Array(10), 2, 2, 3)).toThrow(
      /images has 10 values, expected 12 \(2 images of 2 x 3\)/,
    );
    expect(() => imageGrid(new Float32Array(4), 0, 2, 2)).toThrow(/n must be a positive integer/);
    expect(() => imageGrid(new Float32Array(4), 1, 2, 2, { columns: 0 })).toThrow(/columns/);
    expect(() => imageGrid(new Float32Array(4), 1, 2, 2, { padding: -1 })).toThrow(/padding/);
    expect(() => imageGrid(new Float32Array(4), 1, 2, 2, { background: 2 })).toThrow(/background/);
  });
});

describe('colorize', () => {
  it('maps endpoints to the reference colours', () => {
    const ends = new Uint8Array([0, 255]);
    expect([...colorize(ends, 'gray')]).toEqual([0, 0, 0, 255, 255, 255]);
    expect([...colorize(ends, 'viridis')]).toEqual([68, 1, 84, 253, 231, 37]);
    expect([...colorize(ends, 'magma')]).toEqual([0, 0, 4, 252, 253, 191]);
    // viridis midpoint (#21918c at 0.5); 128/255 is a hair past it.
    const mid = colorize(new Uint8Array([128]), 'viridis');
    expect(Math.abs(mid[0]! - 0x21)).toBeLessThanOrEqual(2);
    expect(Math.abs(mid[1]! - 0x91)).toBeLessThanOrEqual(2);
    expect(Math.abs(mid[2]! - 0x8c)).toBeLessThanOrEqual(2);
  });

  it('is a per-pixel lookup, gray by default, and rejects unknown maps', () => {
    const gray = new Uint8Array([3, 200, 3]);
    const rgb = colorize(gray, 'magma');
    expect(rgb.length).toBe(9);
    expect([...rgb.subarray(0, 3)]).toEqual([...rgb.subarray(6, 9)]);
    expect([...rgb.subarray(3, 6)]).toEqual([...colormapLut('magma').subarray(600, 603)]);
    expect([...colorize(new Uint8Array([77]))]).toEqual([77, 77, 77]);
    // magma gets brighter monotonically in its summed channels at the ends
    const lut = colormapLut('magma');
    expect(lut[0]! + lut[1]! + lut[2]!).toBeLessThan(lut[765]! + lut[766]! + lut[767]!);
    expect(() => colorize(gray, 'jet' as 'gray')).toThrow(/unknown colormap 'jet'/);
  });

  it('feeds encodePng as RGB', async () => {
    const grid = imageGrid(new Float32Array([0, 0.5, 1, 0.25]), 1, 2, 2, { padding: 1 });
    const rgb = colorize(grid.pixels, 'viridis');
    const back = decodePng(await encodePng(rgb, grid.width, grid.height, 3));
    expectBytes(back.pixels, rgb);
  });
});

// ---- progress ----

function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { out: string } {
  const s = {
    out: '',
    isTTY,
    columns,
    write(chunk: string) {
      s.out += chunk;
      return true;
    },
  };
  return s;
}

describe('progress', () => {
  it('formats a line', () => {
    expect(
      formatProgress(
        { step: 212, epoch: 3, loss: 112.4321, stepsPerSecond: 41.27 },
        { total: 469, epochs: 10, width: 12 },
      ),
    ).toBe('epoch 3/10 [#####.......] 212/469  41.3 steps/s  loss 112.4');
    expect(formatProgress({ step: 0 }, { total: 4, label: 'eval', width: 4 })).toBe(
      'eval [....] 0/4',
    );
    expect(formatProgress({ step: 4, epoch: 2 }, { total: 4, width: 4 })).toBe(
      'epoch 2 [####] 4/4',
    );
    expect(formatNumber(0.0123456)).toBe('0.01235');
    expect(formatNumber(12345.6)).toBe('12350');
    expect(formatNumber(NaN)).toBe('NaN');
    expect(formatNumber(1e-9)).toBe('1.000e-9');
  });

  it('redraws one line on a TTY', () => {
    const stream = fakeStream(true);
    let t = 0;
    const p = createProgress({ total: 10, epochs: 2, stream, width: 10, now: () => t });
    p.update({ step: 1, epoch: 1, loss: 200, stepsPerSecond: 5 });
    t += 10;
    p.update({ step: 2, epoch: 1, loss: 190, stepsPerSecond: 5 }); // throttled (< 100 ms)
    t += 200;
    p.update({ step: 5, epoch: 1, loss: 150, stepsPerSecond: 5 });
    p.log('epoch 1 done');
    t += 200;
    p.done({ step: 10, epoch: 2, loss: 100, stepsPerSecond: 6 });
    p.update({ step: 3, epoch: 2 }); // ignored after done
    p.done();
    expect(stream.out).toBe(
      '\repoch 1/2 [#.........] 1/10  5.0 steps/s  loss 200\x1b[K' +
        '\repoch 1/2 [#####.....] 5/10  5.0 steps/s  loss 150\x1b[K' +
        '\r\x1b[Kepoch 1 done\n' +
        '\repoch 1/2 [#####.....] 5/10  5.0 steps/s  loss 150\x1b[K' +
        '\repoch 2/2 [##########] 10/10  6.0 steps/s  loss 100\x1b[K\n',
    );
    expect(stream.out).not.toContain('190');
  });

  it('cuts TTY lines to the terminal width', () => {
    const stream = fakeStream(true, 20);
    const p = createProgress({ total: 10, stream, now: () => 0 });
    p.update({ step: 3, loss: 1 });
    expect(stream.out).toBe(`\r${'[#######.'.padEnd(19, '.')}\x1b[K`);
  });

  it('prints plain throttled lines when not a TTY', () => {
    const stream = fakeStream(false);
    let t = 0;
    const p = createProgress({ total: 4, label: 'train', stream, width: 4, now: () => t });
    p.update({ step: 1, loss: 3 });
    t += 1000;
    p.update({ step: 2, loss: 2 }); // within 5 s: not printed
    t += 5000;
    p.update({ step: 3, loss: 1.5 });
    p.log('note');
    t += 100;
    p.update({ step: 4, loss: 1 });
    p.done();
    expect(stream.out).toBe(
      'train [#...] 1/4  loss 3\n' +
        'train [###.] 3/4  loss 1.5\n' +
        'note\n' +
        'train [####] 4/4  loss 1\n',
    );
    expect(stream.out).not.toContain('\r');
  });

  it('does not repeat the last line at done() when nothing changed', () => {
    const stream = fakeStream(false);
    const p = createProgress({ total: 2, stream, width: 2, now: () => 0 });
    p.update({ step: 2 });
    p.done();
    expect(stream.out).toBe('[##] 2/2\n');
    const tty = fakeStream(false);
    createProgress({ total: 2, stream: tty, tty: true, now: () => 0 }).done();
    expect(tty.out).toBe(''); // nothing drawn, nothing to end
  });

  it('rejects a bad total', () => {
    expect(() => createProgress({ total: -1, stream: fakeStream(false) })).toThrow(/total/);
  });
});

// ---- argv ----

function train(...args: string[]) {
  const r = parseCliArgs(['train', ...args]);
  if (r.command !== 'train') throw new Error(`expected train, got ${r.command}`);
  return r.options;
}

function parseError(argv: string[]): string {
  try {
    parseCliArgs(argv);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('parseCliArgs', () => {
  it('gives help for help, --help, -h, nothing and <command> --help', () => {
    const help: CliArgs = { command: 'help', options: { topic: undefined } };
    expect(parseCliArgs([])).toEqual(help);
    expect(parseCliArgs(['help'])).toEqual(help);
    expect(parseCliArgs(['--help'])).toEqual(help);
    expect(parseCliArgs(['-h'])).toEqual(help);
    expect(parseCliArgs(['help', 'eval'])).toEqual({ command: 'help', options: { topic: 'eval' } });
    expect(parseCliArgs(['train', '--epochs', '3', '--help'])).toEqual({
      command: 'help',
      options: { topic: 'train' },
    });
    expect(parseCliArgs(['sample', '-h'])).toEqual({
      command: 'help',
      options: { topic: 'sample' },
    });
    const text = usage();
    for (const word of ['train', 'eval', 'sample', 'help', 'Examples:', '<command> --help']) {
      expect(text).toContain(word);
    }
  });

  it('gives each command its own help with every flag, notes and examples', () => {
    const train = usage('train');
    expect(train).toMatch(/^Usage: webgpu-vae train \[options\]/);
    for (const word of ['--capacity-steps', '--config FILE', '--preset NAME', '--save-every N']) {
      expect(train).toContain(word);
    }
    expect(train).toContain('--latent N           latent dimensions, 1..256 (default 20)');
    expect(train).toMatch(/--dataset NAME +dataset by name: digits \| mnist \| fashion-mnist/);
    expect(train).toMatch(/\$WEBGPU_VAE_DATA\/<dataset>, .\/data\/<dataset> and ..\/shared\/data/);
    expect(train).toMatch(/Examples:\n {2}webgpu-vae train\n/);
    expect(usage('eval')).toMatch(
      /--k N +importance samples for log p\(x\), 1..5000 \(default 100\)/,
    );
    expect(usage('sample')).toContain('--temperature X');
    expect(usage('sample')).not.toContain('--k N');
    for (const line of usage('train').split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });

  it('fills train defaults', () => {
    expect(train()).toEqual({
      epochs: 10,
      batch: 128,
      // Unset: the resumed checkpoint's, else 1e-3 and constant (commands.ts).
      lr: undefined,
      preset: 'mlp',
      config: undefined,
      latent: 20,
      hidden: [400],
      activation: 'relu',
      likelihood: { kind: 'bernoulli' },
      posterior: { kind: 'diagonal' },
      objective: { kind: 'elbo' },
      condition: { kind: 'none' },
      prior: { kind: 'standard-normal' },
      masking: { kind: 'none' },
      beta: 1,
      capacity: undefined,
      schedule: undefined,
      dataset: undefined,
      data: undefined,
      binarize: 'none',
      seed: undefined,
      out: 'out',
      adapter: 'auto',
      resume: undefined,
      saveEvery: undefined,
      quiet: false,
      json: false,
      verbose: false,
    });
  });

  it('parses every train option', () => {
    expect(
      train(
        '--epochs=3',
        '--batch',
        '64',
        '--lr',
        '3e-4',
        '--latent',
        '2',
        '--hidden',
        '512,256',
        '--activation',
        'gelu',
        '--likelihood',
        'gaussian',
        '--sigma',
        '0.1',
        '--beta',
        '4',
        '--capacity-max',
        '25',
        '--capacity-steps',
        '10000',
        '--schedule',
        'step',
        '--step-size',
        '5',
        '--gamma',
        '0.5',
        '--dataset',
        'fashion-mnist',
        '--data',
        'data',
        '--binarize',
        'dynamic',
        '--posterior',
        'full',
        '--seed',
        '42',
        '--out',
        'runs/a',
        '--adapter',
        'llvmpipe',
        '--save-every',
        '500',
        '--quiet',
        '--json',
        '--verbose',
      ),
    ).toEqual({
      epochs: 3,
      batch: 64,
      lr: 3e-4,
      preset: 'mlp',
      config: undefined,
      latent: 2,
      hidden: [512, 256],
      activation: 'gelu',
      likelihood: { kind: 'gaussian', sigma: 0.1 },
      posterior: { kind: 'full' },
      objective: { kind: 'elbo' },
      condition: { kind: 'none' },
      prior: { kind: 'standard-normal' },
      masking: { kind: 'none' },
      beta: 4,
      capacity: { max: 25, steps: 10000 },
      schedule: { kind: 'step', stepSize: 5, gamma: 0.5 },
      dataset: 'fashion-mnist',
      data: 'data',
      binarize: 'dynamic',
      seed: 42,
      out: 'runs/a',
      adapter: 'llvmpipe',
      resume: undefined,
      saveEvery: 500,
      quiet: true,
      json: true,
      verbose: true,
    });
    expect(train('--resume', 'runs/a/last.safetensors').resume).toBe('runs/a/last.safetensors');
    expect(train('--config', 'model.json').config).toBe('model.json');
    expect(train('--preset', 'conv', '--latent', '8').preset).toBe('conv');
  });

  it('handles the smaller train variants', () => {
    expect(train('--likelihood', 'gaussian').likelihood).toEqual({ kind: 'gaussian', sigma: 1 });
    expect(train('--likelihood', 'gaussian-learned').likelihood).toEqual({
      kind: 'gaussian-learned',
    });
    expect(train('--schedule', 'cosine').schedule).toEqual({ kind: 'cosine' });
    expect(train('--schedule', 'constant').schedule).toEqual({ kind: 'constant' });
    expect(train('--schedule', 'step', '--step-size', '2').schedule).toEqual({
      kind: 'step',
      stepSize: 2,
      gamma: 0.1,
    });
    expect(train('--hidden', '').hidden).toEqual([]);
    expect(train('--hidden=none').hidden).toEqual([]);
    expect(train('--hidden', ' 32 , 16 ').hidden).toEqual([32, 16]);
    expect(train('--beta', '0').beta).toBe(0);
    expect(train('--capacity-max', '0', '--capacity-steps', '0').capacity).toEqual({
      max: 0,
      steps: 0,
    });
    expect(train('--epochs', '1e2').epochs).toBe(100);
    expect(train('--lr', '.5').lr).toBe(0.5);
    expect(train('--out=a=b').out).toBe('a=b');
    expect(train('--activation', 'leaky_relu').activation).toBe('leaky_relu');
    expect(train('--binarize', 'static').binarize).toBe('static');
    expect(train('--adapter', 'swiftshader').adapter).toBe('swiftshader');
    expect(train('--posterior', 'iaf').posterior).toEqual({ kind: 'iaf', steps: 4 });
    expect(train('--posterior', 'planar').posterior).toEqual({ kind: 'planar', steps: 8 });
    expect(train('--posterior', 'planar', '--flow-steps', '100').posterior).toEqual({
      kind: 'planar',
      steps: 100,
    });
    expect(train('--posterior', 'iaf', '--flow-steps', '2').posterior).toEqual({
      kind: 'iaf',
      steps: 2,
    });
  });

  it('parses eval with defaults and every option', () => {
    expect(parseCliArgs(['eval', '--checkpoint', 'm.safetensors'])).toEqual({
      command: 'eval',
      options: {
        checkpoint: 'm.safetensors',
        dataset: undefined,
        data: undefined,
        k: 100,
        batch: 128,
        adapter: 'auto',
        seed: undefined,
        limit: undefined,
        json: false,
        verbose: false,
      },
    });
    expect(
      parseCliArgs([
        'eval',
        '--checkpoint=c',
        '--data',
        'd',
        '--k',
        '5000',
        '--batch',
        '10',
        '--adapter',
        'gpu',
        '--seed',
        '0',
        '--limit',
        '1000',
        '--dataset',
        'mnist',
        '--json',
      ]),
    ).toEqual({
      command: 'eval',
      options: {
        checkpoint: 'c',
        dataset: 'mnist',
        data: 'd',
        k: 5000,
        batch: 10,
        adapter: 'gpu',
        seed: 0,
        limit: 1000,
        json: true,
        verbose: false,
      },
    });
  });

  it('parses sample with defaults and every option', () => {
    expect(parseCliArgs(['sample', '--checkpoint', 'c'])).toEqual({
      command: 'sample',
      options: {
        checkpoint: 'c',
        count: 64,
        out: 'out',
        seed: undefined,
        adapter: 'auto',
        temperature: 1,
        json: false,
        verbose: false,
      },
    });
    expect(
      parseCliArgs([
        'sample',
        '--checkpoint',
        'c',
        '--count',
        '16',
        '--out',
        'o',
        '--seed',
        '7',
        '--adapter',
        'swiftshader',
        '--temperature',
        '0.7',
        '--verbose',
      ]),
    ).toEqual({
      command: 'sample',
      options: {
        checkpoint: 'c',
        count: 16,
        out: 'o',
        seed: 7,
        adapter: 'swiftshader',
        temperature: 0.7,
        json: false,
        verbose: true,
      },
    });
  });

  it('names the command and suggests one for an unknown command', () => {
    expect(parseError(['trian'])).toBe("unknown command 'trian'; did you mean 'train'?");
    expect(parseError(['fit'])).toBe(
      "unknown command 'fit'; commands: train, train-prior, eval, sample, experiment, inpaint, complete, reconstruct, help",
    );
  });

  it('rejects unknown flags with a suggestion', () => {
    expect(parseError(['train', '--epoch', '3'])).toBe(
      'train: unknown flag --epoch; did you mean --epochs?',
    );
    expect(parseError(['train', '--laten', '3'])).toMatch(/did you mean --latent\?/);
    expect(parseError(['train', '--k', '3'])).toMatch(
      /^train: unknown flag --k \(it is an option of eval, experiment\)/,
    );
    expect(parseError(['eval', '--checkpont', 'c'])).toMatch(/did you mean --checkpoint\?/);
    expect(parseError(['sample', '--zzzzzzzz', '1'])).toMatch(
      /unknown flag --zzzzzzzz; known flags: --checkpoint, --count/,
    );
  });

  it('rejects missing values, stray arguments, repeats and valued switches', () => {
    expect(parseError(['train', '--epochs'])).toBe('train: --epochs is missing its value');
    expect(parseError(['train', '--epochs', '--batch', '3'])).toBe(
      'train: --epochs is missing its value',
    );
    expect(parseError(['train', '--data='])).toBe('train: --data needs a non-empty value');
    expect(parseError(['train', 'extra'])).toMatch(/train: unexpected argument 'extra'/);
    expect(parseError(['train', '--epochs', '2', '--epochs', '3'])).toBe(
      'train: --epochs is given more than once',
    );
    expect(parseError(['train', '--quiet=yes'])).toBe(
      'train: --quiet is a switch and takes no value',
    );
  });

  it('rejects non-numeric and out-of-range numbers', () => {
    expect(parseError(['train', '--epochs', 'ten'])).toBe(
      "train: --epochs must be an integer, got 'ten'",
    );
    expect(parseError(['train', '--epochs', '2.5'])).toBe(
      "train: --epochs must be an integer, got '2.5'",
    );
    expect(parseError(['train', '--lr', '0x10'])).toBe("train: --lr must be a number, got '0x10'");
    expect(parseError(['train', '--lr', '1e999'])).toBe(
      "train: --lr must be a finite number, got '1e999'",
    );
    expect(parseError(['train', '--epochs', '0'])).toBe('train: --epochs must be >= 1, got 0');
    expect(parseError(['train', '--lr', '0'])).toBe('train: --lr must be > 0, got 0');
    expect(parseError(['train', '--beta', '-1'])).toBe('train: --beta must be >= 0, got -1');
    expect(parseError(['train', '--latent', '300'])).toBe(
      'train: --latent must be >= 1 and <= 256, got 300',
    );
    expect(parseError(['train', '--batch', '0'])).toMatch(/--batch must be >= 1 and <= 65536/);
    expect(parseError(['train', '--likelihood', 'gaussian', '--sigma', '0'])).toBe(
      'train: --sigma must be > 0, got 0',
    );
    expect(parseError(['train', '--schedule', 'step', '--step-size', '1', '--gamma', '2'])).toBe(
      'train: --gamma must be > 0 and <= 1, got 2',
    );
    expect(parseError(['train', '--seed', '-3'])).toMatch(/--seed must be >= 0 and <= 4294967295/);
    expect(parseError(['eval', '--checkpoint', 'c', '--k', '5001'])).toBe(
      'eval: --k must be >= 1 and <= 5000, got 5001',
    );
    expect(parseError(['eval', '--checkpoint', 'c', '--limit', '0'])).toBe(
      'eval: --limit must be >= 1, got 0',
    );
    expect(parseError(['sample', '--checkpoint', 'c', '--count', 'x'])).toBe(
      "sample: --count must be an integer, got 'x'",
    );
    expect(parseError(['sample', '--checkpoint', 'c', '--temperature', '-1'])).toBe(
      'sample: --temperature must be >= 0, got -1',
    );
  });

  it('rejects a bad hidden list', () => {
    for (const bad of ['512,', '0', 'a,b', '1.5', '100000']) {
      expect(parseError(['train', '--hidden', bad])).toMatch(
        /^train: --hidden must be a comma-separated list of integers in 1\.\.65536/,
      );
    }
  });

  it('lists the allowed values of enum flags', () => {
    expect(parseError(['train', '--likelihood', 'bernouli'])).toBe(
      "train: --likelihood must be one of bernoulli, gaussian, gaussian-learned; got 'bernouli' (did you mean 'bernoulli'?)",
    );
    expect(parseError(['train', '--activation', 'swish'])).toMatch(
      /--activation must be one of identity, relu, leaky_relu, elu, tanh, sigmoid, softplus, gelu; got 'swish'/,
    );
    expect(parseError(['train', '--schedule', 'linear'])).toMatch(
      /--schedule must be one of constant, step, cosine; got 'linear'/,
    );
    expect(parseError(['train', '--binarize', 'yes'])).toMatch(
      /--binarize must be one of none, static, dynamic; got 'yes'/,
    );
    expect(parseError(['sample', '--checkpoint', 'c', '--adapter', 'cpu'])).toMatch(
      /--adapter must be one of auto, gpu, llvmpipe, swiftshader; got 'cpu'/,
    );
  });

  it('checks flags that depend on each other', () => {
    expect(parseError(['train', '--sigma', '0.5'])).toBe(
      'train: --sigma applies only to --likelihood gaussian (got --likelihood bernoulli)',
    );
    expect(parseError(['train', '--likelihood', 'gaussian-learned', '--sigma', '1'])).toMatch(
      /--sigma applies only to --likelihood gaussian/,
    );
    expect(parseError(['train', '--capacity-max', '25'])).toBe(
      'train: --capacity-max needs --capacity-steps too (give both or neither)',
    );
    expect(parseError(['train', '--capacity-steps', '100'])).toBe(
      'train: --capacity-steps needs --capacity-max too (give both or neither)',
    );
    expect(parseError(['train', '--schedule', 'step'])).toBe(
      'train: --schedule step needs --step-size N (epochs between lr decays)',
    );
    expect(parseError(['train', '--gamma', '0.5'])).toBe(
      'train: --gamma applies only to --schedule step (give --schedule step with it, also with --resume)',
    );
    expect(parseError(['train', '--schedule', 'cosine', '--step-size', '3'])).toBe(
      'train: --step-size applies only to --schedule step (got --schedule cosine)',
    );
    expect(parseError(['train', '--posterior', 'full', '--flow-steps', '3'])).toBe(
      'train: --flow-steps applies only to the flows, --posterior planar or iaf (got --posterior full)',
    );
    expect(parseError(['train', '--posterior', 'iaf', '--flow-steps', '65'])).toBe(
      'train: --flow-steps must be <= 64 for --posterior iaf, got 65',
    );
    expect(parseError(['train', '--posterior', 'planar', '--flow-steps', '257'])).toMatch(
      /--flow-steps must be >= 1 and <= 256/,
    );
  });

  it('checks the model and data choices against each other', () => {
    expect(parseError(['train', '--config', 'm.json', '--latent', '4'])).toBe(
      'train: --latent cannot be combined with --config (m.json describes the whole model)',
    );
    expect(parseError(['train', '--config', 'm.json', '--preset', 'conv'])).toMatch(
      /--preset cannot be combined with --config/,
    );
    expect(parseError(['train', '--resume', 'c.safetensors', '--hidden', '8'])).toBe(
      'train: --hidden cannot be combined with --resume (the checkpoint sets the model)',
    );
    expect(parseError(['train', '--resume', 'c.safetensors', '--config', 'm.json'])).toMatch(
      /--config cannot be combined with --resume/,
    );
    expect(parseError(['train', '--preset', 'conv', '--hidden', '8'])).toMatch(
      /^train: --hidden applies only to --preset mlp .*use --config for other shapes/,
    );
    expect(parseError(['train', '--preset', 'cnn'])).toBe(
      "train: --preset must be one of mlp, conv; got 'cnn' (did you mean 'conv'?)",
    );
    expect(parseError(['train', '--dataset', 'fashion'])).toMatch(
      /--dataset must be one of digits, mnist, fashion-mnist; got 'fashion' \(did you mean 'fashion-mnist'\?\)/,
    );
    expect(parseError(['train', '--dataset', 'digits', '--data', 'd'])).toBe(
      'train: --data cannot be combined with --dataset digits (the digits are embedded)',
    );
    expect(parseError(['train', '--save-every', '0'])).toBe(
      'train: --save-every must be >= 1, got 0',
    );
    // The model flags stay usable with the presets and their defaults.
    expect(train('--preset', 'conv', '--likelihood', 'gaussian', '--beta', '2').likelihood).toEqual(
      { kind: 'gaussian', sigma: 1 },
    );
  });

  it('requires --checkpoint for eval and sample', () => {
    expect(parseError(['eval'])).toBe('eval: --checkpoint FILE is required');
    expect(parseError(['sample', '--count', '4'])).toBe('sample: --checkpoint FILE is required');
  });
});

describe('declaring commands as data', () => {
  // A command the lead may add (flags like --objective iwae --samples K): one table, one build.
  const experiment = defineCommand({
    name: 'experiment',
    summary: 'run an experiment',
    examples: ['webgpu-vae experiment --objective iwae --samples 5'],
    flags: {
      objective: { kind: 'choice', values: ['elbo', 'iwae'], default: 'elbo', help: 'objective' },
      samples: { kind: 'int', min: 1, max: 64, help: 'importance samples' },
      label: { kind: 'int', min: 0, max: 9, help: 'digit to condition on' },
      help: { kind: 'switch', help: 'help' },
    },
    build(v, { given, error }) {
      if (v.objective === 'elbo' && given.has('samples')) {
        throw error('--samples applies only to --objective iwae');
      }
      // The values are typed from the table: objective is 'elbo' | 'iwae', samples number | undefined.
      const objective: 'elbo' | 'iwae' = v.objective;
      return { objective, samples: v.samples ?? 1, label: v.label };
    },
  });

  it('parses, types and checks the declared flags', () => {
    expect(parseCommand(experiment, ['--objective', 'iwae', '--samples=5'])).toEqual({
      help: false,
      options: { objective: 'iwae', samples: 5, label: undefined },
    });
    expect(parseCommand(experiment, ['-h'])).toEqual({ help: true });
    expect(() => parseCommand(experiment, ['--samples', '5'])).toThrow(
      'experiment: --samples applies only to --objective iwae',
    );
    expect(() => parseCommand(experiment, ['--label', '10'])).toThrow(
      'experiment: --label must be >= 0 and <= 9, got 10',
    );
    expect(() => parseCommand(experiment, ['--sample', '3'])).toThrow(
      'experiment: unknown flag --sample; did you mean --samples?',
    );
    expect(() => parseCommand(experiment, ['-x'])).toThrow(/experiment: unknown flag -x/);
    expect(() => parseCommand(experiment, ['--', 'a'])).toThrow(
      "experiment: unexpected argument '--'",
    );
  });
});

describe('--dataset and --data', () => {
  const root = mkdtempSync(join(tmpdir(), 'webgpu-vae-data-'));
  mkdirSync(join(root, 'env', 'mnist'), { recursive: true });
  mkdirSync(join(root, 'env', 'fashion-mnist'), { recursive: true });
  mkdirSync(join(root, 'files'), { recursive: true });
  const env = { WEBGPU_VAE_DATA: join(root, 'env') };

  it('uses the embedded digits by default and for --dataset digits', () => {
    expect(resolveDataSource(undefined, undefined, env)).toEqual({ kind: 'embedded' });
    expect(resolveDataSource('digits', undefined, env)).toEqual({ kind: 'embedded' });
  });

  it('reads --data DIR itself, or DIR/<dataset> when that exists', () => {
    const files = join(root, 'files');
    expect(resolveDataSource(undefined, files, env)).toEqual({
      kind: 'idx',
      dir: files,
      name: undefined,
    });
    expect(resolveDataSource('mnist', files, env)).toEqual({
      kind: 'idx',
      dir: files,
      name: 'mnist',
    });
    expect(resolveDataSource('mnist', join(root, 'env'), {})).toEqual({
      kind: 'idx',
      dir: join(root, 'env', 'mnist'),
      name: 'mnist',
    });
  });

  it('finds --dataset NAME under $WEBGPU_VAE_DATA first, and names every folder tried', () => {
    expect(resolveDataSource('fashion-mnist', undefined, env, root)).toEqual({
      kind: 'idx',
      dir: join(root, 'env', 'fashion-mnist'),
      name: 'fashion-mnist',
    });
    expect(datasetRoots(env)).toEqual([join(root, 'env'), 'data', join('..', 'shared', 'data')]);
    const empty = { WEBGPU_VAE_DATA: join(root, 'files') };
    expect(() => resolveDataSource('fashion-mnist', undefined, empty, join(root, 'files'))).toThrow(
      `--dataset fashion-mnist: no folder with its IDX files; tried ${join(root, 'files', 'fashion-mnist')}, ` +
        `${join(root, 'files', 'data', 'fashion-mnist')}, ${join(root, 'shared', 'data', 'fashion-mnist')}.`,
    );
    // Relative roots are the working directory's: ./data, then ../shared/data.
    mkdirSync(join(root, 'shared', 'data', 'mnist'), { recursive: true });
    expect(resolveDataSource('mnist', undefined, {}, join(root, 'files'))).toEqual({
      kind: 'idx',
      dir: join(root, 'shared', 'data', 'mnist'),
      name: 'mnist',
    });
  });
});

describe('masking flags', () => {
  it('train --mask builds the masking choice; its flags need --mask and name the mistake', () => {
    expect(train('--mask', 'pixels', '--mask-p', '0.3', '--mask-channels').masking).toEqual({
      kind: 'pixels',
      p: 0.3,
      channels: true,
      loss: 'all',
    });
    expect(train('--mask', 'quadrant', '--mask-loss', 'missing').masking).toEqual({
      kind: 'quadrant',
      p: 0.5,
      channels: false,
      loss: 'missing',
    });
    expect(parseError(['train', '--mask-p', '0.3'])).toMatch(/--mask-p applies only with --mask/);
    expect(parseError(['train', '--mask', 'block', '--mask-p', '0.3'])).toMatch(
      /--mask-p applies only to --mask pixels \(got --mask block\)/,
    );
    expect(parseError(['train', '--mask', 'quadrants'])).toMatch(/--mask/);
    expect(parseError(['train', '--config', 'm.json', '--mask', 'block'])).toMatch(
      /--mask cannot be combined with --config/,
    );
  });

  it('train --condition quadrants: --observed, --prior conditional, --prior-hidden and their mistakes', () => {
    expect(
      train('--condition', 'quadrants', '--observed', '2', '--prior', 'conditional'),
    ).toMatchObject({
      condition: { kind: 'quadrants', observed: 2 },
      prior: { kind: 'conditional', hidden: [500, 500] },
    });
    expect(
      train('--condition', 'label', '--prior', 'conditional', '--prior-hidden', 'none').prior,
    ).toEqual({ kind: 'conditional', hidden: [] });
    expect(train('--condition', 'quadrants', '--observed', '3').prior).toEqual({
      kind: 'standard-normal',
    });
    expect(parseError(['train', '--condition', 'quadrants'])).toMatch(
      /--condition quadrants needs --observed 1, 2 or 3/,
    );
    expect(parseError(['train', '--condition', 'quadrants', '--observed', '4'])).toMatch(
      /--observed must be >= 1 and <= 3, got 4/,
    );
    expect(parseError(['train', '--observed', '1'])).toMatch(
      /--observed applies only to --condition quadrants/,
    );
    expect(
      parseError([
        'train',
        '--condition',
        'quadrants',
        '--observed',
        '1',
        '--likelihood',
        'gaussian',
      ]),
    ).toMatch(/--condition quadrants scores the missing pixels with --likelihood bernoulli/);
    expect(parseError(['train', '--prior', 'conditional'])).toMatch(
      /--prior conditional reads the condition: give --condition quadrants or label/,
    );
    expect(parseError(['train', '--prior-hidden', '8'])).toMatch(
      /--prior-hidden applies only to --prior conditional/,
    );
    expect(
      parseError([
        'train',
        '--condition',
        'label',
        '--prior',
        'conditional',
        '--prior-hidden',
        'x',
      ]),
    ).toMatch(/--prior-hidden must be a comma-separated list of integers/);
    expect(
      parseError(['train', '--config', 'm.json', '--condition', 'label', '--prior', 'conditional']),
    ).toMatch(/cannot be combined with --config/);
  });

  it('complete parses its flags', () => {
    const r = parseCliArgs(['complete', '--checkpoint', 'm.safetensors', '--out', 'c.png']);
    expect(r.command === 'complete' && r.options).toMatchObject({
      checkpoint: 'm.safetensors',
      count: 8,
      draws: 1,
      seed: 0,
      out: 'c.png',
    });
    expect(parseError(['complete', '--out', 'c.png'])).toMatch(/--checkpoint/);
    expect(parseError(['complete', '--checkpoint', 'm', '--draws', '17'])).toMatch(/--draws/);
  });

  it('inpaint parses its flags and names the mistakes', () => {
    const r = parseCliArgs([
      'inpaint',
      '--checkpoint',
      'm.safetensors',
      '--mask',
      'pixels',
      '--p',
      '0.8',
    ]);
    expect(r.command === 'inpaint' && r.options).toMatchObject({
      checkpoint: 'm.safetensors',
      mask: 'pixels',
      p: 0.8,
      count: 8,
      iterations: 20,
    });
    expect(parseError(['inpaint', '--mask', 'block'])).toMatch(/--checkpoint/);
    expect(parseError(['inpaint', '--checkpoint', 'm', '--p', '0.2'])).toMatch(
      /--p applies only to --mask pixels \(got --mask quadrant\)/,
    );
    expect(parseError(['inpaint', '--checkpoint', 'm', '--iterations', '-1'])).toMatch(
      /--iterations/,
    );
  });

  it('draws quadrants, blocks of a quarter to half the side, and pixel dropout', () => {
    const rng = createRng(freshSeed());
    const side = 9;
    const q = drawMasks('quadrant', 200, side, 0.5, rng);
    const b = drawMasks('block', 200, side, 0.5, rng);
    for (let r = 0; r < 200; r++) {
      const count = (m: Float32Array) =>
        m.subarray(r * 81, (r + 1) * 81).reduce((s, v) => s + v, 0);
      // Quadrants of a 9×9 image: 4·4, 4·5, 5·4 or 5·5 pixels.
      expect([16, 20, 25]).toContain(count(q));
      const n = count(b);
      expect(n >= 4 && n <= 25, `block of ${n} pixels`).toBe(true);
    }
    const p = drawMasks('pixels', 100, side, 0.3, rng);
    const frac = p.reduce((s, v) => s + v, 0) / p.length;
    // 8100 pixels: 5 standard deviations of the fraction are 0.025.
    expect(Math.abs(frac - 0.3)).toBeLessThan(0.026);
    expect(
      missingPixelBce(Float32Array.of(0.5, 0.9), Float32Array.of(1, 0), Float32Array.of(1, 0)),
    ).toBeCloseTo(Math.log(2), 12);
  });
});

describe('the model of train', () => {
  const choice: ModelChoice = {
    config: undefined,
    preset: 'mlp',
    latent: 3,
    hidden: [32, 16],
    activation: 'tanh',
    likelihood: { kind: 'bernoulli' },
    beta: 2,
    capacity: { max: 5, steps: 10 },
    posterior: { kind: 'diagonal' },
    objective: { kind: 'elbo' },
    condition: { kind: 'none' },
    prior: { kind: 'standard-normal' },
    masking: { kind: 'none' },
  };

  it('builds the MLP preset from the model flags (the decoder mirrors the encoder)', async () => {
    expect(await modelConfig(choice, 100)).toEqual({
      version: 2,
      inputSize: 100,
      latentSize: 3,
      encoder: { hidden: [32, 16], activation: 'tanh' },
      decoder: { hidden: [16, 32], activation: 'tanh' },
      likelihood: { kind: 'bernoulli' },
      posterior: { kind: 'diagonal' },
      objective: { kind: 'elbo', beta: 2, capacity: { max: 5, steps: 10 }, reduction: 'sum' },
      condition: { kind: 'none' },
    });
  });

  it('adds the masking section of --mask (blocks a quarter to half the side)', async () => {
    const block = await modelConfig(
      { ...choice, masking: { kind: 'block', p: 0.5, channels: true, loss: 'missing' } },
      784,
    );
    expect(block.masking).toEqual({
      kind: 'block',
      minSize: 7,
      maxSize: 14,
      fill: 0,
      channels: true,
      loss: 'missing',
    });
    const pixels = await modelConfig(
      { ...choice, masking: { kind: 'pixels', p: 0.25, channels: false, loss: 'all' } },
      784,
    );
    expect(pixels.masking).toEqual({
      kind: 'pixels',
      p: 0.25,
      fill: 0,
      channels: false,
      loss: 'all',
    });
  });

  it('builds the conv preset with the latent size and objective flags', async () => {
    const c = await modelConfig({ ...choice, preset: 'conv', capacity: undefined }, 784);
    expect(c).toEqual({
      ...convVaePreset(3),
      likelihood: { kind: 'bernoulli' },
      posterior: { kind: 'diagonal' },
      objective: { kind: 'elbo', beta: 2, reduction: 'sum' },
      condition: { kind: 'none' },
    });
    expect(c.encoder.conv).toHaveLength(2);
  });

  it('builds IWAE and conditional models from --objective, --samples and --condition', async () => {
    const c = await modelConfig(
      {
        ...choice,
        capacity: undefined,
        objective: { kind: 'iwae', samples: 7 },
        condition: { kind: 'label', classes: 10, inject: 'dense' },
      },
      784,
    );
    expect(c.objective).toEqual({ kind: 'iwae', samples: 7, reduction: 'sum' });
    expect(c.condition).toEqual({ kind: 'label', classes: 10, inject: 'dense' });
    expect(resolveVaeConfig(c).objective.kind).toBe('iwae');
  });

  it('builds the completion task from --condition quadrants and --prior conditional', async () => {
    const c = await modelConfig(
      {
        ...choice,
        capacity: undefined,
        condition: { kind: 'quadrants', observed: 1 },
        prior: { kind: 'conditional', hidden: [8] },
      },
      784,
    );
    expect(c.condition).toEqual({ kind: 'quadrants', observed: 1 });
    expect(c.prior).toEqual({ kind: 'conditional', hidden: [8], activation: 'tanh' });
    expect(resolveVaeConfig(c).condition).toEqual({ kind: 'quadrants', observed: 1, fill: -1 });
    expect(await modelConfig(choice, 784)).not.toHaveProperty('prior');
  });

  it('builds two stochastic layers from --posterior hierarchical and --latent', async () => {
    const c = await modelConfig({ ...choice, latent: 7, posterior: { kind: 'hierarchical' } }, 784);
    expect(c.posterior).toEqual({ kind: 'hierarchical', lower: 14, hidden: [7, 7] });
    expect(resolveVaeConfig(c).latentSize).toBe(7);
    const wide = await modelConfig(
      { ...choice, latent: 200, posterior: { kind: 'hierarchical' } },
      784,
    );
    expect(resolveVaeConfig(wide).posterior).toMatchObject({ lower: 256 });
  });

  it('builds the full-covariance posterior from --posterior full', async () => {
    const c = await modelConfig({ ...choice, posterior: { kind: 'full' } }, 784);
    expect(c.posterior).toEqual({ kind: 'full' });
    expect(resolveVaeConfig(c).posterior.kind).toBe('full');
    // latentSize 1 has no lower triangle: the model description says so.
    const one = await modelConfig({ ...choice, posterior: { kind: 'full' }, latent: 1 }, 784);
    expect(() => resolveVaeConfig(one)).toThrow(/posterior.*full.*latentSize >= 2/);
  });

  it('builds the inverse autoregressive flow from --posterior iaf and --flow-steps', async () => {
    const c = await modelConfig({ ...choice, posterior: { kind: 'iaf', steps: 6 } }, 784);
    expect(c.posterior).toEqual({ kind: 'iaf', steps: 6 });
    expect(resolveVaeConfig(c).posterior).toEqual({
      kind: 'iaf',
      steps: 6,
      hidden: [16],
      context: 3,
      activation: 'elu',
    });
  });

  it('reads --config as JSON and names the file in every error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-config-'));
    const good = { inputSize: 4, latentSize: 2, encoder: { hidden: [] }, decoder: { hidden: [] } };
    writeFileSync(join(dir, 'good.json'), JSON.stringify(good));
    writeFileSync(join(dir, 'bad.json'), '{ "inputSize": 4, "inputSize": 5 }');
    writeFileSync(join(dir, 'broken.json'), '{ "inputSize": 4,');
    writeFileSync(join(dir, 'invalid.json'), JSON.stringify({ ...good, latentSize: 0 }));
    expect(await modelConfig({ ...choice, config: join(dir, 'good.json') }, 784)).toEqual(good);
    await expect(modelConfig({ ...choice, config: join(dir, 'bad.json') }, 784)).rejects.toThrow(
      /^--config .*bad\.json: .*inputSize/,
    );
    await expect(modelConfig({ ...choice, config: join(dir, 'broken.json') }, 784)).rejects.toThrow(
      /^--config .*broken\.json: /,
    );
    await expect(
      modelConfig({ ...choice, config: join(dir, 'invalid.json') }, 784),
    ).rejects.toThrow(/^--config .*invalid\.json: .*latentSize/);
    await expect(modelConfig({ ...choice, config: join(dir, 'none.json') }, 784)).rejects.toThrow(
      /^--config .*none\.json: cannot read/,
    );
  });
});
