// The demo's latent views, in the worker: drawn GPU-direct into their (transferred) canvases, or,
// where WebGPU canvases do not work, decoded, read back and drawn with imageGrid + putImageData.
// The Animator redraws them every animation frame and yields to training: while a training run
// is on, it draws only as often as keeps the views' share of the GPU under ANIMATION_SHARE.
import { colorize, imageGrid, type Colormap } from '../../src/image/grid.js';
import type { LatentCodeSpec } from '../../src/kernels/latent.js';
import { canvasTarget, gridLayout, FpsCounter, LatentView } from '../../src/display/index.js';
import type { VaeInference } from '../../src/vae/inference.js';
import type { CanvasStats, DisplayMode, ViewId } from './protocol.js';
import { imageStats } from './stats.js';

/** Largest share of the GPU the animation takes while a training run is on. */
export const ANIMATION_SHARE = 0.15;

export interface ViewOptions {
  rows: number;
  cols: number;
  padding?: number;
  spec: LatentCodeSpec;
  colormap: Colormap;
  /** Conditional models: the class every code is decoded under (absent for the others). */
  classLabel?: number;
}

/** One latent view: a grid of decoded codes generated from a base code. */
export interface DemoView {
  readonly id: ViewId;
  setBase(code: Float32Array): void;
  setSpec(change: Partial<Omit<LatentCodeSpec, 'mode'>>): void;
  setColormap(colormap: Colormap): void;
  /** Conditional models: decodes later frames under this class. */
  setClass(classLabel: number): void;
  /** Draws a frame; resolves when it is on the canvas. */
  draw(): Promise<void>;
  /** Draws a frame and measures its pixels in the same task. */
  snapshot(): Promise<CanvasStats>;
  destroy(): void;
}

function pixelsOf(canvas: OffscreenCanvas): ImageData {
  const copy = new OffscreenCanvas(canvas.width, canvas.height);
  const ctx = copy.getContext('2d')!;
  ctx.drawImage(canvas, 0, 0);
  return ctx.getImageData(0, 0, copy.width, copy.height);
}

/** A view drawn on the GPU into its canvas: codes, decoder, tiles, copy; no readback. */
class GpuView implements DemoView {
  private constructor(
    readonly id: ViewId,
    private readonly canvas: OffscreenCanvas,
    private readonly view: LatentView,
  ) {}

  static async create(
    id: ViewId,
    inference: VaeInference,
    canvas: OffscreenCanvas,
    o: ViewOptions,
  ): Promise<GpuView> {
    const layout = gridLayout(o.rows * o.cols, 28, 28, {
      columns: o.cols,
      ...(o.padding !== undefined ? { padding: o.padding } : {}),
    });
    const target = canvasTarget(inference.rt, canvas, layout);
    const { classLabel, ...rest } = o;
    const view = await LatentView.create(inference, target, {
      ...rest,
      ...(classLabel !== undefined ? { labels: classLabel } : {}),
      label: id,
    });
    return new GpuView(id, canvas, view);
  }

  setBase(code: Float32Array): void {
    this.view.setBase(code);
  }

  setSpec(change: Partial<Omit<LatentCodeSpec, 'mode'>>): void {
    this.view.setSpec(change);
  }

  setColormap(colormap: Colormap): void {
    this.view.setColormap(colormap);
  }

  setClass(classLabel: number): void {
    this.view.setLabels(classLabel);
  }

  draw(): Promise<void> {
    return this.view.frame();
  }

  async snapshot(): Promise<CanvasStats> {
    const done = this.view.frame();
    // Read before the frame is presented: a presented WebGPU canvas reads back blank.
    const stats = imageStats(pixelsOf(this.canvas));
    await done;
    return stats;
  }

  destroy(): void {
    this.view.destroy();
  }
}

/** A view decoded on the GPU, read back and drawn with imageGrid + colorize + putImageData. */
class ReadbackView implements DemoView {
  private base: Float32Array;
  private spec: LatentCodeSpec;
  private colormap: Colormap;
  private classLabel: number | undefined;
  private readonly ctx: OffscreenCanvasRenderingContext2D;

  constructor(
    readonly id: ViewId,
    private readonly inference: VaeInference,
    canvas: OffscreenCanvas,
    private readonly o: ViewOptions,
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error(`demo: the ${id} canvas has no 2-D context`);
    this.ctx = ctx;
    this.base = new Float32Array(inference.config.latentSize);
    this.spec = { ...o.spec, cols: o.spec.cols ?? o.cols };
    this.colormap = o.colormap;
    this.classLabel = o.classLabel;
  }

  setBase(code: Float32Array): void {
    this.base = code.slice();
  }

  setSpec(change: Partial<Omit<LatentCodeSpec, 'mode'>>): void {
    this.spec = { ...this.spec, ...change, mode: this.spec.mode };
  }

  setColormap(colormap: Colormap): void {
    this.colormap = colormap;
  }

  setClass(classLabel: number): void {
    this.classLabel = classLabel;
  }

  async draw(): Promise<void> {
    const n = this.o.rows * this.o.cols;
    const codes = n === 1 ? this.base : await this.inference.latentCodes(this.spec, n, this.base);
    const images = await this.inference.decode(
      codes,
      n,
      this.classLabel !== undefined ? { labels: this.classLabel } : {},
    );
    const grid = imageGrid(images, n, 28, 28, {
      columns: this.o.cols,
      padding: this.o.padding ?? 2,
    });
    const rgb = colorize(grid.pixels, this.colormap);
    const canvas = this.ctx.canvas;
    if (canvas.width !== grid.width || canvas.height !== grid.height) {
      canvas.width = grid.width;
      canvas.height = grid.height;
    }
    const image = this.ctx.createImageData(grid.width, grid.height);
    for (let i = 0; i < grid.pixels.length; i++) {
      image.data[4 * i] = rgb[3 * i]!;
      image.data[4 * i + 1] = rgb[3 * i + 1]!;
      image.data[4 * i + 2] = rgb[3 * i + 2]!;
      image.data[4 * i + 3] = 255;
    }
    this.ctx.putImageData(image, 0, 0);
  }

  async snapshot(): Promise<CanvasStats> {
    await this.draw();
    const c = this.ctx.canvas;
    return imageStats(this.ctx.getImageData(0, 0, c.width, c.height));
  }

  destroy(): void {}
}

export function createView(
  mode: DisplayMode,
  id: ViewId,
  inference: VaeInference,
  canvas: OffscreenCanvas,
  options: ViewOptions,
): Promise<DemoView> {
  return mode === 'gpu'
    ? GpuView.create(id, inference, canvas, options)
    : Promise.resolve(new ReadbackView(id, inference, canvas, options));
}

/**
 * A view that draws nothing: a vq model's decoder takes code indices, not the continuous codes
 * these views generate (the VQ panel hides their sections meanwhile and edits codes instead).
 */
export function idleView(id: ViewId): DemoView {
  const blank: CanvasStats = { mean: 0, std: 0, hash: 0, width: 0, height: 0 };
  return {
    id,
    setBase: () => undefined,
    setSpec: () => undefined,
    setColormap: () => undefined,
    setClass: () => undefined,
    draw: () => Promise.resolve(),
    snapshot: () => Promise.resolve(blank),
    destroy: () => undefined,
  };
}

type Schedule = (callback: (time: number) => void) => void;

function scheduler(): Schedule {
  const raf = (globalThis as { requestAnimationFrame?: Schedule }).requestAnimationFrame;
  if (raf) return raf.bind(globalThis);
  return (callback) => setTimeout(() => callback(performance.now()), 16);
}

/**
 * Redraws the views: the slider image and the manifold when the code changed, the traversal grid
 * every frame while animated (its base code moving), else when the code changed. Two frames may be in flight; while `training`, one, and a
 * frame starts only when the views' GPU time stays under ANIMATION_SHARE of the elapsed time.
 */
export class Animator {
  readonly fps = new FpsCounter();
  frames = 0;
  animate = true;
  private yielding = false;
  private code: Float32Array;
  private codeDirty = true;
  /** Changes asked for (setCode, invalidate) and the latest of them a finished frame shows. */
  private requested = 0;
  private drawn = 0;
  private running = false;
  private inFlight = 0;
  /** Milliseconds a frame takes when the GPU has nothing else to do (estimated, smoothed). */
  private frameCost = 50;
  private lastStart = -Infinity;
  private readonly schedule = scheduler();

  constructor(
    readonly views: Record<ViewId, DemoView>,
    latent: number,
    private readonly onFrame: (frames: number, fps: number) => void,
    private readonly onError: (error: Error) => void,
  ) {
    this.code = new Float32Array(latent);
  }

  setCode(code: Float32Array): void {
    this.code = code.slice();
    this.codeDirty = true;
    this.requested++;
  }

  /** Draws the slider and manifold views again at the next frame. */
  invalidate(): void {
    this.codeDirty = true;
    this.requested++;
  }

  /** Resolves once a finished frame shows every change asked for so far (or the views stopped). */
  async settled(): Promise<void> {
    const target = this.requested;
    while (this.running && this.drawn < target) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.fps.reset();
    this.schedule((t) => this.tick(t));
  }

  /**
   * While true the views yield to training steps (one frame at a time, under ANIMATION_SHARE of
   * the time). The first frame after it turns on starts at once, so even a short run of steps
   * shows the animation going on.
   */
  get training(): boolean {
    return this.yielding;
  }

  set training(on: boolean) {
    if (on && !this.yielding) this.lastStart = -Infinity;
    this.yielding = on;
  }

  /** Resolves when no frame is in flight (without stopping the views). */
  async idle(): Promise<void> {
    while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Stops, and resolves when the frames in flight are done. */
  async stop(): Promise<void> {
    this.running = false;
    await this.idle();
  }

  private mayDraw(now: number): boolean {
    if (!this.training) return true;
    return now - this.lastStart >= this.frameCost / ANIMATION_SHARE;
  }

  private tick(time: number): void {
    if (!this.running) return;
    const now = performance.now();
    // While training, sleep until the next frame is due instead of waking every animation frame:
    // each wake-up costs the browser work on the CPU that SwiftShader's training steps need.
    const wait = this.lastStart + this.frameCost / ANIMATION_SHARE - now;
    if (this.training && this.inFlight === 0 && wait > 20) {
      setTimeout(() => this.schedule((t) => this.tick(t)), wait);
      return;
    }
    // Alone on the GPU, two frames in flight (the next is recorded while one runs); while
    // training, one at a time.
    const limit = this.training ? 1 : 2;
    // With the animation off, a frame only when something changed: an idle GPU for training.
    const due = this.animate || this.codeDirty;
    if (due && this.inFlight < limit && this.mayDraw(now)) {
      this.inFlight++;
      this.lastStart = now;
      const measured = !this.training && this.inFlight === 1;
      this.frame(time).then(
        () => {
          this.inFlight--;
          const ms = performance.now() - now;
          // Only frames alone on the GPU say what a frame costs.
          if (measured && !this.training) this.frameCost = 0.8 * this.frameCost + 0.2 * ms;
          this.frames++;
          this.fps.tick();
          this.onFrame(this.frames, this.fps.fps);
        },
        (error: unknown) => {
          this.inFlight--;
          this.running = false;
          this.onError(error instanceof Error ? error : new Error(String(error)));
        },
      );
    }
    this.schedule((t) => this.tick(t));
  }

  private async frame(time: number): Promise<void> {
    const { views } = this;
    const work: Promise<void>[] = [];
    const changed = this.codeDirty;
    const generation = this.requested;
    if (this.codeDirty) {
      this.codeDirty = false;
      views['slider-image'].setBase(this.code);
      views.manifold.setBase(this.code);
      work.push(views['slider-image'].draw(), views.manifold.draw());
    }
    const base = this.code.slice();
    if (this.animate) {
      for (let j = 0; j < base.length; j++) base[j]! += 0.6 * Math.sin(time / 700 + j);
    }
    if (this.animate || changed) {
      views.traversal.setBase(base);
      work.push(views.traversal.draw());
    }
    await Promise.all(work);
    this.drawn = Math.max(this.drawn, generation);
  }
}
