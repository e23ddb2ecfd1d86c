// The Vite demo (demo/) built and driven in headless Chromium on SwiftShader, twice: with WebGPU
// canvases (the views drawn GPU-direct from the worker), and without them (Chromium without ANGLE
// on SwiftShader, where a WebGPU canvas loses its device: the views are drawn through a readback).
// Both ways: training (in a Web Worker) makes the loss fall while the main thread stays responsive
// (its longest task is reported), the traversal grid and slider image are non-blank and change
// when a slider moves, a conditional VAE trains on the labelled digits and its class selector
// (hidden for an unconditional model) changes what the views decode, a semi-supervised M2 model
// trains on 100 labels and its panel shows a test digit's q(y|x) and its style as every digit, the
// synthetic 2-D experiment draws its scatter plots, and a browser without WebGPU gets a message
// instead of a blank page. Once: a VQ-VAE trains, its panel shows a digit's code grid whose cells
// change the decode when clicked, and the codebook-usage histogram counts every vector.
// Screenshots and figures go to test-artifacts/demo/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'vite';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium, serveStatic } from './helpers/browser.js';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'test-artifacts', 'demo-dist');
const SHOTS = join(ROOT, 'test-artifacts', 'demo');

interface TrainResult {
  losses: number[];
  stepsPerSecond: number;
  steps: number;
  frames: number;
  mainThread: { longTasks: number; longestTaskMs: number; maxTimerLagMs: number };
}

interface ModelInfo {
  latent: number;
  classes: number;
  classifier: boolean;
  vq?: { codes: number; dim: number; vectors: number };
}

/** The VQ panel's grid (window.__demo.vqShown). */
interface VqShown {
  codes: number[];
  encoded: number[];
  cells: number[];
  K: number;
}

/** The class selector as the page shows it. */
interface Selector {
  hidden: boolean;
  disabled: boolean;
  options: string[];
  value: string;
  conditionalBox: boolean;
}

interface Stats {
  mean: number;
  std: number;
  hash: number;
  width: number;
  height: number;
}

// The second way checks the same panels with shorter runs (the fallback changes only how the three
// latent views are drawn), and measures no paused-views baseline. Some of the conditional model's
// checks run once, in the second way (the faster one here): its loss falling, the interpolation
// and a checkpoint reload do not depend on how the views are drawn, and the manifold is drawn as
// the slider image is. The synthetic 2-D panel and the M2 panel draw on 2-D canvases, never a
// WebGPU one: they are checked once too, in the second way, and so is the VQ panel (2-D canvases
// and buttons, and it hides the latent views rather than drawing them).
const WAYS = [
  [
    'GPU-direct canvases',
    true,
    {
      train: 40,
      baseline: true,
      synthetic: 0,
      m2: 0,
      conditional: { steps: 5, all: false },
      vq: 0,
    },
  ],
  [
    'readback fallback (no ANGLE: WebGPU canvases unavailable)',
    false,
    {
      train: 24,
      baseline: false,
      synthetic: 100,
      m2: 10,
      conditional: { steps: 10, all: true },
      vq: 20,
    },
  ],
] as const;

describe.each(WAYS)('demo in headless Chromium (SwiftShader), %s', (way, angle, runs) => {
  const shots = join(SHOTS, angle ? 'gpu' : 'readback');
  let url: string;
  let closeServer: () => void;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    await build({
      configFile: join(ROOT, 'demo', 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: OUT, emptyOutDir: true },
    });
    const served = await serveStatic(OUT);
    url = served.url;
    closeServer = () => served.server.close();
    ({ browser, close: closeBrowser } = await launchChromium({ angle }));
    page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 2600 });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${url}/index.html`);
    await page.waitForFunction('window.__demo.ready || window.__demo.error !== undefined', {
      timeout: 90_000,
    });
  }, 180_000);

  afterAll(async () => {
    await closeBrowser?.();
    closeServer?.();
  });

  const snapshot = (id: string) =>
    page.evaluate(
      (i) => (window as never as { __demo: { snapshot(id: string): Stats } }).__demo.snapshot(i),
      id,
    );
  const stats = (id: string) =>
    page.evaluate(
      (i) =>
        (window as never as { __demo: { canvasStats(id: string): Stats } }).__demo.canvasStats(i),
      id,
    );
  const selector = () =>
    page.evaluate(() => {
      const select = document.getElementById('class-select') as HTMLSelectElement;
      return {
        hidden: select.closest<HTMLElement>('#class-box')!.hidden,
        disabled: select.disabled,
        options: Array.from(select.options, (o) => o.value),
        value: select.value,
        conditionalBox: (document.getElementById('train-conditional') as HTMLInputElement).checked,
      };
    }) as Promise<Selector>;
  const unconditional: Selector = {
    hidden: true,
    disabled: true,
    options: [],
    value: '',
    conditionalBox: false,
  };
  const conditional: Selector = {
    hidden: false,
    disabled: false,
    options: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    value: '0',
    conditionalBox: true,
  };
  const setClass = (k: number) => page.evaluate(`window.__demo.setClass(${k})`);

  it('starts on the SwiftShader adapter, drawing the way the browser allows', async () => {
    const demo = (await page.evaluate(
      '({ ready: window.__demo.ready, error: window.__demo.error, adapter: window.__demo.adapter, display: window.__demo.display })',
    )) as {
      ready: boolean;
      error?: string;
      adapter?: string;
      display?: string;
    };
    expect(demo.error).toBeUndefined();
    expect(demo.ready).toBe(true);
    expect(demo.adapter).toMatch(/swiftshader/i);
    expect(demo.display).toBe(angle ? 'gpu' : 'readback');
    // The fallback says so, in one line.
    const note = await page.$eval('#display-note', (el) =>
      (el as HTMLElement).hidden ? '' : (el.textContent ?? ''),
    );
    if (angle) expect(note).toBe('');
    else expect(note).toMatch(/^WebGPU canvases are unavailable here: [^\n]*putImageData\.$/);
    // The first model is unconditional: no class to pick.
    expect(await selector()).toEqual(unconditional);
  });

  it('the traversal grid and slider image are drawn and change when a slider moves', async () => {
    // With the animation off, frames only follow changes; a snapshot waits until they are drawn.
    await page.evaluate('window.__demo.setAnimate(false)');
    const before = await snapshot('traversal');
    const sliderBefore = await snapshot('slider-image');
    expect(before.width).toBe(482);
    expect(before.std).toBeGreaterThan(5); // not blank: tiles on a black background
    expect(sliderBefore.std).toBeGreaterThan(1);
    await page.evaluate('window.__demo.setSlider(19, 2.5); window.__demo.setSlider(3, -2)');
    const after = await snapshot('traversal');
    const sliderAfter = await snapshot('slider-image');
    expect(after.std).toBeGreaterThan(5);
    expect(after.hash).not.toBe(before.hash);
    expect(sliderAfter.hash).not.toBe(sliderBefore.hash);
    await page.screenshot({ path: join(shots, 'untrained.png'), fullPage: true });
  });

  it('trains in the worker (the loss falls) while the views animate and the main thread stays free', async () => {
    await page.evaluate('window.__demo.setAnimate(true)');
    const result = (await page.evaluate(`window.__demo.train(${runs.train})`)) as TrainResult;
    expect(result.losses.length).toBeGreaterThanOrEqual(4);
    const first = result.losses[0]!;
    const last = result.losses.at(-1)!;
    expect(last).toBeLessThan(first * 0.8);
    // The animation went on, yielding to the steps.
    expect(result.frames).toBeGreaterThan(0);
    // The same run of steps with the views paused: what the steps alone reach in this page.
    const alone = runs.baseline
      ? ((await page.evaluate(
          `window.__demo.train(${runs.train}, { pauseViews: true })`,
        )) as TrainResult)
      : undefined;
    const report = {
      way,
      batch: 64,
      steps: result.steps,
      stepsPerSecondAnimating: result.stepsPerSecond,
      framesWhileTraining: result.frames,
      stepsPerSecondViewsPaused: alone?.stepsPerSecond,
      animatingVsPaused: alone ? result.stepsPerSecond / alone.stepsPerSecond : undefined,
      mainThreadWhileTraining: result.mainThread,
      mainThreadWhileTrainingViewsPaused: alone?.mainThread,
      losses: result.losses,
    };
    writeFileSync(join(shots, 'training.json'), JSON.stringify(report, null, 2));
    console.log(
      `demo (${way}): ${result.stepsPerSecond.toFixed(2)} steps/s at batch 64 with the ` +
        `animation running (${result.frames} frames)` +
        (alone ? `, ${alone.stepsPerSecond.toFixed(2)} with the views paused` : '') +
        `; main thread while training: longest task ` +
        `${result.mainThread.longestTaskMs.toFixed(0)} ms (${result.mainThread.longTasks} ` +
        `long tasks ≥ 50 ms), longest timer lag ${result.mainThread.maxTimerLagMs.toFixed(0)} ms`,
    );
  });

  it('redraws the 16×16 traversal grid every frame (FPS measured)', async () => {
    await page.evaluate('window.__demo.setAnimate(true)');
    const a = await snapshot('traversal');
    expect(a.std).toBeGreaterThan(5);
    const m = await snapshot('manifold');
    expect(m.std).toBeGreaterThan(5);
    const fps = (await page.evaluate('window.__demo.measureFps(3000)')) as {
      fps: number;
      frames: number;
    };
    expect(fps.frames).toBeGreaterThan(2);
    writeFileSync(join(shots, 'fps.json'), JSON.stringify(fps, null, 2));
    console.log(`traversal 16×16 (784-400-20) on SwiftShader (${way}): ${fps.fps.toFixed(1)} fps`);
    await page.evaluate('window.__demo.interpolate()');
    const strip = await stats('interp');
    expect(strip.std).toBeGreaterThan(5);
    await page.screenshot({ path: join(shots, 'trained.png'), fullPage: true });
  });

  it('inpaints a mask drawn with the mouse, pass by pass, keeping the observed pixels', async () => {
    const canvas = (await page.$('#inpaint-draw'))!;
    await canvas.scrollIntoView();
    const box = (await canvas.boundingBox())!;
    const at = (fx: number, fy: number) =>
      [box.x + fx * box.width, box.y + fy * box.height] as const;
    await page.mouse.move(...at(0.2, 0.45));
    await page.mouse.down();
    await page.mouse.move(...at(0.85, 0.6), { steps: 15 });
    await page.mouse.up();
    // A 3×3 brush along the stroke.
    const drawn = (await page.evaluate('window.__demo.inpaintMask()')) as number;
    expect(drawn).toBeGreaterThan(30);
    const result = (await page.evaluate(`window.__demo.inpaint().then((r) => ({
      passes: r.errors.length,
      missing: r.mask.reduce((s, v) => s + v, 0),
      changedObserved: r.original.filter((v, i) => r.mask[i] === 0 && !Object.is(v, r.filled[i])).length,
      filledMissing: r.filled.filter((v, i) => r.mask[i] === 1 && v > 0 && v < 1).length,
      note: document.getElementById('inpaint-note').textContent,
    }))`)) as {
      passes: number;
      missing: number;
      changedObserved: number;
      filledMissing: number;
      note: string;
    };
    expect(result.missing).toBe(drawn);
    expect(result.passes).toBe(20);
    // Observed pixels come back bit-exact; every missing one is a decoded probability.
    expect(result.changedObserved).toBe(0);
    expect(result.filledMissing).toBe(result.missing);
    expect(result.note).toMatch(/^20 passes; error at the missing pixels/);
    expect((await stats('inpaint-fill')).std).toBeGreaterThan(5);
    await (await page.$('#inpaint-panel'))!.screenshot({ path: join(shots, 'inpaint.png') });
  });

  it('a conditional model trains on labelled digits; the class selector changes what the views decode', async () => {
    expect(await page.evaluate("window.__demo.newModel(20, 'conditional')")).toEqual({
      latent: 20,
      classes: 10,
      classifier: false,
    } satisfies ModelInfo);
    expect(await selector()).toEqual(conditional);
    const { steps, all } = runs.conditional;
    const result = (await page.evaluate(
      `window.__demo.train(${steps}, { pauseViews: true })`,
    )) as TrainResult;
    // The batches carry their labels (a conditional model refuses a batch without them).
    expect(result.steps).toBe(steps);
    expect(result.losses.length).toBe(steps / 5); // read every 5 steps
    for (const loss of result.losses) expect(loss).toBeGreaterThan(0);
    if (all) expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]! * 0.9);

    // The same code (zero) decoded as a 0 and as a 7, then as a 0 again: the class alone changes
    // the slider image (and the manifold, drawn the same way), and the same class gives back the
    // same pixels.
    const slider = async () => (await snapshot('slider-image')).hash;
    const manifold = async () => (all ? (await snapshot('manifold')).hash : undefined);
    const zero = { slider: await slider(), manifold: await manifold() };
    await setClass(7);
    const seven = await snapshot('slider-image');
    expect(seven.std).toBeGreaterThan(1);
    expect(seven.hash).not.toBe(zero.slider);
    if (all) expect(await manifold()).not.toBe(zero.manifold);
    await (await page.$('#latent-panel'))!.screenshot({ path: join(shots, 'conditional-7.png') });
    await setClass(0);
    expect(await slider()).toBe(zero.slider);

    if (all) {
      // The interpolation is decoded as the selected class too.
      await page.evaluate('window.__demo.interpolate()');
      const strip0 = await stats('interp');
      await setClass(7);
      await page.evaluate('window.__demo.interpolate()');
      const strip7 = await stats('interp');
      expect(strip7.std).toBeGreaterThan(5);
      expect(strip7.hash).not.toBe(strip0.hash);

      // A conditional checkpoint brings its selector back (at class 0), with the same pictures.
      expect(await page.evaluate('window.__demo.reloadCheckpoint()')).toEqual({
        latent: 20,
        classes: 10,
        classifier: false,
      });
      expect(await selector()).toEqual(conditional);
      expect(await slider()).toBe(zero.slider);
      await setClass(7);
      expect(await slider()).toBe(seven.hash);
    }

    // Back to an unconditional model: the selector is hidden and refuses a class.
    expect(await page.evaluate("window.__demo.newModel(20, 'plain')")).toEqual({
      latent: 20,
      classes: 0,
      classifier: false,
    });
    expect(await selector()).toEqual(unconditional);
    await expect(setClass(3)).rejects.toThrow(/class selector is disabled/);
    expect((await snapshot('slider-image')).std).toBeGreaterThan(1);
  });

  const vqIt = runs.vq > 0 ? it : () => undefined;
  vqIt(
    'a VQ-VAE trains; clicking a cell of the code grid changes the decode; the usage histogram counts every vector',
    async () => {
      const continuous = ['latent-panel', 'traversal-panel', 'manifold-panel', 'interp-panel'];
      const hidden = () =>
        page.evaluate(
          (ids) => ids.map((id) => document.getElementById(id)!.hidden),
          [...continuous, 'vq-body'],
        );
      expect(await hidden()).toEqual([false, false, false, false, true]);
      const vq = { codes: 32, dim: 4, vectors: 16 };
      expect(await page.evaluate('window.__demo.newVqModel()')).toEqual({
        latent: 64,
        classes: 0,
        classifier: false,
        vq,
      } satisfies ModelInfo);
      // Its decoder takes code indices: the continuous-latent views make way for the VQ panel.
      expect(await hidden()).toEqual([true, true, true, true, false]);
      const trained = (await page.evaluate(
        `window.__demo.train(${runs.vq}, { pauseViews: true })`,
      )) as TrainResult;
      expect(trained.steps).toBe(runs.vq);
      expect(trained.losses.at(-1)!).toBeLessThan(trained.losses[0]!);

      const digit = (await page.evaluate('window.__demo.vqShow(3)')) as VqShown;
      expect(digit.K).toBe(vq.codes);
      expect(digit.cells).toHaveLength(vq.vectors);
      for (const k of digit.cells) expect(Number.isInteger(k) && k >= 0 && k < vq.codes).toBe(true);
      expect(digit.cells).toEqual(digit.encoded);
      expect(digit.codes).toEqual(digit.encoded);
      const decoded = await stats('vq-decoded');
      expect(decoded.std).toBeGreaterThan(5);

      const usage = (await page.evaluate('window.__demo.vqUsage(200)')) as {
        counts: number[];
        vectors: number;
        digits: number;
        inUse: number;
        readout: string;
      };
      expect(usage.counts).toHaveLength(vq.codes);
      expect(usage.vectors).toBe(200 * vq.vectors);
      expect(usage.counts.reduce((s, c) => s + c, 0)).toBe(usage.vectors);
      expect(usage.inUse).toBe(usage.counts.filter((c) => c > 0).length);
      expect(usage.inUse).toBeGreaterThan(1);
      expect(usage.readout).toMatch(
        new RegExp(
          `^${usage.inUse} of 32 codes in use \\(\\d+ %\\), perplexity [\\d.]+, over 3200 `,
        ),
      );
      expect((await stats('vq-usage')).mean).toBeLessThan(254); // bars drawn

      // Cell 0 clicked round to the most used other code (each click: the next code; the decodes
      // of the clicks before the last may be skipped), then shift-clicked back by one.
      const k = digit.codes[0]!;
      const target = usage.counts.reduce(
        (best, c, j) => (j !== k && c > (usage.counts[best] ?? -1) ? j : best),
        k === 0 ? 1 : 0,
      );
      const cell = '#vq-grid [data-cell="0"]';
      for (let i = 0; i < (target - k + vq.codes) % vq.codes; i++) await page.click(cell);
      const edited = (await page.evaluate('window.__demo.vqShown()')) as VqShown;
      expect(edited.codes).toEqual([target, ...digit.encoded.slice(1)]);
      expect(edited.cells).toEqual(edited.codes);
      const changed = await stats('vq-decoded');
      expect(changed.std).toBeGreaterThan(5);
      expect(changed.hash).not.toBe(decoded.hash);
      await page.keyboard.down('Shift');
      await page.click(cell);
      await page.keyboard.up('Shift');
      const back = (await page.evaluate('window.__demo.vqShown()')) as VqShown;
      expect(back.cells[0]).toBe((target + vq.codes - 1) % vq.codes);
      await (await page.$('#vq-panel'))!.screenshot({ path: join(shots, 'vq.png') });

      // A VQ checkpoint (weights, codebook and its EMA state) loads back with the same codes.
      expect(await page.evaluate('window.__demo.reloadCheckpoint()')).toEqual({
        latent: 64,
        classes: 0,
        classifier: false,
        vq,
      });
      expect(((await page.evaluate('window.__demo.vqShow(3)')) as VqShown).encoded).toEqual(
        digit.encoded,
      );

      // A continuous model brings the latent views back.
      await page.evaluate("window.__demo.newModel(20, 'plain')");
      expect(await hidden()).toEqual([false, false, false, false, true]);
      expect((await snapshot('slider-image')).std).toBeGreaterThan(1);
    },
  );

  const m2It = runs.m2 > 0 ? it : () => undefined;
  m2It(
    "an M2 model trains on 100 labels; its panel shows a test digit's q(y|x) and its style as every digit",
    async () => {
      expect(await page.evaluate("window.__demo.newModel(20, 'm2', 100)")).toEqual({
        latent: 20,
        classes: 10,
        classifier: true,
      } satisfies ModelInfo);
      // An M2 model is conditional: the class selector comes with it.
      expect(await selector()).toEqual(conditional);
      const result = (await page.evaluate(
        `window.__demo.train(${runs.m2}, { pauseViews: true })`,
      )) as TrainResult;
      // Each step reads its labelled rows beside the unlabelled ones (M2 refuses a step without).
      expect(result.steps).toBe(runs.m2);
      for (const loss of result.losses) expect(loss).toBeGreaterThan(0);
      expect(await page.$eval('#train-readout', (e) => e.textContent)).toMatch(
        /q\(y\|x\) \d+ % right on the labelled batch$/,
      );
      // The panel's result, summed up in the page: q(y|x), and per style image its spread and
      // the least mean |difference| to another one.
      const styleTransfer = () =>
        page.evaluate(`window.__demo.styleTransfer().then((r) => {
          const C = r.probs.length;
          const image = (c) => r.styles.subarray(c * 784, (c + 1) * 784);
          const std = (a) => {
            const m = a.reduce((s, v) => s + v, 0) / a.length;
            return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length);
          };
          const apart = Array.from({ length: C }, (_, a) => Math.min(...Array.from(
            { length: C }, (_, b) => a === b ? Infinity
              : image(a).reduce((s, v, i) => s + Math.abs(v - image(b)[i]), 0) / 784)));
          return { probs: Array.from(r.probs), predicted: r.predicted, images: r.styles.length / 784,
            stds: Array.from({ length: C }, (_, c) => std(image(c))), apart,
            note: document.getElementById('m2-note').textContent };
        })`) as Promise<{
          probs: number[];
          predicted: number;
          images: number;
          stds: number[];
          apart: number[];
          note: string;
        }>;
      const s = await styleTransfer();
      expect(s.probs.length).toBe(10);
      expect(s.probs.reduce((a, p) => a + p, 0)).toBeCloseTo(1, 5);
      for (const p of s.probs) expect(p).toBeGreaterThanOrEqual(0);
      expect(s.probs[s.predicted]).toBe(Math.max(...s.probs));
      expect(s.images).toBe(10);
      // Not blank, and the ten labels give ten different images.
      for (const std of s.stds) expect(std).toBeGreaterThan(0.02);
      for (const d of s.apart) expect(d).toBeGreaterThan(1e-3);
      expect(s.note).toContain(`is a ${s.predicted} to q(y|x)`);
      expect((await stats('m2-styles')).std).toBeGreaterThan(5);
      expect(await page.$$eval('#m2-probs .m2-line', (lines) => lines.length)).toBe(10);
      await (await page.$('#m2-panel'))!.screenshot({ path: join(shots, 'm2.png') });

      // An M2 checkpoint comes back with its classifier: the same probabilities.
      expect(await page.evaluate('window.__demo.reloadCheckpoint()')).toEqual({
        latent: 20,
        classes: 10,
        classifier: true,
      });
      expect((await styleTransfer()).probs).toEqual(s.probs);

      // Other models have no classifier: the panel's button is off and its hook refuses.
      await page.evaluate("window.__demo.newModel(20, 'plain')");
      expect(await page.$eval('#m2-go', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
      await expect(page.evaluate('window.__demo.styleTransfer()')).rejects.toThrow(
        /no classifier q\(y\|x\)/,
      );
    },
  );

  const syntheticIt = runs.synthetic > 0 ? it : () => undefined;
  syntheticIt(
    'the synthetic 2-D experiment draws data, prior samples and reconstructions with each posterior',
    async () => {
      for (const posterior of ['diagonal', 'full', 'planar', 'iaf']) {
        const result = (await page.evaluate(
          `window.__demo.synthetic('rotated-gaussian', ${runs.synthetic}, '${posterior}')`,
        )) as {
          data: number;
          prior: number;
          recon: number;
          loss: number[];
        };
        expect(result.prior, posterior).toBe(800);
        for (const id of ['syn-data-plot', 'syn-prior-plot', 'syn-recon-plot']) {
          const s = await stats(id);
          // Points drawn (a white plot with axes only: ~254.7).
          expect(s.mean, `${posterior}: ${id}`).toBeLessThan(254);
        }
        expect(result.loss.at(-1)!, posterior).toBeLessThan(result.loss[0]!);
        expect(await page.$eval('#syn-readout', (e) => e.textContent)).toContain(
          `${posterior} posterior`,
        );
        const panel = await page.$('#synthetic-panel');
        await panel!.screenshot({ path: join(shots, `synthetic-${posterior}.png`) });
      }
      expect(errors, errors.join('\n')).toEqual([]);
    },
  );

  it('shows a clear message when WebGPU is missing', async () => {
    const p = await browser.newPage();
    await p.evaluateOnNewDocument(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });
    });
    await p.goto(`${url}/index.html`);
    await p.waitForFunction('window.__demo && window.__demo.error !== undefined', {
      timeout: 30_000,
    });
    const text = await p.$eval('#no-webgpu', (el) =>
      (el as HTMLElement).hidden ? '' : el.textContent,
    );
    expect(text).toMatch(/needs WebGPU/);
    await p.screenshot({ path: join(shots, 'no-webgpu.png') });
    await p.close();
  });
});
