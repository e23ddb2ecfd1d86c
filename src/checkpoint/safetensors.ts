// safetensors (https://github.com/huggingface/safetensors) encoding and decoding on Uint8Array,
// so that it works in browsers and in Node alike (the atomic Node file writer is in file.ts).
//
// Layout:
//   bytes 0..8      N, the header length, unsigned 64-bit little-endian
//   bytes 8..8+N    the header: UTF-8 JSON object, padded at the end with spaces (0x20)
//                   {"__metadata__": {"key": "value", ...},            (optional, strings only)
//                    "encoder.0.weight": {"dtype": "F32", "shape": [256, 784],
//                                         "data_offsets": [begin, end]}, ...}
//   bytes 8+N..     the data buffer; offsets are relative to its start; tensors are row-major,
//                   little-endian, contiguous: sorted by offset they tile the buffer exactly,
//                   with no holes, overlaps or trailing bytes.
//
// This writer pads the header to a multiple of 8 bytes (so the data buffer, and each F32 tensor,
// is aligned), writes "__metadata__" first when there is metadata, and keeps the tensors in the
// order given. It writes F32 only; the reader knows every dtype of the spec (so that layouts are
// validated in full) and decodes F32, F16 and BF16 (widened to float32).

import { StrictJsonError, parseJsonStrict } from './json-strict.js';
import type { JsonObject, JsonValue } from './json-strict.js';

/** The dtypes of the safetensors spec with their sizes in bytes. */
export const SAFETENSORS_DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;
/**
 * A dtype of the safetensors spec: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32,
 * F32, F64, I64 or U64. decodeSafetensors reads F32, F16 and BF16 tensors (as float32).
 */
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES;

/** Headers longer than this are refused (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** A float32 tensor: row-major data of product(shape) elements. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** A tensor to write; `data` is read only when the tensor's bytes are written. */
export interface TensorInput {
  shape: readonly number[];
  data: Float32Array;
}

/** Named tensors to write: a Map, a plain object, or [name, tensor] pairs (in file order). */
export type TensorsInput =
  | ReadonlyMap<string, TensorInput>
  | Readonly<Record<string, TensorInput>>
  | Iterable<readonly [string, TensorInput]>;

/** A safetensors file that cannot be used; the message names the source and the problem. */
export class SafetensorsError extends Error {
  constructor(
    readonly source: string,
    problem: string,
  ) {
    super(`${source}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

/** One tensor's place in the data buffer. */
export interface TensorLayout {
  /** The tensor's name in the file. */
  name: string;
  /** Its element type. */
  dtype: SafetensorsDtype;
  /** Its shape ([] for a scalar). */
  shape: number[];
  /** Byte offsets relative to the data buffer, [begin, end). */
  begin: number;
  /** The byte offset after the tensor's last byte, relative to the data buffer. */
  end: number;
}

/** Everything a writer needs before touching tensor data. */
export interface SafetensorsPlan {
  /** The 8-byte length prefix followed by the padded JSON header. */
  header: Uint8Array;
  /** Tensors in file order. */
  tensors: TensorLayout[];
  /** Size of the data buffer. */
  dataBytes: number;
  /** header.length + dataBytes. */
  totalBytes: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Normalizes any accepted tensor collection to [name, tensor] pairs in order. */
export function tensorEntries<T>(
  tensors: ReadonlyMap<string, T> | Readonly<Record<string, T>> | Iterable<readonly [string, T]>,
): [string, T][] {
  if (tensors instanceof Map) return [...(tensors as ReadonlyMap<string, T>).entries()];
  if (Symbol.iterator in (tensors as object)) {
    return [...(tensors as Iterable<readonly [string, T]>)].map(([k, v]) => [k, v]);
  }
  return Object.entries(tensors as Record<string, T>);
}

/** Number of elements of a shape; throws on invalid dims or a product beyond 2^53. */
export function shapeSize(shape: readonly unknown[], what = 'shape'): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new Error(`${what} ${JSON.stringify(shape)} has an invalid dimension ${String(d)}`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new Error(`${what} ${JSON.stringify(shape)} has more than 2^53 elements`);
    }
  }
  return n;
}

/**
 * Lays out tensors (shapes only) and builds the header. Throws on invalid names, shapes or
 * metadata. `data` is not touched.
 */
export function planSafetensors(
  tensors: Iterable<readonly [string, { shape: readonly number[] }]>,
  metadata?: Readonly<Record<string, string>>,
): SafetensorsPlan {
  const header: Record<string, unknown> = {};
  const layouts: TensorLayout[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new TypeError(
          `safetensors metadata value for ${JSON.stringify(k)} must be a string, got ${typeof v}`,
        );
      }
      meta[k] = v;
    }
    header.__metadata__ = meta;
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const [name, t] of tensors) {
    if (typeof name !== 'string') throw new TypeError('safetensors tensor names must be strings');
    if (name === '__metadata__') throw new Error(`'__metadata__' cannot be a tensor name`);
    if (seen.has(name)) throw new Error(`duplicate tensor name ${JSON.stringify(name)}`);
    seen.add(name);
    if (!Array.isArray(t.shape)) throw new TypeError(`tensor ${name}: shape must be an array`);
    const size = shapeSize(t.shape, `tensor ${name}: shape`);
    const bytes = size * 4;
    if (!Number.isSafeInteger(offset + bytes)) throw new Error('tensors too large');
    const layout: TensorLayout = {
      name,
      dtype: 'F32',
      shape: [...t.shape],
      begin: offset,
      end: offset + bytes,
    };
    layouts.push(layout);
    Object.defineProperty(header, name, {
      value: { dtype: 'F32', shape: layout.shape, data_offsets: [layout.begin, layout.end] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length);
  return { header: out, tensors: layouts, dataBytes: offset, totalBytes: out.length + offset };
}

/** The bytes of a float32 array, little-endian (a view when the host is little-endian). */
export function float32Bytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}

/** Checks a tensor's data against its planned layout before writing it. */
export function checkTensorData(layout: TensorLayout, data: unknown): Float32Array {
  if (!(data instanceof Float32Array)) {
    throw new TypeError(`tensor ${layout.name}: data must be a Float32Array`);
  }
  const want = (layout.end - layout.begin) / 4;
  if (data.length !== want) {
    throw new Error(
      `tensor ${layout.name}: data has ${data.length} elements but shape ` +
        `${JSON.stringify(layout.shape)} needs ${want}`,
    );
  }
  return data;
}

/** Encodes float32 tensors and string metadata as a safetensors file. */
export function encodeSafetensors(
  tensors: TensorsInput,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const entries = tensorEntries(tensors);
  const plan = planSafetensors(entries, metadata);
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header, 0);
  const base = plan.header.length;
  plan.tensors.forEach((layout, i) => {
    const data = checkTensorData(layout, entries[i]![1].data);
    out.set(float32Bytes(data), base + layout.begin);
  });
  return out;
}

/** A parsed and validated header. */
/**
 * A safetensors file's header: its tensors' places and its metadata, read before (and without)
 * the tensor data. A checkpoint of this library keeps its model description in
 * `metadata.config` (JSON).
 */
export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes (padding included). */
  headerLength: number;
  /** Where the data buffer starts in the file (8 + N). */
  dataStart: number;
  /** Tensors in header order. */
  tensors: TensorLayout[];
  /** The header's `__metadata__` strings ({} when absent). */
  metadata: Record<string, string>;
}

/** Limits and expectations of decodeSafetensors. */
export interface DecodeOptions {
  /** Name of the file or source, used in error messages. */
  source?: string;
  /**
   * The tensors the caller expects, name → shape: a missing name, an extra name or a different
   * shape is an error. Omit to accept any tensors.
   */
  expect?: ReadonlyMap<string, readonly number[]> | Readonly<Record<string, readonly number[]>>;
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses and validates the header of a safetensors file. The whole file must be given, unless
 * `partial`: then only the header has to be there (the first 8 + N bytes, e.g. of a download still
 * streaming in), and the tensors are not checked against the data buffer.
 */
export function readSafetensorsHeader(
  bytes: Uint8Array,
  source = 'safetensors',
  partial = false,
): SafetensorsHeader {
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  if (bytes.length < 8) {
    fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${n64} is absurd (more than ${MAX_HEADER_BYTES} bytes)`);
  }
  const n = Number(n64);
  if (8 + n > bytes.length) {
    fail(
      `header length ${n} is larger than the file (${bytes.length} bytes, ${bytes.length - 8} after the length)`,
    );
  }
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, 8 + n),
    );
  } catch {
    return fail('header is not valid UTF-8');
  }
  let json: JsonValue;
  try {
    json = parseJsonStrict(text);
  } catch (e) {
    if (e instanceof StrictJsonError) {
      const dup = /^duplicate key/.test(e.message);
      return fail(
        dup ? `duplicate name in header: ${e.message}` : `invalid JSON in header: ${e.message}`,
      );
    }
    throw e;
  }
  if (!isObject(json)) {
    return fail(
      `header is not a JSON object (got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json})`,
    );
  }
  if (text[0] !== '{') fail(`header must start with '{' (found leading whitespace)`);
  const metadata: Record<string, string> = {};
  const tensors: TensorLayout[] = [];
  for (const key of Object.keys(json)) {
    const value = json[key];
    if (key === '__metadata__') {
      if (!isObject(value)) fail(`__metadata__ must be an object of strings`);
      for (const [mk, mv] of Object.entries(value as JsonObject)) {
        if (typeof mv !== 'string') {
          fail(`__metadata__ value for ${JSON.stringify(mk)} is not a string`);
        }
        metadata[mk] = mv as string;
      }
      continue;
    }
    const t = `tensor ${JSON.stringify(key)}`;
    if (!isObject(value)) return fail(`${t}: entry is not an object`);
    for (const k of Object.keys(value)) {
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')
        fail(`${t}: unknown field ${JSON.stringify(k)}`);
    }
    const { dtype, shape, data_offsets: offsets } = value;
    if (
      typeof dtype !== 'string' ||
      !Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, dtype)
    ) {
      fail(`${t}: unknown dtype ${JSON.stringify(dtype ?? null)}`);
    }
    if (!Array.isArray(shape)) return fail(`${t}: shape is not an array`);
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        fail(
          `${t}: shape ${JSON.stringify(shape)} has an invalid dimension ${JSON.stringify(d)} (dimensions must be non-negative integers)`,
        );
      }
    }
    let size = 1;
    for (const d of shape as number[]) {
      size *= d;
      if (!Number.isSafeInteger(size))
        fail(`${t}: shape ${JSON.stringify(shape)} is absurdly large (element count overflows)`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      return fail(`${t}: data_offsets must be an array [begin, end]`);
    }
    const [begin, end] = offsets;
    for (const o of [begin, end]) {
      if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
        fail(
          `${t}: invalid data_offsets ${JSON.stringify(offsets)} (offsets must be non-negative integers)`,
        );
      }
    }
    const b = begin as number;
    const e = end as number;
    if (e < b)
      fail(`${t}: data_offsets ${JSON.stringify(offsets)} are out of order (end before begin)`);
    const itemBytes = SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype];
    const want = size * itemBytes;
    if (!Number.isSafeInteger(want) || e - b !== want) {
      fail(
        `${t}: data_offsets ${JSON.stringify(offsets)} span ${e - b} bytes but ${dtype} shape ${JSON.stringify(shape)} needs ${want}`,
      );
    }
    tensors.push({
      name: key,
      dtype: dtype as SafetensorsDtype,
      shape: shape as number[],
      begin: b,
      end: e,
    });
  }
  const dataStart = 8 + n;
  if (partial) return { headerLength: n, dataStart, tensors, metadata };
  const dataBytes = bytes.length - dataStart;
  const sorted = [...tensors].sort((x, y) => x.begin - y.begin || x.end - y.end);
  let pos = 0;
  let prev: TensorLayout | undefined;
  for (const t of sorted) {
    if (t.end > dataBytes) {
      fail(
        `tensor ${JSON.stringify(t.name)}: data_offsets [${t.begin}, ${t.end}] are out of bounds (the data buffer has ${dataBytes} bytes)`,
      );
    }
    if (t.begin < pos) {
      fail(
        `tensor ${JSON.stringify(t.name)}: data_offsets [${t.begin}, ${t.end}] overlap tensor ${JSON.stringify(prev!.name)} [${prev!.begin}, ${prev!.end}]`,
      );
    }
    if (t.begin > pos) {
      fail(
        `hole in the data buffer: bytes [${pos}, ${t.begin}) before tensor ${JSON.stringify(t.name)} belong to no tensor`,
      );
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== dataBytes) {
    fail(
      `${dataBytes - pos} bytes after the last tensor belong to no tensor (the data buffer has ${dataBytes} bytes, tensors cover ${pos})`,
    );
  }
  return { headerLength: n, dataStart, tensors, metadata };
}

/** Checks tensor names and shapes against `expect` (see DecodeOptions.expect). */
export function checkExpected(
  tensors: ReadonlyMap<string, { shape: readonly number[] }>,
  expect: NonNullable<DecodeOptions['expect']>,
  source: string,
): void {
  const want = expect instanceof Map ? [...expect.entries()] : Object.entries(expect);
  const missing: string[] = [];
  for (const [name, shape] of want) {
    const t = tensors.get(name);
    if (!t) {
      missing.push(name);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new SafetensorsError(
        source,
        `tensor ${JSON.stringify(name)} has shape ${JSON.stringify(t.shape)} but the model expects ${JSON.stringify(shape)}`,
      );
    }
  }
  if (missing.length > 0) {
    throw new SafetensorsError(source, `missing tensors the model expects: ${missing.join(', ')}`);
  }
  const known = new Set(want.map(([k]) => k));
  const extra = [...tensors.keys()].filter((k) => !known.has(k));
  if (extra.length > 0) {
    throw new SafetensorsError(
      source,
      `unexpected tensors the model does not have: ${extra.join(', ')}`,
    );
  }
}

/** A decoded file: float32 tensors (in header order) and the string metadata. */
export interface DecodedSafetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** The dtypes decodeSafetensors reads; F16 and BF16 are widened to float32 exactly. */
export const DECODED_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16'];

// 2^-24: the value of the F16 subnormal unit.
const F16_SUBNORMAL_UNIT = 5.960464477539063e-8;

/** An IEEE binary16 value (bits) as a number: exact, subnormals, infinities and NaN included. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * F16_SUBNORMAL_UNIT;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** One tensor's bytes (little-endian F32, F16 or BF16) as float32 values. */
function decodeFloats(bytes: Uint8Array, dtype: SafetensorsDtype, count: number): Float32Array {
  const data = new Float32Array(count);
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN) {
      new Uint8Array(data.buffer).set(bytes);
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    }
    return data;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32: widening is a 16-bit shift.
    const bits = new Uint32Array(data.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return data;
  }
  for (let i = 0; i < count; i++) data[i] = float16ToNumber(view.getUint16(2 * i, true));
  return data;
}

/**
 * Decodes and validates a safetensors file (see readSafetensorsHeader). F32 tensors are read as
 * they are; F16 and BF16 ones (PyTorch users often save in half precision) are widened to float32,
 * which is exact; any other dtype is an error that names the tensor.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): DecodedSafetensors {
  const source = options.source ?? 'safetensors';
  const header = readSafetensorsHeader(bytes, source);
  for (const t of header.tensors) {
    if (!DECODED_DTYPES.includes(t.dtype)) {
      throw new SafetensorsError(
        source,
        `tensor ${JSON.stringify(t.name)} has dtype ${t.dtype}; only the floats ` +
          `${DECODED_DTYPES.join(', ')} can be loaded (convert it to float32 before saving)`,
      );
    }
  }
  if (options.expect)
    checkExpected(new Map(header.tensors.map((t) => [t.name, t])), options.expect, source);
  const tensors = new Map<string, Tensor>();
  for (const t of header.tensors) {
    const raw = bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end);
    const count = (t.end - t.begin) / SAFETENSORS_DTYPE_BYTES[t.dtype];
    tensors.set(t.name, { shape: [...t.shape], data: decodeFloats(raw, t.dtype, count) });
  }
  return { tensors, metadata: header.metadata };
}
