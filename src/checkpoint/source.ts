// Where a checkpoint's bytes come from: bytes, a File/Blob, or a URL (fetched, the body streamed,
// with progress, a size limit and errors that name the source; data: URLs too). The safetensors
// header (the model config is in its metadata) is handed out as soon as it has arrived, so a
// caller can start compiling while the weights are still downloading.
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors.js';

/** Where a checkpoint comes from: bytes, a File/Blob, or a URL (fetched, body streamed). */
export type CheckpointSource = Uint8Array | ArrayBuffer | Blob | string | URL;

/** Options of reading a checkpoint source ({@link openCheckpointSource}, fromCheckpoint). */
export interface ReadSourceOptions {
  /** Called while a URL's body streams in (total is undefined without a Content-Length). */
  onProgress?: (loaded: number, total: number | undefined) => void;
  /** Largest body accepted, in bytes (default 2 GiB); a larger URL body or Blob is an error. */
  maxBytes?: number;
  /** Aborts fetching a URL (the bytes then reject naming the source). */
  signal?: AbortSignal;
}

/** A checkpoint being read: its header as soon as it has arrived, then all of its bytes. */
export interface OpenedCheckpoint {
  /** The source's name in messages: the URL, the file name, or 'checkpoint bytes'. */
  readonly name: string;
  /**
   * The safetensors header, as soon as its bytes are in (before the weights, for a URL). Rejects
   * when the bytes cannot be read or do not start with a valid header.
   */
  readonly header: Promise<SafetensorsHeader>;
  /** The whole file. Rejects with an error that names the source when it cannot be read. */
  readonly bytes: Promise<Uint8Array>;
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    const n = Math.min(c.length, length - at);
    out.set(c.subarray(0, n), at);
    at += n;
    if (at === length) break;
  }
  return out;
}

/**
 * Starts reading a checkpoint from any source; see {@link OpenedCheckpoint}. Returns at once: a
 * URL is fetched and its body streamed (progress through options.onProgress), a Blob or File
 * read, bytes used as they are. For a URL the header settles as soon as its bytes are in, so a
 * caller can read the model description (`header.metadata.config`) and start compiling while
 * the weights still download ({@link VaeInference.fromCheckpoint} does this). A caller that
 * never looks at the header gets no unhandled rejection from it.
 *
 * Errors (in the promises) name the source: an HTTP status, a failed fetch, a body over maxBytes
 * or shorter than its Content-Length, an invalid safetensors header, or a source of another type.
 *
 * @example
 * ```ts
 * const opened = openCheckpointSource('/models/mnist.safetensors', {
 *   onProgress: (loaded, total) => console.log(loaded, total),
 * });
 * const config = JSON.parse((await opened.header).metadata.config ?? 'null');
 * const checkpoint = decodeCheckpoint(await opened.bytes, { source: opened.name });
 * ```
 */
export function openCheckpointSource(
  source: CheckpointSource,
  options: ReadSourceOptions = {},
): OpenedCheckpoint {
  const maxBytes = options.maxBytes ?? 2 ** 31;
  let name = 'checkpoint bytes';
  let bytes: Promise<Uint8Array>;
  let header: Promise<SafetensorsHeader> | undefined;
  if (source instanceof Uint8Array) {
    bytes = Promise.resolve(source);
  } else if (source instanceof ArrayBuffer) {
    bytes = Promise.resolve(new Uint8Array(source));
  } else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    name = (source as Partial<File>).name || 'checkpoint blob';
    const blob = source;
    const blobName = name;
    bytes = (async () => {
      if (blob.size > maxBytes)
        throw new Error(`${blobName}: ${blob.size} bytes exceeds ${maxBytes}`);
      return new Uint8Array(await blob.arrayBuffer());
    })();
  } else if (typeof source === 'string' || source instanceof URL) {
    const url = String(source);
    name = url.startsWith('data:') ? 'data: URL' : url;
    const streamed = streamUrl(url, name, maxBytes, options);
    bytes = streamed.bytes;
    header = streamed.header;
  } else {
    const problem = new Error(
      'checkpoint source must be a Uint8Array, an ArrayBuffer, a Blob/File or a URL string, got ' +
        Object.prototype.toString.call(source),
    );
    bytes = Promise.reject(problem);
  }
  const sourceName = name;
  header ??= bytes.then((b) => readSafetensorsHeader(b, sourceName, true));
  // Callers may never look at the header: its failure alone is not an unhandled rejection.
  header.catch(() => undefined);
  return { name, header, bytes };
}

/**
 * Reads a checkpoint's bytes from any source ({@link openCheckpointSource} without the early
 * header); errors name the source.
 *
 * @returns The bytes and the source's name for messages (the URL, the file name, or
 *   'checkpoint bytes').
 * @example
 * ```ts
 * const { bytes, name } = await readCheckpointSource(file); // a File from an <input type="file">
 * const checkpoint = decodeCheckpoint(bytes, { source: name });
 * ```
 */
export async function readCheckpointSource(
  source: CheckpointSource,
  options: ReadSourceOptions = {},
): Promise<{ bytes: Uint8Array; name: string }> {
  const opened = openCheckpointSource(source, options);
  return { bytes: await opened.bytes, name: opened.name };
}

function streamUrl(
  url: string,
  name: string,
  maxBytes: number,
  options: ReadSourceOptions,
): { bytes: Promise<Uint8Array>; header: Promise<SafetensorsHeader> } {
  let resolveHeader!: (h: SafetensorsHeader) => void;
  let rejectHeader!: (e: unknown) => void;
  const header = new Promise<SafetensorsHeader>((resolve, reject) => {
    resolveHeader = resolve;
    rejectHeader = reject;
  });
  let headerDone = false;
  // After each chunk: once the first 8 + N bytes are in, parse the header (once).
  const tryHeader = (chunks: readonly Uint8Array[], loaded: number) => {
    if (headerDone || loaded < 8) return;
    const first = concat(chunks, 8);
    const n = Number(new DataView(first.buffer).getBigUint64(0, true));
    if (loaded < 8 + n && n <= maxBytes) return;
    headerDone = true;
    try {
      resolveHeader(readSafetensorsHeader(concat(chunks, Math.min(loaded, 8 + n)), name, true));
    } catch (error) {
      rejectHeader(error);
    }
  };
  const bytes = (async () => {
    let response: Response;
    try {
      response = await fetch(url, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      throw new Error(`${name}: cannot fetch the checkpoint (${(error as Error).message})`, {
        cause: error,
      });
    }
    if (!response.ok) {
      throw new Error(`${name}: HTTP ${response.status} ${response.statusText}`.trim());
    }
    const lengthHeader = response.headers.get('content-length');
    const total =
      lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    if (total !== undefined && total > maxBytes) {
      throw new Error(`${name}: ${total} bytes exceeds the limit of ${maxBytes}`);
    }
    if (!response.body) {
      const all = new Uint8Array(await response.arrayBuffer());
      options.onProgress?.(all.length, total);
      return all;
    }
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      loaded += value.length;
      if (loaded > maxBytes) {
        await reader.cancel();
        throw new Error(`${name}: body exceeds the limit of ${maxBytes} bytes`);
      }
      chunks.push(value);
      options.onProgress?.(loaded, total);
      tryHeader(chunks, loaded);
    }
    if (total !== undefined && loaded !== total) {
      throw new Error(`${name}: body ended after ${loaded} of ${total} bytes`);
    }
    return concat(chunks, loaded);
  })();
  // The whole body settles the header too: a short or failed body has no header to give.
  bytes.then(
    (all) => {
      if (!headerDone) {
        headerDone = true;
        try {
          resolveHeader(readSafetensorsHeader(all, name, true));
        } catch (error) {
          rejectHeader(error);
        }
      }
    },
    (error: unknown) => {
      headerDone = true;
      rejectHeader(error);
    },
  );
  return { bytes, header };
}
