// The synthetic 2-D experiments: trained in the worker, plotted here.
import { SYNTHETIC_NAMES, type SyntheticName } from '../../../src/data/synthetic.js';
import { boxOf, drawScatter } from '../scatter.js';
import type { Panel } from '../app.js';
import { SYNTHETIC_POSTERIORS, type SyntheticPosterior } from '../protocol.js';

function isPosterior(kind: string): kind is SyntheticPosterior {
  return kind in SYNTHETIC_POSTERIORS;
}

export const syntheticPanel: Panel = {
  mount(app) {
    const select = app.$<HTMLSelectElement>('syn-data');
    for (const name of SYNTHETIC_NAMES) {
      const option = document.createElement('option');
      option.value = name;
      option.textContent = name;
      select.append(option);
    }
    const posteriors = app.$<HTMLSelectElement>('syn-posterior');
    for (const [kind, { text }] of Object.entries(SYNTHETIC_POSTERIORS)) {
      const option = document.createElement('option');
      option.value = kind;
      option.textContent = text;
      posteriors.append(option);
    }
    const readout = app.$('syn-readout');
    const run = async (name: SyntheticName, steps: number, posterior: SyntheticPosterior) => {
      select.value = name;
      posteriors.value = posterior;
      readout.textContent = `training ${name} (${posterior} posterior)…`;
      const r = await app.engine.synthetic(name, steps, posterior);
      const box = boxOf(r.points.data);
      drawScatter(app.$<HTMLCanvasElement>('syn-data-plot'), r.points.data, box, '#1f77b4');
      drawScatter(app.$<HTMLCanvasElement>('syn-prior-plot'), r.points.prior, box, '#d62728');
      drawScatter(app.$<HTMLCanvasElement>('syn-recon-plot'), r.points.recon, box, '#2ca02c');
      readout.textContent =
        `${name}, ${posterior} posterior: ${steps} steps in ${r.seconds.toFixed(1)} s` +
        (r.loss.length ? `, loss ${r.loss.at(-1)!.toFixed(2)} nats` : '');
      return { data: r.data, prior: r.prior, recon: r.recon, loss: r.loss };
    };
    app.$('syn-train').addEventListener('click', () => {
      const steps = Number(app.$<HTMLInputElement>('syn-steps').value) || 600;
      const posterior = isPosterior(posteriors.value) ? posteriors.value : 'diagonal';
      void run(select.value as SyntheticName, steps, posterior).catch(app.showError);
    });
    app.hooks.synthetic = (name, steps, posterior = 'diagonal') => {
      if (!isPosterior(posterior)) throw new Error(`synthetic: unknown posterior '${posterior}'`);
      return run(name as SyntheticName, steps, posterior);
    };
  },
};
