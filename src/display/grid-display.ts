// GPU-direct display of decoded images: a compute pass tiles (N, H, W) values into packed RGBA8
// texels through a colour-map LUT (shaders/display.wgsl), then copyBufferToTexture puts them into
// the target texture: a canvas's current texture, or any texture with COPY_DST usage. No readback.
import type { BufferRange } from '../gpu/buffers.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import type { Colormap } from '../image/grid.js';
import { displayTiles } from '../kernels/display.js';
import { WGSL_SOURCES } from '../shaders/wgsl.generated.js';
import {
  gridLayout,
  packedLut,
  type DisplayFormat,
  type GridLayout,
  type GridLayoutOptions,
} from './layout.js';

/** Options of GridDisplay.create: the source images, their size and how they are drawn. */
export interface GridDisplayOptions extends GridLayoutOptions {
  /** The images, (n, height, width) floats. */
  source: BufferRange;
  n: number;
  height: number;
  width: number;
  colormap?: Colormap;
  /** Byte order of the target texture (default rgba8unorm). */
  format?: DisplayFormat;
  /** Values mapped to the ends of the colour map (default [0, 1]). */
  range?: readonly [number, number];
  /** Background as a value in the range (default the range's low end). */
  background?: number;
  label?: string;
}

/**
 * Something the display draws into: the tiled texels are copied into `texture()` (COPY_DST,
 * layout.width × layout.height), then `finish` (when present) records what brings them to the
 * screen, e.g. the blit render pass into a canvas's current texture.
 */
export interface DisplayTarget {
  readonly format: DisplayFormat;
  /** The texture to draw into this frame. */
  texture(): GPUTexture;
  /** Records what must follow the draw (e.g. a copy to a canvas), if anything. */
  finish?(encoder: GPUCommandEncoder): void;
}

/**
 * Tiles a batch of images from a GPU buffer into a colour-mapped picture with one compute pass
 * (no readback) and draws it into a DisplayTarget.
 */
export class GridDisplay {
  readonly layout: GridLayout;
  /** Packed texels, layout.height rows of layout.rowStride. */
  readonly pixels: BufferRange;
  private readonly lut: BufferRange;

  private constructor(
    readonly rt: GpuRuntime,
    layout: GridLayout,
    pixels: BufferRange,
    lut: BufferRange,
    private readonly dispatch: PreparedDispatch,
    private format: DisplayFormat,
  ) {
    this.layout = layout;
    this.pixels = pixels;
    this.lut = lut;
  }

  /** Checks the options, allocates the picture and prepares the tiling pass. */
  static async create(rt: GpuRuntime, o: GridDisplayOptions): Promise<GridDisplay> {
    const layout = gridLayout(o.n, o.height, o.width, o);
    const count = o.n * o.height * o.width;
    if (o.source.size < count * 4) {
      throw new Error(
        `display: the source holds ${Math.floor(o.source.size / 4)} floats, ${o.n} images of ${o.height}×${o.width} need ${count}`,
      );
    }
    const [vmin, vmax] = o.range ?? [0, 1];
    if (!Number.isFinite(vmin) || !Number.isFinite(vmax) || !(vmax > vmin)) {
      throw new Error(`display: range must be finite with max > min, got [${vmin}, ${vmax}]`);
    }
    const background = o.background ?? vmin;
    const bgIndex = Math.min(
      255,
      Math.max(0, Math.round(((background - vmin) / (vmax - vmin)) * 255)),
    );
    const format = o.format ?? 'rgba8unorm';
    const label = o.label ?? 'display';
    const lutData = packedLut(o.colormap ?? 'gray', format);
    const lut = rt.buffers.upload(`${label}.lut`, lutData);
    const pixels = rt.buffers.storage(`${label}.pixels`, layout.rowStride * layout.height * 4);
    try {
      const dispatch = await rt.prepare(displayTiles, {
        bindings: { disp_pixels: pixels, disp_images: o.source, disp_lut: lut },
        shape: {
          n: o.n,
          img_h: o.height,
          img_w: o.width,
          cols: layout.cols,
          padding: layout.padding,
          out_w: layout.width,
          out_h: layout.height,
          row_stride: layout.rowStride,
        },
        uniforms: { background: bgIndex, vmin, inv_range: 1 / (vmax - vmin) },
        label,
      });
      return new GridDisplay(rt, layout, pixels, lut, dispatch, format);
    } catch (error) {
      rt.buffers.destroy(lut.buffer);
      rt.buffers.destroy(pixels.buffer);
      throw error;
    }
  }

  /** Changes the colour map (a 1 KiB upload). */
  setColormap(colormap: Colormap, format: DisplayFormat = this.format): void {
    this.format = format;
    const data = packedLut(colormap, format);
    this.rt.device.queue.writeBuffer(this.lut.buffer, this.lut.offset, data);
  }

  /** Records the tiling dispatch into an open compute pass. */
  encodeTiles(pass: GPUComputePassEncoder): void {
    this.dispatch.encode(pass);
  }

  /** Records the copy of the tiled texels into the target (after the compute pass has ended). */
  encodeCopy(encoder: GPUCommandEncoder, target: DisplayTarget): void {
    this.copyTo(encoder, target.texture());
    target.finish?.(encoder);
  }

  /** Records the copy of the tiled texels into a texture. */
  copyTo(encoder: GPUCommandEncoder, texture: GPUTexture): void {
    const { width, height, rowStride } = this.layout;
    if (texture.width < width || texture.height < height) {
      throw new Error(
        `display: the target is ${texture.width}×${texture.height}, the grid needs ${width}×${height}`,
      );
    }
    encoder.copyBufferToTexture(
      { buffer: this.pixels.buffer, offset: this.pixels.offset, bytesPerRow: rowStride * 4 },
      { texture },
      { width, height },
    );
  }

  /** Tiles and copies into the target in one submit. */
  draw(target: DisplayTarget): void {
    const encoder = this.rt.device.createCommandEncoder({ label: 'display.draw' });
    const pass = encoder.beginComputePass({ label: 'display.tiles' });
    this.encodeTiles(pass);
    pass.end();
    this.encodeCopy(encoder, target);
    this.rt.device.queue.submit([encoder.finish()]);
  }

  /** Frees the GPU objects of the display. */
  destroy(): void {
    this.dispatch.destroy();
    this.rt.buffers.destroy(this.lut.buffer);
    this.rt.buffers.destroy(this.pixels.buffer);
  }
}

/** A texture target of a fixed size (offscreen rendering, tests). */
export function textureTarget(
  rt: GpuRuntime,
  layout: GridLayout,
  format: DisplayFormat = 'rgba8unorm',
): DisplayTarget & {
  readonly gpuTexture: GPUTexture;
  /** Frees the texture. */
  destroy(): void;
} {
  const gpuTexture = rt.device.createTexture({
    label: 'display.target',
    size: { width: layout.width, height: layout.height },
    format,
    usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.TEXTURE_BINDING,
  });
  return { format, gpuTexture, texture: () => gpuTexture, destroy: () => gpuTexture.destroy() };
}

const blitPipelines = new WeakMap<GPUDevice, Map<GPUTextureFormat, GPURenderPipeline>>();

function blitPipeline(device: GPUDevice, format: GPUTextureFormat): GPURenderPipeline {
  let byFormat = blitPipelines.get(device);
  if (!byFormat) {
    byFormat = new Map();
    blitPipelines.set(device, byFormat);
  }
  let pipeline = byFormat.get(format);
  if (!pipeline) {
    const module = device.createShaderModule({
      label: 'display.wgsl (blit)',
      code: WGSL_SOURCES['display.wgsl'],
    });
    pipeline = device.createRenderPipeline({
      label: 'display_blit',
      layout: 'auto',
      vertex: { module, entryPoint: 'display_blit_vs' },
      fragment: { module, entryPoint: 'display_blit_fs', targets: [{ format }] },
      primitive: { topology: 'triangle-list' },
    });
    byFormat.set(format, pipeline);
  }
  return pipeline;
}

/**
 * A target drawn by a render pass: the texels go into an rgba8unorm texture, and a full-screen
 * triangle copies it texel for texel into `output()` (any renderable format, RENDER_ATTACHMENT
 * usage is all it needs: a canvas's current texture).
 */
export function blitTarget(
  rt: GpuRuntime,
  layout: GridLayout,
  output: () => GPUTexture,
  outputFormat: GPUTextureFormat,
): DisplayTarget & {
  /** Frees the target's GPU objects. */
  destroy(): void;
} {
  const device = rt.device;
  const staging = device.createTexture({
    label: 'display.staging',
    size: { width: layout.width, height: layout.height },
    format: 'rgba8unorm',
    usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.TEXTURE_BINDING,
  });
  const pipeline = blitPipeline(device, outputFormat);
  const bindGroup = device.createBindGroup({
    label: 'display_blit',
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: staging.createView() }],
  });
  return {
    format: 'rgba8unorm',
    texture: () => staging,
    finish: (encoder) => {
      const pass = encoder.beginRenderPass({
        label: 'display_blit',
        colorAttachments: [
          {
            view: output().createView(),
            loadOp: 'clear',
            storeOp: 'store',
            clearValue: { r: 0, g: 0, b: 0, a: 1 },
          },
        ],
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.setViewport(0, 0, layout.width, layout.height, 0, 1);
      pass.draw(3);
      pass.end();
    },
    destroy: () => staging.destroy(),
  };
}

/** Options of {@link canvasTarget}. */
export interface CanvasTargetOptions {
  /**
   * Draw through the blit render pass even where the texels could be copied straight into the
   * canvas texture (default false: the blit only for canvas formats the display cannot write).
   */
  blit?: boolean;
}

/**
 * A canvas as a display target, sized to the layout (CSS may scale it; use image-rendering:
 * pixelated), configured in the preferred format. Where that format is rgba8unorm or bgra8unorm
 * (the display kernel writes either byte order) the canvas is configured with COPY_DST and the
 * tiled texels are copied straight into its current texture: nothing else per frame. Other formats
 * (or `blit`) go through the blit render pass.
 */
export function canvasTarget(
  rt: GpuRuntime,
  canvas: HTMLCanvasElement | OffscreenCanvas,
  layout: GridLayout,
  options: CanvasTargetOptions = {},
): DisplayTarget & {
  /** Frees the target's GPU objects. */
  destroy(): void;
} {
  const context = canvas.getContext('webgpu') as GPUCanvasContext | null;
  if (!context)
    throw new Error('display: the canvas has no WebGPU context (getContext returned null)');
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const format = gpu?.getPreferredCanvasFormat() ?? 'rgba8unorm';
  canvas.width = layout.width;
  canvas.height = layout.height;
  if (!options.blit && (format === 'rgba8unorm' || format === 'bgra8unorm')) {
    context.configure({
      device: rt.device,
      format,
      alphaMode: 'opaque',
      usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_DST,
    });
    return { format, texture: () => context.getCurrentTexture(), destroy: () => {} };
  }
  context.configure({ device: rt.device, format, alphaMode: 'opaque' });
  return blitTarget(rt, layout, () => context.getCurrentTexture(), format);
}

/** Reads a texture's texels back (tests): rows of width × 4 bytes. */
export async function readTexture(
  rt: GpuRuntime,
  texture: GPUTexture,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const stride = Math.ceil((width * 4) / 256) * 256;
  const buffer = rt.device.createBuffer({
    label: 'display.readback',
    size: stride * height,
    usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
  });
  try {
    const encoder = rt.device.createCommandEncoder({ label: 'display.readback' });
    encoder.copyTextureToBuffer({ texture }, { buffer, bytesPerRow: stride }, { width, height });
    rt.device.queue.submit([encoder.finish()]);
    await buffer.mapAsync(GPUMapMode.READ);
    const mapped = new Uint8Array(buffer.getMappedRange());
    const out = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++)
      out.set(mapped.subarray(y * stride, y * stride + width * 4), y * width * 4);
    buffer.unmap();
    return out;
  } finally {
    buffer.destroy();
  }
}
