// Semi-supervised M2: a test digit, its class as q(y|x) sees it (the predicted class and every
// probability), and its style (its code under the predicted class) decoded as every digit
// (VaeInference.styleTransfer in the worker). Only an M2 model has the classifier.
import { drawGray } from '../gray.js';
import type { Panel } from '../app.js';
import type { StyleResult } from '../protocol.js';

/** Width of a bar at probability 1, in px. */
const BAR = 160;

/** One line per class: its label, the value and a bar as long as q(y|x); the argmax in bold. */
function showProbs(box: HTMLElement, { probs, predicted }: StyleResult): void {
  box.replaceChildren(
    ...Array.from(probs, (p, c) => {
      const line = document.createElement('div');
      line.className = c === predicted ? 'm2-line predicted' : 'm2-line';
      const bar = document.createElement('span');
      bar.className = 'm2-bar';
      bar.style.width = `${Math.round(p * BAR)}px`;
      line.append(`${c} ${p.toFixed(3)} `, bar);
      return line;
    }),
  );
}

export const m2Panel: Panel = {
  mount(app) {
    const go = app.$<HTMLButtonElement>('m2-go');
    const note = app.$('m2-note');
    const probs = app.$('m2-probs');
    const run = async () => {
      // Refused here, as the button is: the worker would log its refusal as an error.
      if (go.disabled) throw new Error('demo: this model has no classifier q(y|x)');
      const index = Number(app.$<HTMLInputElement>('m2-digit').value);
      const result = await app.engine.styleTransfer(index);
      drawGray(app.$<HTMLCanvasElement>('m2-image'), result.image, 1, { scale: 2 });
      drawGray(app.$<HTMLCanvasElement>('m2-styles'), result.styles, result.probs.length, {
        scale: 2,
      });
      showProbs(probs, result);
      note.textContent =
        `test digit ${index} (a ${result.label}) is a ${result.predicted} to q(y|x), with ` +
        `probability ${result.probs[result.predicted]!.toFixed(3)}; below, its style drawn as ` +
        `every digit 0 … ${result.probs.length - 1}`;
      return result;
    };
    const describe = ({ classifier }: { classifier: boolean }) => {
      go.disabled = !classifier;
      probs.replaceChildren();
      note.textContent = classifier
        ? 'Pick a test digit and classify it.'
        : 'Train a semi-supervised (M2) model above, or load an M2 checkpoint, to use this panel.';
    };
    app.onModel(describe);
    describe(app.model);
    go.addEventListener('click', () => void run().catch(app.showError));
    app.hooks.styleTransfer = run;
  },
};
