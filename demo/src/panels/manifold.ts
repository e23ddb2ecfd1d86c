// The 2-D manifold (drawn by the worker): a note on what it spans for the current model.
import type { ModelInfo } from '../protocol.js';
import type { Panel } from '../app.js';

export const manifoldPanel: Panel = {
  mount(app) {
    const note = ({ latent: Z, classes }: ModelInfo) => {
      app.$('manifold-note').textContent =
        (Z === 2
          ? 'The whole 2-D latent space of this model.'
          : `This model has ${Z} latent dimensions: the grid spans dimensions 0 and 1, the others are the slider code.`) +
        (classes ? ' Every image is decoded as the class picked beside the sliders.' : '');
    };
    app.onModel(note);
    note(app.model);
  },
};
