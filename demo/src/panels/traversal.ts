// The 16×16 traversal grid (drawn by the worker every animation frame): first dimension, range,
// colour map, animation, and the frames-per-second readout.
import type { Colormap } from '../../../src/image/grid.js';
import type { Panel } from '../app.js';

export const traversalPanel: Panel = {
  mount(app) {
    let frames = 0;
    app.on('frame', (f) => {
      frames = f.frames;
      app.$('fps').textContent = `${f.fps.toFixed(1)} fps`;
    });
    const retraverse = () => {
      const dim = Math.max(0, Number(app.$<HTMLInputElement>('trav-dim').value) || 0);
      const range = Math.max(0.1, Number(app.$<HTMLInputElement>('trav-range').value) || 3);
      void app.engine.setTraversal(dim, range).catch(app.showError);
    };
    app.$('trav-dim').addEventListener('input', retraverse);
    app.$('trav-range').addEventListener('input', retraverse);
    app.$('colormap').addEventListener('change', () => {
      const cm = app.$<HTMLSelectElement>('colormap').value as Colormap;
      void app.engine.setColormap(cm).catch(app.showError);
    });
    const animate = app.$<HTMLInputElement>('trav-animate');
    animate.addEventListener('change', () => void app.engine.setAnimate(animate.checked));
    app.hooks.setAnimate = async (on) => {
      animate.checked = on;
      await app.engine.setAnimate(on);
    };
    app.hooks.measureFps = (ms) => app.engine.measureFps(ms);
    app.hooks.frames = () => frames;
  },
};
