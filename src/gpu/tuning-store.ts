// Where measured kernel choices persist between runs, per adapter: IndexedDB in a browser (window
// or worker), a JSON file under the user's cache directory in Node ($XDG_CACHE_HOME, ~/.cache, or
// %LOCALAPPDATA% on Windows: <dir>/webgpu-vae/tuning.json). A store never fails its caller: an
// unreadable or corrupt cache is a warning and counts as empty, a failed write is a warning.
//
// Records are kept per adapter and per `version` (a hash of the kernels measured): choices made
// for other kernels or another adapter are never returned.

import type * as NodeFsModule from 'node:fs/promises';
import type * as NodeOsModule from 'node:os';
import type * as NodePathModule from 'node:path';

/** One persisted choice: the variant and, when measured, each candidate's time in ms. */
export interface TuningRecord {
  /** The kernel variant chosen (a matmul variant name, e.g. 'rb'). */
  variant: string;
  /** Milliseconds per run of each candidate variant, by variant name. */
  timings?: Record<string, number>;
}

/** The persisted choices of one adapter, by shape class (the key the measuring code gives it). */
export type TuningRecords = Record<string, TuningRecord>;

/**
 * Where measured kernel choices persist between runs ({@link TuningOptions.store}). The built-in
 * stores are an IndexedDB database ({@link indexedDbTuningStore}) and, in Node, a JSON file under
 * the user's cache directory; give your own to keep the choices elsewhere. A store must never
 * fail its caller: `load` resolves to {} and `save` resolves when something goes wrong (the
 * built-in stores warn on the console).
 *
 * @example A store in memory (tests, or an app that syncs choices itself)
 * ```ts
 * const saved = new Map<string, TuningRecords>();
 * const memoryStore: TuningStore = {
 *   where: 'memory',
 *   load: async (adapter, version) => saved.get(`${adapter}|${version}`) ?? {},
 *   save: async (adapter, version, records) => {
 *     const key = `${adapter}|${version}`;
 *     saved.set(key, { ...saved.get(key), ...records });
 *   },
 * };
 * const rt = await createRuntime({ tuning: { store: memoryStore } });
 * ```
 */
export interface TuningStore {
  /** Where the records live (for messages). */
  readonly where: string;
  /** The records saved for this adapter and kernel version ({} when none, or unreadable). */
  load(adapter: string, version: string): Promise<TuningRecords>;
  /** Merges records into those saved for this adapter and version. */
  save(adapter: string, version: string, records: TuningRecords): Promise<void>;
}

/** How a runtime measures and remembers kernel choices (RuntimeOptions.tuning). */
export interface TuningOptions {
  /**
   * Keep measured choices between runs (default true; WEBGPU_VAE_TUNING_CACHE=0 turns it off):
   * IndexedDB in a browser, <cache dir>/webgpu-vae/tuning.json in Node.
   */
  persist?: boolean;
  /** Another store (tests, apps with their own storage). */
  store?: TuningStore;
  /**
   * Measure shape classes that have no measured choice in the background, in idle time, after
   * `backgroundDelayMs` (default true; WEBGPU_VAE_TUNING_BACKGROUND=0 turns it off). Only on an
   * adapter with `timestamp-query`: timed by the wall clock, the work sharing the queue would
   * count (llvmpipe keeps the shipped defaults).
   */
  background?: boolean;
  /** Default 3000 ms after the first matmul that used a shipped default. */
  backgroundDelayMs?: number;
  /**
   * Largest share of the time background measuring may take (default 0.1): after measuring a
   * variant it pauses for 1/share − 1 times as long, so it never crowds out an app's own work.
   */
  backgroundShare?: number;
}

const FORMAT = 'webgpu-vae.tuning';
const FILE_NAME = 'tuning.json';

interface AdapterEntry {
  version: string;
  records: TuningRecords;
}

interface CacheFile {
  format: typeof FORMAT;
  adapters: Record<string, AdapterEntry>;
}

function warn(message: string): void {
  console.warn(`webgpu-vae: ${message}`);
}

function isRecord(v: unknown): v is TuningRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<TuningRecord>;
  if (typeof r.variant !== 'string') return false;
  if (r.timings === undefined) return true;
  return (
    typeof r.timings === 'object' &&
    r.timings !== null &&
    Object.values(r.timings).every((t) => typeof t === 'number')
  );
}

/** Only well-formed records of an entry (anything else in a cache is ignored). */
function validRecords(v: unknown): TuningRecords {
  const out: TuningRecords = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [key, record] of Object.entries(v)) if (isRecord(record)) out[key] = record;
  return out;
}

/** Parses a cache file's text; throws a message naming what is wrong. */
export function parseTuningFile(text: string): CacheFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON (${(error as Error).message})`, { cause: error });
  }
  const file = parsed as Partial<CacheFile> | null;
  if (typeof file !== 'object' || file === null || file.format !== FORMAT) {
    throw new Error(`not a ${FORMAT} file`);
  }
  if (typeof file.adapters !== 'object' || file.adapters === null) {
    throw new Error('no "adapters" object');
  }
  const adapters: Record<string, AdapterEntry> = {};
  for (const [name, entry] of Object.entries(file.adapters)) {
    const e = entry as Partial<AdapterEntry> | null;
    if (typeof e === 'object' && e !== null && typeof e.version === 'string') {
      adapters[name] = { version: e.version, records: validRecords(e.records) };
    }
  }
  return { format: FORMAT, adapters };
}

type NodeFs = typeof NodeFsModule;
type NodePath = typeof NodePathModule;
type NodeOs = typeof NodeOsModule;

// Node modules imported through a variable, so that browser bundles never include them.
async function nodeModules(): Promise<{ fs: NodeFs; path: NodePath; os: NodeOs }> {
  const [fs, path, os] = ['node:fs/promises', 'node:path', 'node:os'];
  return {
    fs: (await import(/* @vite-ignore */ fs)) as NodeFs,
    path: (await import(/* @vite-ignore */ path)) as NodePath,
    os: (await import(/* @vite-ignore */ os)) as NodeOs,
  };
}

/** The user's cache directory in Node: $XDG_CACHE_HOME, else %LOCALAPPDATA% (Windows) or ~/.cache. */
export async function nodeCacheDir(): Promise<string> {
  const { path, os } = await nodeModules();
  const env = process.env;
  if (env.XDG_CACHE_HOME) return env.XDG_CACHE_HOME;
  if (process.platform === 'win32' && env.LOCALAPPDATA) return env.LOCALAPPDATA;
  return path.join(os.homedir(), '.cache');
}

/** A JSON file store (Node). Writes go to a temporary file renamed over the old one. */
export function fileTuningStore(file: string): TuningStore {
  const read = async (): Promise<CacheFile> => {
    const { fs } = await nodeModules();
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') {
        warn(`cannot read the tuning cache ${file} (${(error as Error).message}); ignoring it`);
      }
      return { format: FORMAT, adapters: {} };
    }
    try {
      return parseTuningFile(text);
    } catch (error) {
      warn(
        `the tuning cache ${file} is corrupt (${(error as Error).message}); ignoring it, ` +
          'it will be rewritten',
      );
      return { format: FORMAT, adapters: {} };
    }
  };
  return {
    where: file,
    async load(adapter, version) {
      const entry = (await read()).adapters[adapter];
      return entry && entry.version === version ? entry.records : {};
    },
    async save(adapter, version, records) {
      try {
        const { fs, path } = await nodeModules();
        const current = await read();
        const old = current.adapters[adapter];
        current.adapters[adapter] = {
          version,
          records: { ...(old?.version === version ? old.records : {}), ...records },
        };
        await fs.mkdir(path.dirname(file), { recursive: true });
        // Atomic replace: a reader (another process) sees the old file or the new one.
        const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
        await fs.writeFile(tmp, JSON.stringify(current, null, 1));
        await fs.rename(tmp, file);
      } catch (error) {
        warn(`cannot write the tuning cache ${file} (${(error as Error).message})`);
      }
    },
  };
}

const IDB_NAME = 'webgpu-vae';
const IDB_STORE = 'tuning';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

/**
 * A {@link TuningStore} in IndexedDB (browsers, also in workers): database `name` (default
 * 'webgpu-vae'), object store 'tuning', one entry per adapter holding the records of one kernel
 * version (saving under a new version replaces the old records). It is what a runtime uses by
 * default where `indexedDB` exists; pass it explicitly to use another database name or factory.
 * Never throws or rejects: a read or write that fails, or a corrupt entry, is a console warning and
 * reads as no records.
 *
 * @param idb The IndexedDB factory, e.g. `globalThis.indexedDB`.
 * @param name The database name.
 * @example
 * ```ts
 * const rt = await createRuntime({
 *   tuning: { store: indexedDbTuningStore(indexedDB, 'my-app-tuning') },
 * });
 * ```
 */
export function indexedDbTuningStore(idb: IDBFactory, name = IDB_NAME): TuningStore {
  let db: Promise<IDBDatabase> | undefined;
  const open = () => {
    db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const r = idb.open(name, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(IDB_STORE);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error('cannot open IndexedDB'));
    });
    return db;
  };
  const where = `IndexedDB '${name}'`;
  const get = async (adapter: string): Promise<AdapterEntry | undefined> => {
    const tx = (await open()).transaction(IDB_STORE, 'readonly');
    const v = (await request(tx.objectStore(IDB_STORE).get(adapter))) as unknown;
    const e = v as Partial<AdapterEntry> | undefined;
    if (e === undefined) return undefined;
    if (typeof e !== 'object' || e === null || typeof e.version !== 'string') {
      warn(`the tuning cache in ${where} is corrupt for '${adapter}'; ignoring it`);
      return undefined;
    }
    return { version: e.version, records: validRecords(e.records) };
  };
  return {
    where,
    async load(adapter, version) {
      try {
        const entry = await get(adapter);
        return entry && entry.version === version ? entry.records : {};
      } catch (error) {
        warn(`cannot read the tuning cache in ${where} (${(error as Error).message})`);
        return {};
      }
    },
    async save(adapter, version, records) {
      try {
        const old = await get(adapter);
        const entry: AdapterEntry = {
          version,
          records: { ...(old?.version === version ? old.records : {}), ...records },
        };
        const tx = (await open()).transaction(IDB_STORE, 'readwrite');
        await request(tx.objectStore(IDB_STORE).put(entry, adapter));
      } catch (error) {
        warn(`cannot write the tuning cache in ${where} (${(error as Error).message})`);
      }
    },
  };
}

/**
 * The name of the environment variable that turns the persisted tuning cache off in Node:
 * `WEBGPU_VAE_TUNING_CACHE=0` (also 'off', 'false' or 'no', any case). Measured choices are then
 * kept for the run only. It applies where {@link TuningOptions.persist} is not given (an explicit
 * option wins); browsers have no environment, use `tuning: { persist: false }` there.
 *
 * @example
 * ```ts
 * process.env[TUNING_CACHE_ENV] = '0'; // before the runtime is created
 * const rt = await createRuntime();
 * ```
 */
export const TUNING_CACHE_ENV = 'WEBGPU_VAE_TUNING_CACHE';

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/** Whether WEBGPU_VAE_TUNING_CACHE=0 (or 'off', 'false', 'no') turns persistence off. */
export function tuningCacheDisabledByEnv(): boolean {
  const v = isNode() ? process.env[TUNING_CACHE_ENV] : undefined;
  return v !== undefined && ['0', 'off', 'false', 'no'].includes(v.toLowerCase());
}

/**
 * The platform's store: IndexedDB where there is one (browsers, workers), else the cache file in
 * Node; undefined where neither exists.
 */
export async function defaultTuningStore(): Promise<TuningStore | undefined> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (idb) return indexedDbTuningStore(idb);
  if (isNode()) {
    const { path } = await nodeModules();
    return fileTuningStore(path.join(await nodeCacheDir(), 'webgpu-vae', FILE_NAME));
  }
  return undefined;
}
