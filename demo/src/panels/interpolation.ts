// Interpolation between two test digits (decoded in the worker, drawn here).
import { colorize, imageGrid } from '../../../src/image/grid.js';
import type { Panel } from '../app.js';

function putGray(canvas: HTMLCanvasElement, images: Float32Array, n: number): void {
  const grid = imageGrid(images, n, 28, 28, { columns: n });
  const rgb = colorize(grid.pixels, 'gray');
  canvas.width = grid.width;
  canvas.height = grid.height;
  canvas.style.width = `${grid.width * 2}px`;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(grid.width, grid.height);
  for (let i = 0; i < grid.pixels.length; i++) {
    data.data.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, 255], 4 * i);
  }
  ctx.putImageData(data, 0, 0);
}

export const interpolationPanel: Panel = {
  mount(app) {
    const interpolate = async () => {
      const a = Number(app.$<HTMLInputElement>('interp-a').value);
      const b = Number(app.$<HTMLInputElement>('interp-b').value);
      const method = app.$<HTMLSelectElement>('interp-method').value as 'linear' | 'spherical';
      const { strip, n } = await app.engine.interpolate(a, b, method);
      putGray(app.$<HTMLCanvasElement>('interp'), strip, n);
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
