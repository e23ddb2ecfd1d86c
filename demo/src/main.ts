// The webgpu-vae demo's main thread: plain DOM + TypeScript (see demo/README.md). Everything on the
// GPU runs in a Web Worker (worker.ts), which draws the latent views into canvases transferred to
// it; this thread wires the panels (panels/*.ts) and stays responsive while the worker trains.
import { canvasStats, type App, type DemoHooks, type Panel } from './app.js';
import { callEngine } from './rpc.js';
import { webgpuCanvasWorks } from './canvas-probe.js';
import { VIEW_IDS, type DisplayMode, type ModelInfo, type ViewId } from './protocol.js';
import { trainPanel } from './panels/train.js';
import { checkpointPanel } from './panels/checkpoint.js';
import { latentPanel } from './panels/latent.js';
import { traversalPanel } from './panels/traversal.js';
import { manifoldPanel } from './panels/manifold.js';
import { interpolationPanel } from './panels/interpolation.js';
import { syntheticPanel } from './panels/synthetic.js';
import { inpaintPanel } from './panels/inpaint.js';
import { vqPanel } from './panels/vq.js';
import { m2Panel } from './panels/m2.js';

/** The panels, in page order: a new panel is a module under panels/ added here. */
const PANELS: Panel[] = [
  trainPanel,
  checkpointPanel,
  latentPanel,
  traversalPanel,
  manifoldPanel,
  interpolationPanel,
  m2Panel,
  inpaintPanel,
  syntheticPanel,
  vqPanel,
];

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: no element #${id}`);
  return el as T;
};

const hooks: DemoHooks = { ready: false };
(window as unknown as { __demo: DemoHooks }).__demo = hooks;

function status(text: string): void {
  $('status').textContent = text;
}

function showError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  console.error(error);
  status(`Error: ${message}`);
}

function noWebGpu(message: string): void {
  const box = $('no-webgpu');
  box.hidden = false;
  box.textContent =
    'This demo needs WebGPU, which this browser does not provide.\n\n' +
    `${message}\n\nUse a recent Chrome or Edge (113+), or Firefox/Safari with WebGPU enabled.`;
  status('WebGPU is not available');
  hooks.error = message;
}

async function main(): Promise<void> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return noWebGpu('navigator.gpu is missing.');
  status('Checking WebGPU canvases…');
  const display: DisplayMode = (await webgpuCanvasWorks()) ? 'gpu' : 'readback';
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const channel = callEngine(worker);
  channel.on('status', status);
  channel.on('error', showError);
  const canvases = Object.fromEntries(
    VIEW_IDS.map((id) => [id, $<HTMLCanvasElement>(id).transferControlToOffscreen()]),
  ) as Record<ViewId, OffscreenCanvas>;
  let started;
  try {
    started = await channel.callTransfer('start', [canvases, display], Object.values(canvases));
  } catch (error) {
    return noWebGpu(error instanceof Error ? error.message : String(error));
  }
  const modelListeners: ((model: ModelInfo) => void)[] = [];
  const app: App = {
    ...channel,
    $,
    status,
    showError,
    hooks,
    model: { latent: 20, classes: 0, classifier: false },
    onModel: (listener) => modelListeners.push(listener),
    modelChanged: (model) => {
      app.model = model;
      for (const l of modelListeners) l(model);
    },
  };
  for (const panel of PANELS) panel.mount(app);
  $('app').hidden = false;
  status(`WebGPU adapter: ${started.adapter}. 8000 training digits loaded.`);
  if (display === 'readback') {
    const note = $('display-note');
    note.textContent =
      'WebGPU canvases are unavailable here: images are decoded on the GPU, read back and drawn with putImageData.';
    note.hidden = false;
  }
  Object.assign(hooks, {
    adapter: started.adapter,
    display,
    canvasStats: (id: string) => canvasStats($<HTMLCanvasElement>(id)),
    snapshot: (id: ViewId) => channel.engine.snapshot(id),
  });
  hooks.ready = true;
}

void main().catch((error: unknown) => {
  showError(error);
  hooks.error = error instanceof Error ? error.message : String(error);
});
