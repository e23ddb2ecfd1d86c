// The Vite demo (demo/) built and driven in headless Chromium on SwiftShader: training makes the
// loss fall, the GPU-drawn traversal grid and slider image are non-blank and change when a slider
// moves, the synthetic 2-D experiment draws its scatter plots, and a browser without WebGPU gets a
// message instead of a blank page. Screenshots go to test-artifacts/demo/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'vite';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium, serveStatic } from './helpers/browser.js';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'test-artifacts', 'demo-dist');
const SHOTS = join(ROOT, 'test-artifacts', 'demo');

interface Stats {
  mean: number;
  std: number;
  hash: number;
  width: number;
  height: number;
}

describe('demo in headless Chromium (SwiftShader)', () => {
  let url: string;
  let closeServer: () => void;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await build({
      configFile: join(ROOT, 'demo', 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: OUT, emptyOutDir: true },
    });
    const served = await serveStatic(OUT);
    url = served.url;
    closeServer = () => served.server.close();
    ({ browser, close: closeBrowser } = await launchChromium());
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
  const frames = () => page.evaluate('window.__demo.frames()') as Promise<number>;
  const waitFrames = async (n: number) => {
    const start = await frames();
    await page.waitForFunction(`window.__demo.frames() >= ${start + n}`, { timeout: 30_000 });
  };

  it('starts on the SwiftShader adapter', async () => {
    const demo = (await page.evaluate(
      '({ ready: window.__demo.ready, error: window.__demo.error, adapter: window.__demo.adapter })',
    )) as {
      ready: boolean;
      error?: string;
      adapter?: string;
    };
    expect(demo.error).toBeUndefined();
    expect(demo.ready).toBe(true);
    expect(demo.adapter).toMatch(/swiftshader/i);
  });

  it('the traversal grid and slider image are drawn on the GPU and change when a slider moves', async () => {
    await page.evaluate('window.__demo.setAnimate(false)');
    await waitFrames(3);
    const before = await snapshot('traversal');
    const sliderBefore = await snapshot('slider-image');
    expect(before.width).toBe(482);
    expect(before.std).toBeGreaterThan(5); // not blank: tiles on a black background
    expect(sliderBefore.std).toBeGreaterThan(1);
    await page.evaluate('window.__demo.setSlider(19, 2.5); window.__demo.setSlider(3, -2)');
    await waitFrames(3);
    const after = await snapshot('traversal');
    const sliderAfter = await snapshot('slider-image');
    expect(after.std).toBeGreaterThan(5);
    expect(after.hash).not.toBe(before.hash);
    expect(sliderAfter.hash).not.toBe(sliderBefore.hash);
    await page.screenshot({ path: join(SHOTS, 'untrained.png'), fullPage: true });
  });

  it('training on the embedded digits makes the loss fall', async () => {
    const result = (await page.evaluate('window.__demo.train(40)')) as {
      losses: number[];
      stepsPerSecond: number;
    };
    expect(result.losses.length).toBeGreaterThanOrEqual(4);
    const first = result.losses[0]!;
    const last = result.losses.at(-1)!;
    expect(last).toBeLessThan(first * 0.8);
    writeFileSync(join(SHOTS, 'training.json'), JSON.stringify(result, null, 2));
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
    writeFileSync(join(SHOTS, 'fps.json'), JSON.stringify(fps, null, 2));
    console.log(`traversal 16×16 (784-400-20) on SwiftShader: ${fps.fps.toFixed(1)} fps`);
    await page.evaluate('window.__demo.interpolate()');
    await page.screenshot({ path: join(SHOTS, 'trained.png'), fullPage: true });
  });

  it('the synthetic 2-D experiment draws data, prior samples and reconstructions', async () => {
    const result = (await page.evaluate("window.__demo.synthetic('rotated-gaussian', 200)")) as {
      data: number;
      prior: number;
      recon: number;
      loss: number[];
    };
    expect(result.prior).toBe(800);
    for (const id of ['syn-data-plot', 'syn-prior-plot', 'syn-recon-plot']) {
      const s = await stats(id);
      expect(s.mean, id).toBeLessThan(254); // points drawn (a white plot with axes only: ~254.7)
    }
    expect(result.loss.at(-1)!).toBeLessThan(result.loss[0]!);
    const panel = await page.$('#synthetic-panel');
    await panel!.screenshot({ path: join(SHOTS, 'synthetic.png') });
    expect(errors, errors.join('\n')).toEqual([]);
  });

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
    await p.screenshot({ path: join(SHOTS, 'no-webgpu.png') });
    await p.close();
  });
});
