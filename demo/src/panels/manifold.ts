// The 2-D manifold (drawn by the worker): a note on what it spans for the current model.
import type { Panel } from '../app.js';

export const manifoldPanel: Panel = {
  mount(app) {
    const note = (Z: number) => {
      app.$('manifold-note').textContent =
        Z === 2
          ? 'The whole 2-D latent space of this model.'
          : `This model has ${Z} latent dimensions: the grid spans dimensions 0 and 1, the others are the slider code.`;
    };
    app.onModel(note);
    note(app.latent);
  },
};
