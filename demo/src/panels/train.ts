// Training on the embedded digits: the latent size, whether the model is conditional on the digit
// class (a conditional VAE) or semi-supervised (M2, with N labelled digits), start/stop, the live
// chart and the readout.
// Training runs in the worker; the chart is drawn here from its metric events.
import { drawChart, type Series } from '../chart.js';
import { MainThreadMonitor, type Panel } from '../app.js';
import type { DigitsKind, ModelInfo } from '../protocol.js';

const TITLE = 'per-example loss, reconstruction and KL (nats)';

export const trainPanel: Panel = {
  mount(app) {
    const series: Series[] = [
      { name: 'loss', color: '#d62728', points: [] },
      { name: 'recon', color: '#1f77b4', points: [] },
      { name: 'KL', color: '#2ca02c', points: [] },
    ];
    const chart = app.$<HTMLCanvasElement>('chart');
    const start = app.$<HTMLButtonElement>('train-start');
    const stop = app.$<HTMLButtonElement>('train-stop');
    const readout = app.$('train-readout');
    let pending = false;
    /** M2: q(y|x)'s accuracy on the last labelled batch. */
    let accuracy: number | undefined;
    const redraw = () => {
      // At most one redraw per animation frame, however fast metrics arrive.
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        drawChart(chart, series, TITLE);
      });
    };
    app.on('metrics', (m) => {
      series[0]!.points.push({ x: m.step, y: m.loss });
      // An objective without a reconstruction/KL split (IWAE) charts the loss alone.
      const { recon, kl } = m.values;
      accuracy = m.values.accuracy;
      if (recon !== undefined) series[1]!.points.push({ x: m.step, y: recon });
      if (kl !== undefined) series[2]!.points.push({ x: m.step, y: kl });
      redraw();
    });
    app.on('train-progress', (p) => {
      readout.textContent = `step ${p.step}, ${p.stepsPerSecond.toFixed(1)} steps/s`;
    });
    const latentSize = app.$<HTMLSelectElement>('latent-size');
    const conditional = app.$<HTMLInputElement>('train-conditional');
    const m2 = app.$<HTMLInputElement>('train-m2');
    const labels = app.$<HTMLInputElement>('train-labels');
    // M2 is conditional too: its box implies the conditional one.
    const kind = (): DigitsKind =>
      m2.checked ? 'm2' : conditional.checked ? 'conditional' : 'plain';
    // The controls show the current model: a loaded checkpoint's (where its latent size is
    // offered), or the previous one when a new model was refused.
    const showModel = (model: ModelInfo) => {
      if (Array.from(latentSize.options).some((o) => o.value === String(model.latent))) {
        latentSize.value = String(model.latent);
      }
      conditional.checked = model.classes > 0;
      m2.checked = model.classifier;
    };
    app.onModel((model) => {
      showModel(model);
      for (const s of series) s.points.length = 0;
      drawChart(chart, series, TITLE);
      readout.textContent = 'not trained yet';
      accuracy = undefined;
    });
    const monitor = new MainThreadMonitor();
    const train = async (steps: number, options: { pauseViews?: boolean } = {}) => {
      start.disabled = true;
      stop.disabled = false;
      monitor.start();
      try {
        const result = await app.engine.train(steps, options);
        const mainThread = monitor.stop();
        const last = result.losses.at(-1);
        readout.textContent =
          `${result.steps} steps, ${result.stepsPerSecond.toFixed(1)} steps/s` +
          (last !== undefined ? `, loss ${last.toFixed(1)} nats` : '') +
          (accuracy !== undefined
            ? `, q(y|x) ${(100 * accuracy).toFixed(0)} % right on the labelled batch`
            : '');
        return { ...result, mainThread };
      } catch (error) {
        monitor.stop();
        throw error;
      } finally {
        start.disabled = false;
        stop.disabled = true;
      }
    };
    start.addEventListener('click', () => {
      void train(Number(app.$<HTMLInputElement>('train-steps').value) || 100).catch(app.showError);
    });
    stop.addEventListener('click', () => void app.engine.stopTraining());
    const newModel = async () => {
      const model = await app.engine.newModel(
        Number(latentSize.value),
        kind(),
        Number(labels.value),
      );
      app.modelChanged(model);
      return model;
    };
    const changed = () =>
      void newModel().catch((error: unknown) => {
        showModel(app.model);
        app.showError(error);
      });
    latentSize.addEventListener('change', changed);
    conditional.addEventListener('change', () => {
      if (!conditional.checked) m2.checked = false;
      changed();
    });
    m2.addEventListener('change', changed);
    labels.addEventListener('change', () => {
      if (m2.checked) changed();
    });
    app.hooks.train = train;
    app.hooks.newModel = (latent, modelKind, labelled) => {
      latentSize.value = String(latent);
      conditional.checked = modelKind !== 'plain';
      m2.checked = modelKind === 'm2';
      if (labelled !== undefined) labels.value = String(labelled);
      return newModel();
    };
  },
};
