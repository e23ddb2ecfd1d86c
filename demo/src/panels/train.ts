// Training on the embedded digits: the latent size, start/stop, the live chart and the readout.
// Training runs in the worker; the chart is drawn here from its metric events.
import { drawChart, type Series } from '../chart.js';
import { MainThreadMonitor, type Panel } from '../app.js';

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
      if (recon !== undefined) series[1]!.points.push({ x: m.step, y: recon });
      if (kl !== undefined) series[2]!.points.push({ x: m.step, y: kl });
      redraw();
    });
    app.on('train-progress', (p) => {
      readout.textContent = `step ${p.step}, ${p.stepsPerSecond.toFixed(1)} steps/s`;
    });
    app.onModel(() => {
      for (const s of series) s.points.length = 0;
      drawChart(chart, series, TITLE);
      readout.textContent = 'not trained yet';
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
          (last !== undefined ? `, loss ${last.toFixed(1)} nats` : '');
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
    app.$('latent-size').addEventListener('change', () => {
      const Z = Number(app.$<HTMLSelectElement>('latent-size').value);
      void app.engine
        .newModel(Z)
        .then(() => app.modelChanged(Z))
        .catch(app.showError);
    });
    app.hooks.train = train;
  },
};
