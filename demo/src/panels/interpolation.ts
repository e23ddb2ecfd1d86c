// Interpolation between two test digits (decoded in the worker, drawn here).
import type { Panel } from '../app.js';
import { drawGray } from '../gray.js';

export const interpolationPanel: Panel = {
  mount(app) {
    const interpolate = async () => {
      const a = Number(app.$<HTMLInputElement>('interp-a').value);
      const b = Number(app.$<HTMLInputElement>('interp-b').value);
      const method = app.$<HTMLSelectElement>('interp-method').value as 'linear' | 'spherical';
      const { strip, n } = await app.engine.interpolate(a, b, method);
      drawGray(app.$<HTMLCanvasElement>('interp'), strip, n, { scale: 2 });
    };
    app.$('interp-go').addEventListener('click', () => void interpolate().catch(app.showError));
    const note = app.$('interp-note');
    const describe = ({ classes }: { classes: number }) => {
      note.hidden = classes === 0;
      note.textContent =
        'Conditional model: each digit is encoded under its own class, and the codes between ' +
        'them are decoded as the class picked beside the sliders.';
    };
    app.onModel(describe);
    describe(app.model);
    app.hooks.interpolate = interpolate;
  },
};
