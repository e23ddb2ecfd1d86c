// Latent views redrawn at frame rate: codes generated on the GPU (shaders/latent.wgsl), decoded by
// a DecoderProgram, tiled and colour-mapped into the target (shaders/display.wgsl), all in one
// submit per frame; per frame the CPU uploads only a base code (Z floats) and a few uniforms.
// TraversalLoop drives a view with requestAnimationFrame and counts frames per second.
import type { BufferRange } from '../gpu/buffers.js';
import type { PreparedDispatch } from '../gpu/runtime.js';
import type { Colormap } from '../image/grid.js';
import { latentCodeUniforms, prepareLatentCodes, type LatentCodeSpec } from '../kernels/latent.js';
import type { DecoderProgram, Labels, VaeInference } from '../vae/inference.js';
import { GridDisplay, type DisplayTarget } from './grid-display.js';
import { FpsCounter, type GridLayout } from './layout.js';

/** Options of LatentView.create: the grid of codes, how they are generated, and how they are drawn. */
export interface LatentViewOptions {
  /** Codes drawn: a grid of rows × cols images. */
  rows: number;
  cols: number;
  /** How codes are generated from the base (and the second anchor for lerp/slerp). */
  spec: LatentCodeSpec;
  /** Image size (default a square of inputSize). */
  imageHeight?: number;
  imageWidth?: number;
  padding?: number;
  colormap?: Colormap;
  /** Learned-sigma decoders: mean + alpha·σ. */
  alpha?: number;
  /** Conditional models: the labels the codes are decoded under (required there). */
  labels?: Labels;
  label?: string;
}

/**
 * Latent codes decoded and drawn on the GPU in one submit per frame: code generation, the decoder
 * and the grid display, for sliders, traversals and manifolds at frame rate.
 */
export class LatentView {
  readonly n: number;
  readonly layout: GridLayout;
  private spec: LatentCodeSpec;
  private disposed = false;

  private constructor(
    readonly inference: VaeInference,
    readonly target: DisplayTarget,
    readonly program: DecoderProgram,
    readonly display: GridDisplay,
    private readonly codes: PreparedDispatch,
    private readonly anchors: BufferRange,
    options: LatentViewOptions,
  ) {
    this.n = options.rows * options.cols;
    this.layout = display.layout;
    this.spec = { ...options.spec, cols: options.spec.cols ?? options.cols };
  }

  /** Prepares the decoder program, the code generator and the display. */
  static async create(
    inference: VaeInference,
    target: DisplayTarget,
    options: LatentViewOptions,
  ): Promise<LatentView> {
    const { inputSize: D, latentSize: Z } = inference.config;
    const n = options.rows * options.cols;
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(
        `latent view: rows and cols must be positive integers, got ${options.rows}×${options.cols}`,
      );
    }
    const side = Math.round(Math.sqrt(D));
    const height = options.imageHeight ?? (side * side === D ? side : 1);
    const width = options.imageWidth ?? (side * side === D ? side : D);
    if (height * width !== D) {
      throw new Error(`latent view: images of ${height}×${width} do not hold ${D} values`);
    }
    const spec = { ...options.spec, cols: options.spec.cols ?? options.cols };
    latentCodeUniforms(spec, n, Z);
    const rt = inference.rt;
    const label = options.label ?? 'latent-view';
    const program = await inference.createDecoderProgram(n, {
      alpha: options.alpha ?? 0,
      ...(options.labels !== undefined ? { labels: options.labels } : {}),
    });
    const anchors = rt.buffers.storage(`${label}.anchors`, 8 * Z);
    let display: GridDisplay | undefined;
    try {
      display = await GridDisplay.create(rt, {
        source: program.images,
        n,
        height,
        width,
        columns: options.cols,
        ...(options.padding !== undefined ? { padding: options.padding } : {}),
        colormap: options.colormap ?? 'gray',
        format: target.format,
        label: `${label}.display`,
      });
      const codes = await prepareLatentCodes(rt, {
        codes: program.z,
        anchors,
        spec,
        rows: n,
        latent: Z,
        label: `${label}.codes`,
      });
      return new LatentView(inference, target, program, display, codes, anchors, options);
    } catch (error) {
      display?.destroy();
      program.destroy();
      rt.buffers.destroy(anchors.buffer);
      throw error;
    }
  }

  /** Sets the base code (and the second anchor for lerp/slerp): a queued upload of ≤ 2·Z floats. */
  setBase(a: Float32Array, b?: Float32Array): void {
    const Z = this.inference.config.latentSize;
    if (a.length !== Z || (b && b.length !== Z)) {
      throw new Error(`latent view: codes must have ${Z} values`);
    }
    const both = new Float32Array(2 * Z);
    both.set(a, 0);
    if (b) both.set(b, Z);
    this.inference.rt.device.queue.writeBuffer(this.anchors.buffer, this.anchors.offset, both);
  }

  /** Changes the spec's numbers (range, dimensions); the mode is fixed when the view is made. */
  setSpec(change: Partial<Omit<LatentCodeSpec, 'mode'>>): void {
    const spec = { ...this.spec, ...change, mode: this.spec.mode };
    this.codes.setUniforms(latentCodeUniforms(spec, this.n, this.inference.config.latentSize));
    this.spec = spec;
  }

  /** Changes the colour map of later frames. */
  setColormap(colormap: Colormap): void {
    this.display.setColormap(colormap, this.target.format);
  }

  /** Learned-sigma decoders: draws mean + alpha * sigma in later frames. */
  setAlpha(alpha: number): void {
    this.program.setAlpha(alpha);
  }

  /** Conditional models: decodes later frames under these labels (one per code, or one for all). */
  setLabels(labels: Labels): void {
    this.program.setLabels(labels);
  }

  /** Records codes → decoder → tiles → copy into the target. */
  encode(encoder: GPUCommandEncoder): void {
    const pass = encoder.beginComputePass({ label: 'latent-view' });
    this.codes.encode(pass);
    this.program.encode(pass);
    this.display.encodeTiles(pass);
    pass.end();
    this.display.encodeCopy(encoder, this.target);
  }

  /** Draws one frame (one submit); resolves when the GPU has finished it. */
  frame(): Promise<void> {
    if (this.disposed) throw new Error('latent view was destroyed');
    const device = this.inference.rt.device;
    const encoder = device.createCommandEncoder({ label: 'latent-view.frame' });
    this.encode(encoder);
    device.queue.submit([encoder.finish()]);
    return device.queue.onSubmittedWorkDone();
  }

  /** Frees the GPU objects of the view. */
  destroy(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.codes.destroy();
    this.display.destroy();
    this.program.destroy();
    this.inference.rt.buffers.destroy(this.anchors.buffer);
  }
}

/** Options of a TraversalLoop. */
export interface TraversalLoopOptions {
  /** Called before each frame is recorded (move the base code, the range, ...). */
  beforeFrame?: (time: number) => void;
  /** Called after each finished frame with the current frames per second. */
  onFrame?: (fps: number, frames: number) => void;
  /** Called when a frame fails; the loop stops either way (default: console.error). */
  onError?: (error: Error) => void;
  /**
   * Frames submitted and not yet finished on the GPU before the loop waits (default 2): the next
   * frame is recorded while the last one runs, so the GPU does not idle between frames.
   */
  maxInFlight?: number;
}

type FrameScheduler = (callback: (time: number) => void) => unknown;

function scheduler(): FrameScheduler {
  const raf = (globalThis as { requestAnimationFrame?: FrameScheduler }).requestAnimationFrame;
  if (raf) return raf.bind(globalThis);
  return (callback) => setTimeout(() => callback(performance.now()), 16);
}

/**
 * Redraws a view every animation frame. A frame is recorded only while fewer than maxInFlight
 * frames are unfinished on the GPU, so a slow device drops frames instead of queueing them.
 */
export class TraversalLoop {
  readonly fps = new FpsCounter();
  frames = 0;
  private running = false;
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly schedule = scheduler();

  constructor(
    readonly view: LatentView,
    private readonly options: TraversalLoopOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) {
      throw new Error(
        `traversal loop: maxInFlight must be an integer >= 1, got ${this.maxInFlight}`,
      );
    }
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts redrawing every animation frame. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.fps.reset();
    this.schedule((t) => this.tick(t));
  }

  /** Stops scheduling frames (one already recorded still finishes). */
  stop(): void {
    this.running = false;
  }

  private tick(time: number): void {
    if (!this.running) return;
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
      try {
        this.options.beforeFrame?.(time);
        this.view.frame().then(
          () => {
            this.inFlight--;
            this.frames++;
            this.fps.tick();
            this.options.onFrame?.(this.fps.fps, this.frames);
          },
          (error: unknown) => this.fail(error),
        );
      } catch (error) {
        this.fail(error);
      }
    }
    this.schedule((t) => this.tick(t));
  }

  private fail(error: unknown): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.running = false;
    const e = error instanceof Error ? error : new Error(String(error));
    if (this.options.onError) this.options.onError(e);
    else console.error(e);
  }
}
