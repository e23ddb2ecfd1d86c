// The runtime around one device: shader modules and pipelines created once (inside error scopes,
// cached by kernel + override constants), explicit bind group layouts from reflection, checked
// bindings, prepared dispatches that replay without creating GPU objects, and error reporting that
// names the kernel involved.
import { WGSL_SOURCES, type ShaderFile } from '../shaders/wgsl.generated.js';
import { BufferAllocator, roundUp, type BufferRange } from './buffers.js';
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
import { GpuTimer } from './timing.js';

/** What a kernel binding takes: a buffer range, a whole buffer or a texture view. */
export type BindingResource = BufferRange | GPUBuffer | GPUTextureView;

/** How GpuRuntime.prepare binds and sizes one dispatch of a kernel. */
export interface PrepareOptions {
  /** Resources by WGSL variable name. Every binding the entry point uses must be given, no more. */
  bindings: Readonly<Record<string, BindingResource>>;
  /** Sizes for dispatch() and elements(); fields of the uniform struct are also taken from here. */
  shape?: Shape;
  /** Uniform struct fields not in `shape` (or overriding it). */
  uniforms?: Readonly<Record<string, number | readonly number[]>>;
  /** Extra override constants (e.g. a tile size); part of the pipeline cache key. */
  constants?: Readonly<Record<string, number>>;
  /** Appended to the kernel name in labels, e.g. 'encoder.0'. */
  label?: string;
}

/** Options of createRuntime (with those of requestGpu). */
export interface RuntimeOptions {
  /** Print each WGSL module when it is first compiled (also WEBGPU_VAE_PRINT_WGSL=1). */
  printWgsl?: boolean;
  /** Most pipelines kept in the cache before the least recently used is dropped. */
  maxCachedPipelines?: number;
  /** Called for uncaptured errors and device loss; default logs to console.error. */
  onError?: (error: Error) => void;
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  entry: ReflectedEntryPoint;
}

const IS_BUFFER_RANGE = (r: BindingResource): r is BufferRange =>
  typeof r === 'object' && r !== null && 'buffer' in r && 'offset' in r;
const IS_BUFFER = (r: BindingResource): r is GPUBuffer =>
  typeof r === 'object' && r !== null && 'mapAsync' in r && 'size' in r;

function envFlag(name: string): boolean {
  return typeof process !== 'undefined' && process.env?.[name] === '1';
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
  ) {}

  /** Records the dispatch into an open compute pass. */
  encode(pass: GPUComputePassEncoder): void {
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

  /** Frees the dispatch's uniform buffer; the pipeline stays cached in the runtime. */
  destroy(): void {
    if (this.uniform) this.runtime.buffers.destroy(this.uniform.buffer);
  }
}

/**
 * One dispatch made of several, for kernels that need more than one pass (texture packing before a
 * matmul, partial sums before a reduction): encode() records every part in order, destroy() runs
 * `cleanup`. Label, kernel and uniforms are those of `primary` (one of the parts).
 */
export function composeDispatches(
  primary: PreparedDispatch,
  parts: readonly PreparedDispatch[],
  cleanup: () => void,
): PreparedDispatch {
  const d = Object.create(primary) as PreparedDispatch;
  d.encode = (pass: GPUComputePassEncoder) => {
    for (const p of parts) p.encode(pass);
  };
  d.destroy = cleanup;
  return d;
}

/** Writes uniform values into `data` by the reflected layout. */
export function packUniforms(
  kernelLabel: string,
  binding: ReflectedBinding,
  values: Readonly<Record<string, number | readonly number[]>>,
  data: ArrayBuffer,
  requireAll: boolean,
): void {
  const view = new DataView(data);
  const known = new Set(binding.uniformFields.map((f) => f.name));
  for (const key of Object.keys(values)) {
    if (!known.has(key)) {
      throw new Error(
        `kernel '${kernelLabel}': uniform '${binding.name}' has no field '${key}' (fields: ${[...known].join(', ')})`,
      );
    }
  }
  for (const field of binding.uniformFields) {
    const value = values[field.name];
    if (value === undefined) {
      if (requireAll) {
        throw new Error(
          `kernel '${kernelLabel}': uniform field '${binding.name}.${field.name}' was not given`,
        );
      }
      continue;
    }
    const parts = typeof value === 'number' ? [value] : value;
    if (parts.length !== field.components) {
      throw new Error(
        `kernel '${kernelLabel}': uniform field '${field.name}' needs ${field.components} values, got ${parts.length}`,
      );
    }
    parts.forEach((part, i) => {
      const offset = field.offset + 4 * i;
      if (!Number.isFinite(part)) {
        throw new Error(`kernel '${kernelLabel}': uniform field '${field.name}' is ${part}`);
      }
      if (field.type === 'f32') view.setFloat32(offset, part, true);
      else if (field.type === 'u32') {
        if (!Number.isInteger(part) || part < 0 || part > 0xffffffff) {
          throw new Error(
            `kernel '${kernelLabel}': uniform field '${field.name}' (u32) got ${part}`,
          );
        }
        view.setUint32(offset, part, true);
      } else {
        if (!Number.isInteger(part) || part < -0x80000000 || part > 0x7fffffff) {
          throw new Error(
            `kernel '${kernelLabel}': uniform field '${field.name}' (i32) got ${part}`,
          );
        }
        view.setInt32(offset, part, true);
      }
    });
  }
}

/**
 * A WebGPU device with a pipeline cache and a buffer allocator: prepares kernels (declared with
 * defineKernel) into dispatches whose bindings are checked against the WGSL, and submits them.
 * Made by createRuntime.
 */
export class GpuRuntime {
  readonly device: GPUDevice;
  readonly buffers: BufferAllocator;
  readonly timer: GpuTimer | undefined;
  private readonly modules = new Map<
    string,
    { module: GPUShaderModule; reflected: ReflectedModule }
  >();
  private readonly pipelines = new Map<string, Promise<CachedPipeline>>();
  private readonly maxCachedPipelines: number;
  private readonly printWgsl: boolean;
  private readonly onError: (error: Error) => void;
  /** Labels of the most recently submitted dispatches, named when an error is reported. */
  private lastSubmitted: string[] = [];
  private lost = false;

  constructor(
    readonly info: GpuDeviceInfo,
    options: RuntimeOptions = {},
  ) {
    this.device = info.device;
    this.buffers = new BufferAllocator(this.device);
    this.maxCachedPipelines = options.maxCachedPipelines ?? 256;
    this.printWgsl = options.printWgsl ?? envFlag('WEBGPU_VAE_PRINT_WGSL');
    this.onError = options.onError ?? ((error) => console.error(error.message));
    this.timer = info.features.has('timestamp-query') ? new GpuTimer(this.device) : undefined;
    this.device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      this.onError(new Error(`WebGPU error (recent kernels: ${this.recentKernels()}): ${message}`));
    });
    void this.device.lost.then((lostInfo) => {
      this.lost = true;
      if (lostInfo.reason === 'destroyed') return;
      this.onError(
        new Error(
          `WebGPU device lost (${lostInfo.reason}): ${lostInfo.message}; recent kernels: ${this.recentKernels()}`,
        ),
      );
    });
  }

  get isLost(): boolean {
    return this.lost;
  }

  private recentKernels(): string {
    return this.lastSubmitted.length > 0 ? this.lastSubmitted.slice(-8).join(', ') : 'none';
  }

  /** The shader module for a file, compiled once; a WGSL error names the file, line and kernel. */
  async module(
    file: string,
    forKernel: string,
    inlineCode?: string,
  ): Promise<{ module: GPUShaderModule; reflected: ReflectedModule }> {
    // Inline code is keyed by its text too, so two kernels naming one file cannot collide.
    const key = inlineCode === undefined ? file : `${file}\n${inlineCode}`;
    const cached = this.modules.get(key);
    if (cached) return cached;
    const code = inlineCode ?? WGSL_SOURCES[file as ShaderFile];
    if (code === undefined) throw new Error(`kernel '${forKernel}': no shader file '${file}'`);
    if (this.printWgsl) console.log(`// ---- ${file} (first used by ${forKernel}) ----\n${code}`);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: file, code });
    const info = await module.getCompilationInfo();
    const scopeError = await this.device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0 || scopeError) {
      const detail = errors.length
        ? errors.map((m) => `${file}:${m.lineNum}:${m.linePos}: ${m.message}`).join('\n')
        : (scopeError?.message ?? '');
      throw new Error(`WGSL error in ${file} (kernel '${forKernel}'):\n${detail}`);
    }
    const reflected = reflectWgsl(code, file);
    const entry = { module, reflected };
    this.modules.set(key, entry);
    return entry;
  }

  /** Pipeline for a kernel and override constants, created once (LRU cache, evicts the oldest). */
  pipeline(
    def: KernelDef,
    extraConstants: Readonly<Record<string, number>> = {},
  ): Promise<CachedPipeline> {
    const constants = { ...workgroupConstants(def), ...def.constants, ...extraConstants };
    const key = `${def.name}|${JSON.stringify(Object.entries(constants).sort())}`;
    const cached = this.pipelines.get(key);
    if (cached) {
      this.pipelines.delete(key);
      this.pipelines.set(key, cached);
      return cached;
    }
    const created = this.createPipeline(def, constants);
    this.pipelines.set(key, created);
    created.catch(() => this.pipelines.delete(key));
    while (this.pipelines.size > this.maxCachedPipelines) {
      const oldest = this.pipelines.keys().next().value as string;
      this.pipelines.delete(oldest);
    }
    return created;
  }

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
    const layout = this.device.createBindGroupLayout({
      label: def.name,
      entries: entry.bindings.map((b) => layoutEntry(def.name, b)),
    });
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('internal');
    const pipeline = this.device.createComputePipeline({
      label: def.name,
      layout: this.device.createPipelineLayout({ label: def.name, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: def.entryPoint, constants },
    });
    const internal = await this.device.popErrorScope();
    const validation = await this.device.popErrorScope();
    const error = validation ?? internal;
    if (error) {
      throw new Error(
        `pipeline for kernel '${def.name}' (${def.file}, entry '${def.entryPoint}') failed: ${error.message}`,
      );
    }
    return { pipeline, layout, entry };
  }

  /** Prepares a dispatch once: checks bindings against the WGSL, makes the bind group and uniforms. */
  async prepare(kernel: KernelDef | string, options: PrepareOptions): Promise<PreparedDispatch> {
    const def = typeof kernel === 'string' ? getKernel(kernel) : kernel;
    const label = options.label ? `${def.name}[${options.label}]` : def.name;
    const shape = options.shape ?? {};
    const { pipeline, layout, entry } = await this.pipeline(def, options.constants);
    const required = def.elements?.(shape) ?? {};
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
    const workgroups = def.dispatch(shape);
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
   * Records dispatches into one command buffer and submits it. Does not wait for the GPU. With
   * `timed`, each dispatch gets its own pass with timestamp writes (see GpuTimer).
   */
  submit(
    dispatches: readonly PreparedDispatch[],
    label = 'step',
    encoderHook?: (encoder: GPUCommandEncoder) => void,
  ): void {
    const encoder = this.device.createCommandEncoder({ label });
    const pass = encoder.beginComputePass({ label });
    for (const d of dispatches) d.encode(pass);
    pass.end();
    encoderHook?.(encoder);
    this.lastSubmitted = dispatches.map((d) => d.label);
    this.device.queue.submit([encoder.finish()]);
  }

  /** Like submit(), inside a validation scope: rejects with the kernel labels if anything is invalid. */
  async submitChecked(dispatches: readonly PreparedDispatch[], label = 'step'): Promise<void> {
    this.device.pushErrorScope('validation');
    this.submit(dispatches, label);
    const error = await this.device.popErrorScope();
    if (error) {
      throw new Error(
        `submit '${label}' failed (kernels: ${dispatches.map((d) => d.label).join(', ')}): ${error.message}`,
      );
    }
  }

  /** Waits until the queue is idle (tests and benchmarks; never inside a training step). */
  async finish(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Frees every buffer it made and destroys the device. */
  destroy(): void {
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

/** Checks names, kinds, usages, sizes and aliasing of what a caller binds, before the GPU sees it. */
export function checkBindings(
  label: string,
  entry: ReflectedEntryPoint,
  given: Readonly<Record<string, BindingResource>>,
  requiredElements: Readonly<Record<string, number>>,
): void {
  const expected = entry.bindings.filter((b) => b.kind !== 'uniform');
  const expectedNames = expected.map((b) => b.name);
  const missing = expectedNames.filter((n) => !(n in given));
  const extra = Object.keys(given).filter((n) => !expectedNames.includes(n));
  if (missing.length || extra.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.join(', ')}`);
    if (extra.length) parts.push(`unknown ${extra.join(', ')}`);
    throw new Error(
      `kernel '${label}': binding mismatch: ${parts.join('; ')} (expects: ${expectedNames.join(', ')})`,
    );
  }
  const ranges: {
    name: string;
    buffer: GPUBuffer;
    start: number;
    end: number;
    writable: boolean;
  }[] = [];
  for (const b of expected) {
    const resource = given[b.name]!;
    const isTexture = b.kind === 'texture' || b.kind === 'storage-texture';
    const isBuffer = IS_BUFFER_RANGE(resource) || IS_BUFFER(resource);
    if (isTexture && isBuffer) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' is a ${b.kind} but a buffer was given`,
      );
    }
    if (isTexture) continue;
    if (!isBuffer)
      throw new Error(`kernel '${label}': binding '${b.name}' needs a buffer (${b.kind})`);
    const range: BufferRange = IS_BUFFER_RANGE(resource)
      ? resource
      : { buffer: resource as GPUBuffer, offset: 0, size: (resource as GPUBuffer).size };
    if (!(range.buffer.usage & GPUBufferUsage.STORAGE)) {
      throw new Error(
        `kernel '${label}': buffer '${range.buffer.label}' bound to '${b.name}' lacks STORAGE usage`,
      );
    }
    if (range.offset + range.size > range.buffer.size || range.size <= 0) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' range [${range.offset}, ${range.offset + range.size}) is outside buffer '${range.buffer.label}' (${range.buffer.size} bytes)`,
      );
    }
    if (b.elementBytes > 0 && range.size % b.elementBytes !== 0) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' is ${range.size} bytes, not a multiple of its ${b.elementBytes}-byte element`,
      );
    }
    const need = requiredElements[b.name];
    if (need !== undefined && b.elementBytes > 0 && range.size < need * b.elementBytes) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' holds ${range.size / b.elementBytes} elements, the shape needs ${need}`,
      );
    }
    ranges.push({
      name: b.name,
      buffer: range.buffer,
      start: range.offset,
      end: range.offset + range.size,
      writable: b.kind === 'storage',
    });
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const a = ranges[i]!;
      const c = ranges[j]!;
      if (a.buffer !== c.buffer) continue;
      if (a.start < c.end && c.start < a.end && (a.writable || c.writable)) {
        throw new Error(
          `kernel '${label}': bindings '${a.name}' and '${c.name}' overlap and one is written`,
        );
      }
      // WebGPU validates usage per buffer, not per range: read-write and read-only storage of
      // one buffer in the same dispatch is an error even when the ranges are disjoint.
      if (a.writable !== c.writable) {
        throw new Error(
          `kernel '${label}': '${a.name}' and '${c.name}' bind the same buffer ` +
            `'${a.buffer.label}' as read-write and read-only storage (WebGPU forbids that in one ` +
            'dispatch even for disjoint ranges; use separate buffers)',
        );
      }
    }
  }
}

/** Requests a device (see requestGpu) and wraps it in a runtime. */
export async function createRuntime(
  options: RequestGpuOptions & RuntimeOptions = {},
): Promise<GpuRuntime> {
  const info = await requestGpu(options);
  return new GpuRuntime(info, options);
}
