// The VQ-VAE panel: a test digit's code grid (one cell per latent vector, showing its code index)
// beside the decode of those codes; clicking a cell moves it to the next code (shift-click: the
// previous one) and the image is decoded again at once. Below, the codebook's usage over test
// digits as a histogram. Also the "VQ-VAE" choice of the training panel (a fresh vq model), and,
// while a vq model is loaded, the continuous-latent sections (sliders, traversal, manifold,
// interpolation) are hidden: its decoder takes code indices.
import { drawGray } from '../gray.js';
import { drawBars } from '../histogram.js';
import type { App, Panel } from '../app.js';
import type { CodeUsage, DigitsKind, ModelInfo, VqInfo } from '../protocol.js';

/** Sections that show continuous latents; a vq model has none. */
const CONTINUOUS_SECTIONS = ['latent-panel', 'traversal-panel', 'manifold-panel', 'interp-panel'];

/** One digit, unpadded. */
const putGray = (canvas: HTMLCanvasElement, image: Float32Array) =>
  drawGray(canvas, image, 1, { padding: 0 });

export const vqPanel: Panel = {
  mount(app: App) {
    const body = app.$('vq-body');
    const note = app.$('vq-note');
    const grid = app.$('vq-grid');
    const digitInput = app.$<HTMLInputElement>('vq-digit');
    const usageInput = app.$<HTMLInputElement>('vq-usage-digits');
    const usageReadout = app.$('vq-usage-readout');
    const bars = app.$<HTMLCanvasElement>('vq-usage');
    const vqBox = app.$<HTMLInputElement>('train-vq');
    let info: VqInfo | undefined;
    /** The digit's own codes (from the encoder) and the grid as edited. */
    let encoded: Float32Array = new Float32Array(0);
    let codes: Float32Array = new Float32Array(0);
    let usage: CodeUsage | undefined;
    /** Worker calls run one after another; `edits` counts decodes asked for, so only the last draws. */
    let queue: Promise<unknown> = Promise.resolve();
    let edits = 0;
    const enqueue = <T>(fn: () => Promise<T>): Promise<T> => {
      const result = queue.then(fn);
      queue = result.catch(() => undefined);
      return result;
    };

    const drawUsage = () => {
      if (!info || !usage) return;
      drawBars(bars, usage.counts, {
        title: `vectors per code (x: code 0–${info.codes - 1}; orange: codes of digit ${digitInput.value})`,
        highlight: new Set(codes),
      });
    };
    const renderCells = () => {
      grid.textContent = '';
      codes.forEach((k, cell) => {
        const button = document.createElement('button');
        button.className = k === encoded[cell] ? 'vq-cell' : 'vq-cell edited';
        button.dataset.cell = String(cell);
        button.textContent = String(k);
        button.title = `vector ${cell}: code ${k} (click: next code, shift-click: previous)`;
        grid.append(button);
      });
    };
    const decode = () => {
      const edit = ++edits;
      return enqueue(async () => {
        // A later click already asked for a newer grid: its decode draws instead.
        if (edit !== edits) return;
        const image = await app.engine.vqDecode(codes.slice(), Number(digitInput.value));
        if (edit === edits) putGray(app.$<HTMLCanvasElement>('vq-decoded'), image);
      });
    };
    const load = () =>
      enqueue(async () => {
        if (!info) return;
        const digit = await app.engine.vqEncode(Number(digitInput.value));
        encoded = digit.codes;
        codes = digit.codes.slice();
        edits++;
        putGray(app.$<HTMLCanvasElement>('vq-original'), digit.image);
        putGray(app.$<HTMLCanvasElement>('vq-decoded'), digit.decoded);
        renderCells();
        drawUsage();
      });
    const count = () =>
      enqueue(async () => {
        if (!info) return undefined;
        const result = await app.engine.codeUsage(Number(usageInput.value));
        usage = result;
        const share = result.inUse / info.codes;
        usageReadout.textContent =
          `${result.inUse} of ${info.codes} codes in use (${(100 * share).toFixed(0)} %), ` +
          `perplexity ${result.perplexity.toFixed(1)}, over ${result.vectors} vectors of ` +
          `${result.digits} test digits`;
        drawUsage();
        return result;
      });

    grid.addEventListener('click', (event) => {
      const target = event.target;
      if (!(target instanceof HTMLElement) || !info) return;
      const cell = Number(target.dataset.cell);
      const k = codes[cell];
      if (k === undefined) return;
      const K = info.codes;
      codes[cell] = (k + (event.shiftKey ? K - 1 : 1)) % K;
      renderCells();
      drawUsage();
      void decode().catch(app.showError);
    });
    digitInput.addEventListener('change', () => void load().catch(app.showError));
    app.$('vq-reset').addEventListener('click', () => {
      codes = encoded.slice();
      renderCells();
      drawUsage();
      void decode().catch(app.showError);
    });
    app.$('vq-usage-go').addEventListener('click', () => void count().catch(app.showError));

    const refresh = () => Promise.all([load(), count()]);
    const modelChanged = (model: ModelInfo) => {
      info = model.vq;
      vqBox.checked = info !== undefined;
      body.hidden = info === undefined;
      note.textContent = info
        ? `${info.vectors} codes per digit (${info.dim} values each) from a codebook of ` +
          `${info.codes}. The latent sliders, traversal, manifold and interpolation are hidden: ` +
          'this decoder takes code indices, not continuous codes.'
        : 'Needs a VQ-VAE: tick "VQ-VAE" under training for a fresh one, or load a VQ checkpoint.';
      for (const id of CONTINUOUS_SECTIONS) app.$(id).hidden = info !== undefined;
      usage = undefined;
      usageReadout.textContent = '';
      if (info) {
        // The grid's columns: square for the usual grids (16 codes: 4×4; a conv encoder's 7×7).
        grid.style.gridTemplateColumns = `repeat(${Math.ceil(Math.sqrt(info.vectors))}, 44px)`;
        void refresh().catch(app.showError);
      }
    };
    app.onModel(modelChanged);
    modelChanged(app.model);
    // Training changed the encoder and the codebook: the grid and the counts are re-read.
    app.on('train-done', () => {
      if (info) void refresh().catch(app.showError);
    });

    const newModel = async (vq: boolean) => {
      const latent = Number(app.$<HTMLSelectElement>('latent-size').value);
      // Unticked: the model the training panel's boxes describe.
      const conditional = app.$<HTMLInputElement>('train-conditional').checked;
      const m2 = app.$<HTMLInputElement>('train-m2').checked;
      const labels = Number(app.$<HTMLInputElement>('train-labels').value);
      const kind: DigitsKind = m2 ? 'm2' : conditional ? 'conditional' : 'plain';
      const model = vq
        ? await app.engine.newVqModel()
        : await app.engine.newModel(latent, kind, labels);
      app.modelChanged(model);
      await queue;
      return model;
    };
    vqBox.addEventListener('change', () => {
      void newModel(vqBox.checked).catch((error: unknown) => {
        vqBox.checked = info !== undefined;
        app.showError(error);
      });
    });

    /** What the panel shows once the work asked for so far is done. */
    const shown = async () => {
      await queue;
      return {
        codes: Array.from(codes),
        encoded: Array.from(encoded),
        cells: Array.from(grid.querySelectorAll('button'), (b) => Number(b.textContent)),
        K: info?.codes ?? 0,
      };
    };
    app.hooks.newVqModel = () => {
      vqBox.checked = true;
      return newModel(true);
    };
    app.hooks.vqShown = shown;
    app.hooks.vqShow = async (index) => {
      digitInput.value = String(index);
      await load();
      return shown();
    };
    app.hooks.vqUsage = async (digits) => {
      usageInput.value = String(digits);
      const result = await count();
      if (!result) throw new Error('demo: no vq model');
      return { ...result, readout: usageReadout.textContent ?? '' };
    };
  },
};
