// The main thread's side of the demo: what every panel gets (the worker's engine, its events, the
// DOM, the status line, the test hooks) and the Panel shape. A panel is a module under panels/
// that wires its section of index.html; main.ts mounts them in order.
import type { callEngine } from './rpc.js';
import type {
  CanvasStats,
  CodeUsage,
  DigitsKind,
  ModelInfo,
  StyleResult,
  TrainResult,
  ViewId,
} from './protocol.js';
import { imageStats } from './stats.js';

type Channel = ReturnType<typeof callEngine>;

/** What the headless-Chromium test drives (window.__demo). Panels add their hooks. */
export interface DemoHooks {
  ready: boolean;
  error?: string;
  adapter?: string;
  display?: 'gpu' | 'readback';
  train?: (
    steps: number,
    options?: { pauseViews?: boolean },
  ) => Promise<TrainResult & { mainThread: MainThreadReport }>;
  synthetic?: (name: string, steps: number, posterior?: string) => Promise<unknown>;
  interpolate?: () => Promise<void>;
  /**
   * Reloads the chosen digit (keeping the mask drawn so far) and fills its missing pixels: the
   * digit, the completion, the error after each pass, and the mask used.
   */
  inpaint?: () => Promise<{
    original: Float32Array;
    filled: Float32Array;
    errors: number[];
    mask: Float32Array;
  }>;
  /** Missing pixels of the mask drawn so far. */
  inpaintMask?: () => number;
  canvasStats?: (id: string) => CanvasStats;
  setSlider?: (dim: number, value: number) => void;
  /**
   * Picks the latent size, the conditional and M2 boxes (and M2's labelled digits), as a user
   * would, and waits for the model.
   */
  newModel?: (latent: number, kind: DigitsKind, labels?: number) => Promise<ModelInfo>;
  /** M2: classifies the chosen test digit and draws its style as every class. */
  styleTransfer?: () => Promise<StyleResult>;
  /** Picks a class in the selector and waits until the worker decodes under it. */
  setClass?: (label: number) => Promise<void>;
  /** Saves the model as a checkpoint and loads it back the way the file input does. */
  reloadCheckpoint?: () => Promise<ModelInfo>;
  setAnimate?: (on: boolean) => Promise<void>;
  measureFps?: (ms: number) => Promise<{ fps: number; frames: number }>;
  snapshot?: (id: ViewId) => Promise<CanvasStats>;
  frames?: () => number;
  /** Ticks "VQ-VAE" as a user would; resolves once the VQ panel shows the new model's codes. */
  newVqModel?: () => Promise<ModelInfo>;
  /** The VQ panel once its pending work is done: the grid (cells' text), edited and encoded. */
  vqShown?: () => Promise<VqShown>;
  /** Picks test digit `index` in the VQ panel and shows its codes. */
  vqShow?: (index: number) => Promise<VqShown>;
  /** Counts the codes over the first `digits` test digits (histogram and readout redrawn). */
  vqUsage?: (digits: number) => Promise<CodeUsage & { readout: string }>;
}

/** The VQ panel's code grid as shown. */
export interface VqShown {
  /** The grid's codes (as edited), the encoder's codes, and the numbers the cells show. */
  codes: number[];
  encoded: number[];
  cells: number[];
  /** The codebook's size. */
  K: number;
}

/** How responsive the main thread stayed over an interval. */
export interface MainThreadReport {
  /** Long tasks (≥ 50 ms, PerformanceObserver 'longtask'): count and the longest. */
  longTasks: number;
  longestTaskMs: number;
  /** The longest a 10 ms timer fired late (an upper bound on any task that ran meanwhile). */
  maxTimerLagMs: number;
}

export interface App extends Channel {
  $<T extends HTMLElement = HTMLElement>(id: string): T;
  status(text: string): void;
  showError(error: unknown): void;
  hooks: DemoHooks;
  /** The current model (latent size, classes); listeners run when a new model is in place. */
  model: ModelInfo;
  onModel(listener: (model: ModelInfo) => void): void;
  modelChanged(model: ModelInfo): void;
}

export interface Panel {
  mount(app: App): void;
}

/** Measures the main thread's long tasks and timer lag between start() and stop(). */
export class MainThreadMonitor {
  private longTasks: PerformanceEntry[] = [];
  private observer: PerformanceObserver | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private maxLag = 0;

  start(): void {
    this.longTasks = [];
    this.maxLag = 0;
    try {
      this.observer = new PerformanceObserver((list) => this.longTasks.push(...list.getEntries()));
      this.observer.observe({ type: 'longtask' });
    } catch {
      this.observer = undefined; // no Long Tasks API: the timer lag still tells
    }
    let expected = performance.now() + 10;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.maxLag = Math.max(this.maxLag, now - expected);
      expected = now + 10;
    }, 10);
  }

  stop(): MainThreadReport {
    this.observer?.disconnect();
    clearInterval(this.timer);
    const durations = this.longTasks.map((e) => e.duration);
    return {
      longTasks: durations.length,
      longestTaskMs: durations.length ? Math.max(...durations) : 0,
      maxTimerLagMs: this.maxLag,
    };
  }
}

/** Grey levels of a 2-D canvas on the main thread (test hooks). */
export function canvasStats(canvas: HTMLCanvasElement): CanvasStats {
  const ctx = canvas.getContext('2d')!;
  return imageStats(ctx.getImageData(0, 0, canvas.width, canvas.height));
}
