// The runtime around one device: shader modules and pipelines created once (inside error scopes,
// cached by kernel + override constants), explicit bind group layouts from reflection, checked
// bindings, prepared dispatches that replay without creating GPU objects, and error reporting that
// names the kernel involved.
import { WGSL_SOURCES, type ShaderFile } from '../shaders/wgsl.generated.js';
import { checkBindings, IS_BUFFER_RANGE, type BindingResource } from './bindings.js';
import { BufferAllocator, roundUp } from './buffers.js';
import { requestGpu, type GpuDeviceInfo, type RequestGpuOptions } from './device.js';
import {
  getKernel,
  invocationsPerWorkgroup,
  workgroupConstants,
  type KernelDef,
  type Shape,
  type Workgroups,
} from './kernel.js';
import {
  reflectWgsl,
  type ReflectedBinding,
  type ReflectedEntryPoint,
  type ReflectedModule,
} from './reflect.js';
import type { Program } from './program.js';
import { GpuTimer } from './timing.js';
import type { TuningOptions } from './tuning-store.js';
import { packUniforms } from './uniforms.js';
import { LruCache } from '../util/lru-cache.js';

export type { BindingResource };

/**
 * What {@link GpuRuntime.prepare} binds and sizes a kernel's dispatch with. Every binding is
 * checked against the kernel's WGSL (names, buffer vs texture, and the element counts of
 * `KernelDef.elements` for `shape`); a mismatch throws an error naming the kernel and the binding.
 * K: the kernel's size names (see {@link KernelDef}).
 */
export interface PrepareOptions<K extends string = string> {
  /** Resources by WGSL variable name. Every binding the entry point uses must be given, no more. */
  bindings: Readonly<Record<string, BindingResource>>;
  /**
   * Sizes for dispatch() and elements(); fields of the uniform struct are also taken from here.
   * Required when the kernel names its sizes.
   */
  shape?: Shape<K>;
  /** Uniform struct fields not in `shape` (or overriding it). */
  uniforms?: Readonly<Record<string, number | readonly number[]>>;
  /** Extra override constants (e.g. a tile size); part of the pipeline cache key. */
  constants?: Readonly<Record<string, number>>;
  /** Appended to the kernel name in labels, e.g. 'encoder.0'. */
  label?: string;
}

/**
 * PrepareOptions for a kernel with size names K: the shape is required once the kernel declares
 * names (a KernelDef with no declared names, K = string, may go without one).
 */
export type PrepareOptionsFor<K extends string> = PrepareOptions<K> &
  (string extends K ? unknown : { shape: Shape<K> });

/**
 * Options of {@link createRuntime} and the {@link GpuRuntime} constructor. All are optional.
 *
 * @example No persisted kernel choices (in Node, WEBGPU_VAE_TUNING_CACHE=0 does the same)
 * ```ts
 * const rt = await createRuntime({ tuning: { persist: false } });
 * ```
 */
export interface RuntimeOptions {
  /** Print each WGSL module when it is first compiled (also WEBGPU_VAE_PRINT_WGSL=1). */
  printWgsl?: boolean;
  /**
   * Most pipelines kept in the cache before the least recently used is dropped (default 256; an
   * integer >= 1, or the constructor throws).
   */
  maxCachedPipelines?: number;
  /** Called for uncaptured errors and device loss; default logs to console.error. */
  onError?: (error: Error) => void;
  /** Kernel choices: persisted between runs, measured in the background (see tuning-store.ts). */
  tuning?: TuningOptions;
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  entry: ReflectedEntryPoint;
}

/**
 * Most shader modules kept: one per file under shaders/ (about 35) in practice, plus kernels with
 * inline code; a bound all the same, so generated code cannot grow the cache without end.
 */
const MAX_CACHED_MODULES = 128;

function envFlag(name: string): boolean {
  return typeof process !== 'undefined' && process.env?.[name] === '1';
}

/** What a submit records: prepared dispatches and programs (see program.ts). */
export type Work = PreparedDispatch | Program;

/**
 * The shape as dispatch() and elements() read it: a size it lacks, or one that is not a finite
 * number, is an error naming the kernel and the size, not NaN workgroups or element counts. Typed
 * call sites cannot leave a size out; a kernel prepared by name, or from JavaScript, can.
 */
function checkedShape(label: string, shape: Shape): Shape {
  return new Proxy(shape, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof name !== 'string' || (typeof value === 'number' && Number.isFinite(value))) {
        return value;
      }
      const given = Object.keys(target).join(', ') || 'none';
      const problem =
        value === undefined ? 'is missing' : `is not a finite number (${String(value)})`;
      throw new Error(`kernel '${label}': shape size '${name}' ${problem} (given: ${given})`);
    },
  });
}

function workLabels(w: Work): string[] {
  return w instanceof PreparedDispatch ? [w.label] : w.dispatches.map((d) => d.label);
}

/** A dispatch with its pipeline, bind group and uniforms made once; replays with encode(). */
export class PreparedDispatch {
  constructor(
    readonly label: string,
    readonly kernel: KernelDef,
    readonly pipeline: GPUComputePipeline,
    readonly bindGroup: GPUBindGroup,
    readonly workgroups: Workgroups,
    private readonly runtime: GpuRuntime,
    private readonly uniform:
      { buffer: GPUBuffer; binding: ReflectedBinding; data: ArrayBuffer } | undefined,
    /** When given, encode() records only when it returns true (see conditional()). */
    private readonly when?: () => boolean,
  ) {}

  /** Records the dispatch into an open compute pass. */
  encode(pass: GPUComputePassEncoder): void {
    if (this.when && !this.when()) return;
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.workgroups[0], this.workgroups[1], this.workgroups[2]);
  }

  /** Changes uniform fields (queued write; takes effect for work submitted afterwards). */
  setUniforms(values: Readonly<Record<string, number | readonly number[]>>): void {
    if (!this.uniform) throw new Error(`kernel '${this.label}' has no uniforms`);
    packUniforms(this.label, this.uniform.binding, values, this.uniform.data, false);
    this.runtime.device.queue.writeBuffer(this.uniform.buffer, 0, this.uniform.data);
  }

  /**
   * A view of this dispatch that records only when `when()` returns true at record time: shared
   * work needed once per change rather than once per run (a weight's texture pack). The view owns
   * nothing: destroying it frees nothing, and its uniforms are the original's.
   */
  conditional(when: () => boolean): PreparedDispatch {
    return new PreparedDispatch(
      this.label,
      this.kernel,
      this.pipeline,
      this.bindGroup,
      this.workgroups,
      this.runtime,
      undefined,
      when,
    );
  }

  /** Frees the dispatch's uniform buffer; the pipeline stays cached in the runtime. */
  destroy(): void {
    if (this.uniform) this.runtime.buffers.destroy(this.uniform.buffer);
  }
}

/**
 * One WebGPU device and everything made on it: shader modules and compute pipelines (created once,
 * cached by kernel and override constants), buffers (through {@link GpuRuntime.buffers}, labelled),
 * prepared dispatches, and error reporting that names the kernels involved. Every model, trainer
 * and inference object takes a runtime; they never create their own device.
 *
 * Uncaptured WebGPU errors and device loss go to {@link RuntimeOptions.onError} (default:
 * console.error) with the labels of the most recently submitted kernels.
 *
 * @example
 * ```ts
 * const rt = await createRuntime(); // a hardware adapter if there is one
 * console.log(rt.info.name, rt.timer ? 'timestamp queries' : 'no GPU timing');
 * // ... models, trainers, inference on rt ...
 * rt.destroy();
 * ```
 */
export class GpuRuntime {
  /** The device everything of this runtime lives on. */
  readonly device: GPUDevice;
  /** Allocator of the runtime's labelled GPU buffers (freed by {@link GpuRuntime.destroy}). */
  readonly buffers: BufferAllocator;
  /** Per-kernel GPU timing; undefined where the adapter lacks the 'timestamp-query' feature. */
  readonly timer: GpuTimer | undefined;
  /** How kernel choices are persisted and measured ({@link RuntimeOptions.tuning}; default {}). */
  readonly tuning: TuningOptions;
  // Both caches hold promises: concurrent callers share one compilation, a failed one is dropped,
  // and an entry evicted while compiling still resolves for those already waiting on it (nothing
  // is destroyed: WebGPU frees modules and pipelines once no pipeline or dispatch holds them).
  private readonly modules = new LruCache<
    string,
    Promise<{ module: GPUShaderModule; reflected: ReflectedModule }>
  >(MAX_CACHED_MODULES);
  private readonly pipelines: LruCache<string, Promise<CachedPipeline>>;
  private readonly printWgsl: boolean;
  private readonly onError: (error: Error) => void;
  /** Labels of the most recently submitted dispatches, named when an error is reported. */
  private lastSubmitted: string[] = [];
  private lost = false;
  private lostInfo: { reason: string; message: string } | undefined;

  /**
   * Wraps a device that {@link requestGpu} returned ({@link createRuntime} does both).
   *
   * @param info The device, its adapter and what it supports.
   */
  constructor(
    readonly info: GpuDeviceInfo,
    options: RuntimeOptions = {},
  ) {
    this.device = info.device;
    this.buffers = new BufferAllocator(this.device);
    const maxPipelines = options.maxCachedPipelines ?? 256;
    if (!Number.isInteger(maxPipelines) || maxPipelines < 1) {
      throw new Error(`runtime: maxCachedPipelines must be an integer >= 1, got ${maxPipelines}`);
    }
    this.pipelines = new LruCache(maxPipelines);
    this.printWgsl = options.printWgsl ?? envFlag('WEBGPU_VAE_PRINT_WGSL');
    this.onError = options.onError ?? ((error) => console.error(error.message));
    this.tuning = options.tuning ?? {};
    this.timer = info.features.has('timestamp-query') ? new GpuTimer(this.device) : undefined;
    this.device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      this.onError(new Error(`WebGPU error (recent kernels: ${this.recentKernels()}): ${message}`));
    });
    void this.device.lost.then((lostInfo) => {
      this.lost = true;
      this.lostInfo = { reason: lostInfo.reason, message: lostInfo.message };
      if (lostInfo.reason === 'destroyed') return;
      this.onError(
        new Error(
          `WebGPU device lost (${lostInfo.reason}): ${lostInfo.message}; recent kernels: ${this.recentKernels()}`,
        ),
      );
    });
  }

  /** True once the device is lost or this runtime destroyed. */
  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Why the device is unusable, with the work submitted last (for errors that name what was
   * running); undefined while it works.
   */
  lossReport(): string | undefined {
    if (!this.lost) return undefined;
    const info = this.lostInfo;
    const why = info
      ? `the WebGPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''})`
      : 'the GPU runtime was destroyed';
    return `${why}; the last work submitted: ${this.recentKernels()}`;
  }

  /** Labels of the last submitted dispatches (at most 8), or 'none'. */
  recentKernels(): string {
    return this.lastSubmitted.length > 0 ? this.lastSubmitted.slice(-8).join(', ') : 'none';
  }

  /**
   * The shader module for a file, compiled once (concurrent callers share one compilation); a WGSL
   * error names the file, line and kernel.
   */
  module(
    file: string,
    forKernel: string,
    inlineCode?: string,
  ): Promise<{ module: GPUShaderModule; reflected: ReflectedModule }> {
    // Inline code is keyed by its text too, so two kernels naming one file cannot collide.
    const key = inlineCode === undefined ? file : `${file}\n${inlineCode}`;
    return this.modules.getOrCreate(key, () => this.createModule(file, forKernel, inlineCode));
  }

  private async createModule(
    file: string,
    forKernel: string,
    inlineCode?: string,
  ): Promise<{ module: GPUShaderModule; reflected: ReflectedModule }> {
    const code = inlineCode ?? WGSL_SOURCES[file as ShaderFile];
    if (code === undefined) throw new Error(`kernel '${forKernel}': no shader file '${file}'`);
    if (this.printWgsl) console.log(`// ---- ${file} (first used by ${forKernel}) ----\n${code}`);
    // Push, create and pop with no await in between: concurrent callers' scopes never interleave.
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: file, code });
    const scope = this.device.popErrorScope();
    const [info, scopeError] = await Promise.all([module.getCompilationInfo(), scope]);
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0 || scopeError) {
      const detail = errors.length
        ? errors.map((m) => `${file}:${m.lineNum}:${m.linePos}: ${m.message}`).join('\n')
        : (scopeError?.message ?? '');
      throw new Error(`WGSL error in ${file} (kernel '${forKernel}'):\n${detail}`);
    }
    return { module, reflected: reflectWgsl(code, file) };
  }

  /** Pipeline for a kernel and override constants, created once (LRU cache, evicts the oldest). */
  pipeline(
    def: KernelDef,
    extraConstants: Readonly<Record<string, number>> = {},
  ): Promise<CachedPipeline> {
    const constants = { ...workgroupConstants(def), ...def.constants, ...extraConstants };
    const key = `${def.name}|${JSON.stringify(Object.entries(constants).sort())}`;
    return this.pipelines.getOrCreate(key, () => this.createPipeline(def, constants));
  }

  /** Pipelines currently in the cache (at most {@link RuntimeOptions.maxCachedPipelines}). */
  get cachedPipelineCount(): number {
    return this.pipelines.size;
  }

  private async createPipeline(
    def: KernelDef,
    constants: Record<string, number>,
  ): Promise<CachedPipeline> {
    for (const feature of def.requires ?? []) {
      if (!this.info.features.has(feature)) {
        throw new Error(
          `kernel '${def.name}' needs the '${feature}' feature, which ${this.info.name} lacks`,
        );
      }
    }
    const limit = this.device.limits.maxComputeInvocationsPerWorkgroup;
    if (invocationsPerWorkgroup(def) > limit) {
      throw new Error(
        `kernel '${def.name}': workgroup of ${invocationsPerWorkgroup(def)} invocations exceeds ${limit}`,
      );
    }
    const { module, reflected } = await this.module(def.file, def.name, def.code);
    const entry = reflected.entryPoints.get(def.entryPoint);
    if (!entry) {
      throw new Error(
        `kernel '${def.name}': ${def.file} has no compute entry point '${def.entryPoint}' ` +
          `(it has: ${[...reflected.entryPoints.keys()].join(', ')})`,
      );
    }
    for (const name of Object.keys(constants)) {
      if (!reflected.overrides.includes(name)) {
        throw new Error(`kernel '${def.name}': ${def.file} declares no 'override ${name}'`);
      }
    }
    const uniforms = entry.bindings.filter((b) => b.kind === 'uniform');
    if (uniforms.length > 1)
      throw new Error(`kernel '${def.name}': at most one uniform binding is supported`);
    for (const b of entry.bindings) {
      if (b.group !== 0)
        throw new Error(`kernel '${def.name}': binding '${b.name}' must be in @group(0)`);
    }
    // Layout objects inside a synchronous push/pop; the pipeline itself compiles asynchronously
    // (createComputePipelineAsync), so many pipelines compile at once.
    const entries = entry.bindings.map((b) => layoutEntry(def.name, b));
    this.device.pushErrorScope('validation');
    const layout = this.device.createBindGroupLayout({ label: def.name, entries });
    const pipelineLayout = this.device.createPipelineLayout({
      label: def.name,
      bindGroupLayouts: [layout],
    });
    const layoutError = this.device.popErrorScope();
    const failed = (message: string, cause?: unknown) =>
      new Error(
        `pipeline for kernel '${def.name}' (${def.file}, entry '${def.entryPoint}') failed: ${message}`,
        { cause },
      );
    const error = await layoutError;
    if (error) throw failed(error.message);
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await this.device.createComputePipelineAsync({
        label: def.name,
        layout: pipelineLayout,
        compute: { module, entryPoint: def.entryPoint, constants },
      });
    } catch (e) {
      // A GPUPipelineError (validation or internal): name the kernel, keep the original as cause.
      throw failed((e as Error).message, e);
    }
    return { pipeline, layout, entry };
  }

  /** Prepares a dispatch once: checks bindings against the WGSL, makes the bind group and uniforms. */
  async prepare<K extends string>(
    kernel: KernelDef<K> | string,
    // NoInfer: K comes from the kernel alone, so the shape is checked against it, not widened.
    options: PrepareOptionsFor<NoInfer<K>>,
  ): Promise<PreparedDispatch> {
    const def: KernelDef = typeof kernel === 'string' ? getKernel(kernel) : kernel;
    const label = options.label ? `${def.name}[${options.label}]` : def.name;
    const shape: Shape = options.shape ?? {};
    const sizes = checkedShape(label, shape);
    const { pipeline, layout, entry } = await this.pipeline(def, options.constants);
    const required = def.elements?.(sizes) ?? {};
    checkBindings(label, entry, options.bindings, required);

    let uniform: { buffer: GPUBuffer; binding: ReflectedBinding; data: ArrayBuffer } | undefined;
    const entries: GPUBindGroupEntry[] = [];
    for (const b of entry.bindings) {
      if (b.kind === 'uniform') {
        const data = new ArrayBuffer(roundUp(b.uniformSize, 16));
        // Fields come from the shape unless given as uniforms; packUniforms rejects unknown names.
        const values: Record<string, number | readonly number[]> = {};
        for (const field of b.uniformFields) {
          const v = shape[field.name];
          if (v !== undefined) values[field.name] = v;
        }
        Object.assign(values, options.uniforms);
        packUniforms(label, b, values, data, true);
        const buffer = this.buffers.create(
          `${label}:${b.name}`,
          data.byteLength,
          GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        );
        this.device.queue.writeBuffer(buffer, 0, data);
        uniform = { buffer, binding: b, data };
        entries.push({ binding: b.binding, resource: { buffer } });
        continue;
      }
      const resource = options.bindings[b.name]!;
      if (b.kind === 'texture' || b.kind === 'storage-texture') {
        entries.push({ binding: b.binding, resource: resource as GPUTextureView });
      } else if (IS_BUFFER_RANGE(resource)) {
        entries.push({
          binding: b.binding,
          resource: { buffer: resource.buffer, offset: resource.offset, size: resource.size },
        });
      } else {
        entries.push({ binding: b.binding, resource: { buffer: resource as GPUBuffer } });
      }
    }
    if (!uniform && options.uniforms && Object.keys(options.uniforms).length > 0) {
      throw new Error(`kernel '${label}' has no uniform struct, but uniforms were given`);
    }
    const workgroups = def.dispatch(sizes);
    const maxPerDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (workgroups.some((n) => !Number.isInteger(n) || n < 0 || n > maxPerDim)) {
      throw new Error(
        `kernel '${label}': dispatch [${workgroups.join(', ')}] exceeds ${maxPerDim} workgroups per dimension`,
      );
    }
    this.device.pushErrorScope('validation');
    const bindGroup = this.device.createBindGroup({ label, layout, entries });
    const error = await this.device.popErrorScope();
    if (error) throw new Error(`bind group for kernel '${label}' is invalid: ${error.message}`);
    return new PreparedDispatch(label, def, pipeline, bindGroup, workgroups, this, uniform);
  }

  /**
   * Records dispatches and programs, in order, into one compute pass of one command buffer and
   * submits it. Does not wait for the GPU. `encoderHook` may add commands after the pass.
   */
  submit(
    work: readonly Work[],
    label = 'step',
    encoderHook?: (encoder: GPUCommandEncoder) => void,
  ): void {
    const encoder = this.device.createCommandEncoder({ label });
    const pass = encoder.beginComputePass({ label });
    for (const w of work) w.encode(pass);
    pass.end();
    encoderHook?.(encoder);
    this.noteSubmitted(work);
    this.device.queue.submit([encoder.finish()]);
  }

  /** Remembers what was submitted last, so an error or device loss can name the kernels. */
  noteSubmitted(work: readonly Work[]): void {
    this.lastSubmitted = work.flatMap(workLabels);
  }

  /** Like submit(), inside a validation scope: rejects with the kernel labels if anything is invalid. */
  async submitChecked(work: readonly Work[], label = 'step'): Promise<void> {
    this.device.pushErrorScope('validation');
    this.submit(work, label);
    const error = await this.device.popErrorScope();
    if (error) {
      throw new Error(
        `submit '${label}' failed (kernels: ${work.flatMap(workLabels).join(', ')}): ${error.message}`,
      );
    }
  }

  /** Waits until the queue is idle (tests and benchmarks; never inside a training step). */
  async finish(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
  }

  /**
   * Destroys every buffer made through {@link GpuRuntime.buffers}, the timer and the device. The
   * runtime is lost from then on ({@link GpuRuntime.isLost}), and nothing made on it (models,
   * trainers, inference objects) may be used afterwards.
   */
  destroy(): void {
    // Lost from now on: background work (matmul measuring) stops instead of using a dead device.
    this.lost = true;
    this.buffers.destroyAll();
    this.timer?.destroy();
    this.device.destroy();
  }
}

function layoutEntry(kernelName: string, b: ReflectedBinding): GPUBindGroupLayoutEntry {
  const base = { binding: b.binding, visibility: GPUShaderStage.COMPUTE };
  switch (b.kind) {
    case 'uniform':
      return { ...base, buffer: { type: 'uniform', minBindingSize: b.uniformSize } };
    case 'storage':
      return { ...base, buffer: { type: 'storage' } };
    case 'read-only-storage':
      return { ...base, buffer: { type: 'read-only-storage' } };
    case 'texture':
      return { ...base, texture: { sampleType: 'unfilterable-float', viewDimension: '2d' } };
    case 'storage-texture':
      if (!b.textureFormat)
        throw new Error(`kernel '${kernelName}': storage texture '${b.name}' has no format`);
      return {
        ...base,
        storageTexture: {
          format: b.textureFormat as GPUTextureFormat,
          // Cast: older @webgpu/types (pulled in by tfjs in the benchmark) know only 'write-only'.
          access: (b.textureAccess === 'read_write'
            ? 'read-write'
            : b.textureAccess === 'read'
              ? 'read-only'
              : 'write-only') as GPUStorageTextureAccess,
        },
      };
  }
}

/** Requests a device (see requestGpu) and wraps it in a runtime. */
export async function createRuntime(
  options: RequestGpuOptions & RuntimeOptions = {},
): Promise<GpuRuntime> {
  const info = await requestGpu(options);
  try {
    return new GpuRuntime(info, options);
  } catch (error) {
    info.device.destroy();
    throw error;
  }
}
