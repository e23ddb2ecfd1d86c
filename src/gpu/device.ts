// Getting a WebGPU device in a browser (navigator.gpu) or in Node (Dawn from the `webgpu` package),
// preferring a real GPU and falling back to the fastest CPU implementation present.
import type * as NodeFs from 'node:fs';
import { DAWN_PACKAGE, importOptional } from '../optional-deps.js';

/** The implementations one can ask for: `auto` prefers a real GPU, then llvmpipe, then SwiftShader. */
export const ADAPTER_CHOICES = ['auto', 'gpu', 'llvmpipe', 'swiftshader'] as const;
/** Which implementation to use (one of {@link ADAPTER_CHOICES}). */
export type AdapterChoice = (typeof ADAPTER_CHOICES)[number];

/** What kind of adapter we ended up with. `browser` is whatever navigator.gpu gave. */
export type AdapterKind = 'gpu' | 'llvmpipe' | 'swiftshader' | 'cpu-other' | 'browser';

/** Which adapter requestGpu takes and which optional features it asks for. */
export interface RequestGpuOptions {
  /** Override the choice; in Node the WEBGPU_VAE_ADAPTER environment variable does the same. */
  adapter?: AdapterChoice;
  /** Ask for `timestamp-query` when the adapter has it (default true). */
  timestampQuery?: boolean;
  /** Ask for `subgroups` when the adapter has it (default true). */
  subgroups?: boolean;
  /** Node only: extra Dawn toggles passed to create(), e.g. 'enable-dawn-features=...'. */
  dawnFlags?: string[];
  /**
   * Node, llvmpipe only: worker threads per dispatch (Mesa's LP_NUM_THREADS; default one per
   * core). 0 runs each dispatch on the submitting thread, with no thread wake-up per dispatch: a
   * small model (the 2-D experiments' 128-wide layers, batch 32) trains about 1.7× faster that
   * way, while a large one (the MNIST VAE, batch 128) is about 1.5× slower. Mesa reads it once
   * per process, at the first llvmpipe device; a later device asking for another count is an
   * error.
   */
  cpuThreads?: number;
}

/** A device and what requestGpu learned about the adapter it came from. */
export interface GpuDeviceInfo {
  device: GPUDevice;
  adapter: GPUAdapter;
  kind: AdapterKind;
  /** Human-readable adapter name, e.g. "SwiftShader driver 5.0.0 (swiftshader-device-subzero)". */
  name: string;
  /** True when the adapter runs in WebGPU compatibility mode (llvmpipe through OpenGL). */
  compatibility: boolean;
  features: ReadonlySet<string>;
  /** Objects that must stay referenced while the device lives (Dawn for Node aborts otherwise). */
  keepAlive: unknown[];
}

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const INSTALL_HINT =
  'No WebGPU adapter could be created. On Debian/Ubuntu install the CPU implementations with ' +
  '`apt-get install -y chromium libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri` (SwiftShader ships ' +
  'with chromium; llvmpipe with Mesa), and `npm install webgpu` (Dawn) for Node. In a browser, use one ' +
  'with WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).';

const CPU_ADAPTER_PATTERN =
  /llvmpipe|lavapipe|swiftshader|softpipe|software|microsoft basic render/i;

/** Names an adapter from its info, with the description and the device string. */
export function describeAdapter(info: GPUAdapterInfo): string {
  const parts = [info.description, info.device, info.vendor, info.architecture]
    .map((s) => (s ?? '').replace(/-+$/, '').trim())
    .filter((s, i, all) => s.length > 0 && all.indexOf(s) === i);
  return parts.length > 0 ? parts.join(' / ') : 'unknown adapter';
}

export function classifyAdapter(info: GPUAdapterInfo): AdapterKind {
  const text = `${info.description} ${info.device} ${info.vendor} ${info.architecture}`;
  if (/llvmpipe/i.test(text)) return 'llvmpipe';
  if (/swiftshader/i.test(text)) return 'swiftshader';
  if (CPU_ADAPTER_PATTERN.test(text)) return 'cpu-other';
  return 'gpu';
}

export interface Candidate {
  kind: 'gpu' | 'llvmpipe' | 'swiftshader';
  flags: string[];
  options: GPURequestAdapterOptions;
  env: Record<string, string | undefined>;
}

/** Device files a GPU driver exposes on Linux: DRM render nodes, NVIDIA, AMD KFD, WSL's dxg. */
const GPU_DEVICE_FILE = /^(dri\/renderD\d+|nvidia\d+|nvidiactl|kfd|dxg)$/;

/**
 * Whether a real GPU can be present, from the names of the files in /dev (and /dev/dri as
 * `dri/...`). Without one, no Vulkan/Metal/D3D driver can reach a GPU.
 */
export function hasGpuDeviceFile(devEntries: readonly string[]): boolean {
  return devEntries.some((name) => GPU_DEVICE_FILE.test(name));
}

/**
 * On Linux, false when /dev has no GPU device file: then `auto` skips probing Dawn's default
 * backend, whose Vulkan probe finds only CPU drivers it rejects and prints their complaints
 * (XDG_RUNTIME_DIR, "While initializing adapter") to stderr. Elsewhere, and when /dev cannot be
 * read, true (probe as usual).
 */
async function mayHaveGpu(): Promise<boolean> {
  if (process.platform !== 'linux') return true;
  try {
    const specifier = 'node:fs'; // hidden from bundlers: this only runs in Node
    const fs = (await import(/* @vite-ignore */ specifier)) as typeof NodeFs;
    const list = (dir: string) => {
      try {
        return fs.readdirSync(dir);
      } catch {
        return [];
      }
    };
    const dev = list('/dev');
    if (dev.length === 0) return true;
    return hasGpuDeviceFile([...dev, ...list('/dev/dri').map((n) => `dri/${n}`)]);
  } catch {
    return true;
  }
}

/** The Node adapters to try, in order, for a choice. */
export function nodeCandidates(
  choice: AdapterChoice,
  gpuPossible = true,
  cpuThreads?: number,
): Candidate[] {
  const gpu: Candidate = {
    kind: 'gpu',
    flags: [],
    options: { powerPreference: 'high-performance' },
    env: { VK_ICD_FILENAMES: process.env.WEBGPU_VAE_ORIGINAL_VK_ICD ?? undefined },
  };
  const llvmpipe: Candidate = {
    kind: 'llvmpipe',
    flags: ['backend=opengl'],
    options: { featureLevel: 'compatibility' } as GPURequestAdapterOptions,
    env: {
      EGL_PLATFORM: 'surfaceless',
      ...(cpuThreads === undefined ? {} : { LP_NUM_THREADS: String(cpuThreads) }),
    },
  };
  const swiftshader: Candidate = {
    kind: 'swiftshader',
    flags: [],
    options: {},
    env: { VK_ICD_FILENAMES: SWIFTSHADER_ICD },
  };
  switch (choice) {
    case 'gpu':
      return [gpu];
    case 'llvmpipe':
      return [llvmpipe];
    case 'swiftshader':
      return [swiftshader];
    case 'auto':
      return gpuPossible ? [gpu, llvmpipe, swiftshader] : [llvmpipe, swiftshader];
  }
}

function parseChoice(value: string | undefined): AdapterChoice | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'auto' || value === 'gpu' || value === 'llvmpipe' || value === 'swiftshader') {
    return value;
  }
  throw new Error(
    `WEBGPU_VAE_ADAPTER=${JSON.stringify(value)} is not one of auto, gpu, llvmpipe, swiftshader`,
  );
}

/** Requires every limit the adapter offers, so compat mode's low defaults do not bind us. */
function allAdapterLimits(adapter: GPUAdapter): Record<string, number> {
  const limits: Record<string, number> = {};
  const source = adapter.limits as unknown as Record<string, unknown>;
  for (const key in source) {
    const value = source[key];
    if (typeof value === 'number') limits[key] = value;
  }
  return limits;
}

async function deviceFromAdapter(
  adapter: GPUAdapter,
  kind: AdapterKind,
  options: RequestGpuOptions,
  keepAlive: unknown[],
): Promise<GpuDeviceInfo> {
  const wanted: GPUFeatureName[] = [];
  if (options.timestampQuery !== false && adapter.features.has('timestamp-query')) {
    wanted.push('timestamp-query');
  }
  if (options.subgroups !== false && adapter.features.has('subgroups')) {
    wanted.push('subgroups' as GPUFeatureName);
  }
  const device = await adapter.requestDevice({
    label: 'webgpu-vae device',
    requiredFeatures: wanted,
    requiredLimits: allAdapterLimits(adapter),
  });
  const info = adapter.info;
  const compatibility =
    (adapter as unknown as { featureLevel?: string }).featureLevel === 'compatibility' ||
    !adapter.features.has('core-features-and-limits' as GPUFeatureName);
  return {
    device,
    adapter,
    kind,
    name: describeAdapter(info),
    compatibility: kind === 'llvmpipe' ? true : compatibility && kind !== 'browser',
    features: new Set(device.features as unknown as Iterable<string>),
    keepAlive: [...keepAlive, adapter, device],
  };
}

/**
 * Returns a device and says which adapter it got. In the browser it uses navigator.gpu; in Node it
 * loads Dawn (`webgpu`) and tries a real GPU first, then llvmpipe, then SwiftShader.
 */
export async function requestGpu(options: RequestGpuOptions = {}): Promise<GpuDeviceInfo> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) {
    if (!nav?.gpu)
      throw new Error(`navigator.gpu is missing: this browser has no WebGPU. ${INSTALL_HINT}`);
    const preference = options.adapter === 'gpu' ? 'high-performance' : undefined;
    const adapter = await nav.gpu.requestAdapter(preference ? { powerPreference: preference } : {});
    if (!adapter) throw new Error(`navigator.gpu.requestAdapter() returned null. ${INSTALL_HINT}`);
    const kind = classifyAdapter(adapter.info);
    return deviceFromAdapter(adapter, kind === 'gpu' ? 'browser' : kind, options, []);
  }
  return requestNodeGpu(options);
}

type DawnModule = {
  create: (flags: string[]) => GPU;
  globals: Record<string, unknown>;
};

let dawnModule: DawnModule | undefined;

async function loadDawn(): Promise<DawnModule> {
  if (dawnModule) return dawnModule;
  // A variable specifier, so that bundlers leave this Node-only optional package alone.
  const specifier = DAWN_PACKAGE.name;
  dawnModule = await importOptional(
    DAWN_PACKAGE,
    async () => (await import(/* @vite-ignore */ specifier)) as DawnModule,
  );
  // WebGPU constants such as GPUBufferUsage must exist as globals, as in a browser.
  for (const [key, value] of Object.entries(dawnModule.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  return dawnModule;
}

/**
 * LP_NUM_THREADS as this process's llvmpipe read it at its first device ('' when unset, so Mesa's
 * default), or undefined before any: Mesa keeps that first screen, and its threads, for the
 * process.
 */
let llvmpipeThreadsInProcess: string | undefined;

/** The most llvmpipe worker threads `cpuThreads` (and the CLI's --cpu-threads) accepts. */
export const MAX_CPU_THREADS = 1024;

function checkCpuThreads(cpuThreads: number | undefined): void {
  if (cpuThreads === undefined) return;
  if (!Number.isInteger(cpuThreads) || cpuThreads < 0 || cpuThreads > MAX_CPU_THREADS) {
    throw new Error(`cpuThreads must be an integer in [0, ${MAX_CPU_THREADS}], got ${cpuThreads}`);
  }
  const current = llvmpipeThreadsInProcess;
  if (current !== undefined && current !== String(cpuThreads)) {
    throw new Error(
      `cpuThreads: ${cpuThreads} asked, but this process's llvmpipe already runs with ` +
        `${current === '' ? "Mesa's default threads" : `LP_NUM_THREADS=${current}`} (Mesa reads ` +
        'it once per process, at the first llvmpipe device)',
    );
  }
}

async function requestNodeGpu(options: RequestGpuOptions): Promise<GpuDeviceInfo> {
  const choice = options.adapter ?? parseChoice(process.env.WEBGPU_VAE_ADAPTER) ?? 'auto';
  checkCpuThreads(options.cpuThreads);
  const dawn = await loadDawn();
  if (process.env.WEBGPU_VAE_ORIGINAL_VK_ICD === undefined && process.env.VK_ICD_FILENAMES) {
    process.env.WEBGPU_VAE_ORIGINAL_VK_ICD = process.env.VK_ICD_FILENAMES;
  }
  const tried: string[] = [];
  const gpuPossible = choice !== 'auto' || (await mayHaveGpu());
  if (!gpuPossible) tried.push('gpu: no GPU device in /dev');
  for (const candidate of nodeCandidates(choice, gpuPossible, options.cpuThreads)) {
    for (const [key, value] of Object.entries(candidate.env)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    const gpu = dawn.create([...candidate.flags, ...(options.dawnFlags ?? [])]);
    const adapter = await gpu.requestAdapter(candidate.options);
    if (!adapter) {
      tried.push(`${candidate.kind}: no adapter`);
      continue;
    }
    const kind = classifyAdapter(adapter.info);
    // The Vulkan default may find a CPU driver (lavapipe, or SwiftShader via the environment):
    // only accept a real GPU there, since llvmpipe and SwiftShader are tried explicitly next.
    if (candidate.kind === 'gpu' && kind !== 'gpu' && choice === 'auto') {
      tried.push(`gpu: only found ${describeAdapter(adapter.info)}`);
      continue;
    }
    if (candidate.kind !== 'gpu' && kind !== candidate.kind) {
      tried.push(`${candidate.kind}: got ${describeAdapter(adapter.info)} instead`);
      continue;
    }
    if (kind === 'llvmpipe') llvmpipeThreadsInProcess ??= process.env.LP_NUM_THREADS ?? '';
    return deviceFromAdapter(adapter, kind, options, [gpu]);
  }
  throw new Error(
    `No WebGPU adapter for choice '${choice}' (${tried.join('; ')}). ${INSTALL_HINT}`,
  );
}
