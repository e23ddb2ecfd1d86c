// The latent code: one slider per dimension (the code lives here and is sent to the worker, which
// redraws the slider image and the manifold), random and zero buttons, and, for a model conditional
// on the digit class, the class every view decodes under.
import { createRng } from '../../../src/data/rng.js';
import type { ModelInfo } from '../protocol.js';
import type { Panel } from '../app.js';

export const latentPanel: Panel = {
  mount(app) {
    let code: Float32Array = new Float32Array(app.model.latent);
    const send = () => void app.engine.setCode(code).catch(app.showError);
    const build = (Z: number) => {
      code = new Float32Array(Z);
      const box = app.$('sliders');
      box.textContent = '';
      for (let j = 0; j < Z; j++) {
        const label = document.createElement('label');
        label.textContent = `z${j} `;
        const input = document.createElement('input');
        input.type = 'range';
        input.min = '-3';
        input.max = '3';
        input.step = '0.01';
        input.value = '0';
        input.id = `slider-${j}`;
        input.addEventListener('input', () => {
          code[j] = Number(input.value);
          send();
        });
        label.append(input);
        box.append(label);
      }
      send();
    };
    const classBox = app.$('class-box');
    const classSelect = app.$<HTMLSelectElement>('class-select');
    // Shown and enabled only for a conditional model; a new model starts at class 0 (as the worker).
    const buildClasses = (classes: number) => {
      classSelect.textContent = '';
      for (let k = 0; k < classes; k++) {
        const option = document.createElement('option');
        option.value = String(k);
        option.textContent = String(k);
        classSelect.append(option);
      }
      classSelect.size = Math.min(classes, 10);
      classSelect.value = '0';
      classSelect.disabled = classes === 0;
      classBox.hidden = classes === 0;
    };
    const setClass = () => app.engine.setClass(Number(classSelect.value));
    classSelect.addEventListener('change', () => void setClass().catch(app.showError));
    const modelChanged = (model: ModelInfo) => {
      build(model.latent);
      buildClasses(model.classes);
    };
    app.onModel(modelChanged);
    modelChanged(app.model);
    const setCode = (values: Float32Array) => {
      code = values;
      code.forEach((v, j) => {
        const input = document.getElementById(`slider-${j}`) as HTMLInputElement | null;
        if (input) input.value = String(v);
      });
      send();
    };
    app.$('sliders-random').addEventListener('click', () => {
      const rng = createRng(Math.floor(performance.now()));
      setCode(Float32Array.from(code, () => rng.normal()));
    });
    app.$('sliders-zero').addEventListener('click', () => setCode(new Float32Array(code.length)));
    app.hooks.setSlider = (dim, value) => {
      const input = app.$<HTMLInputElement>(`slider-${dim}`);
      input.value = String(value);
      input.dispatchEvent(new Event('input'));
    };
    app.hooks.setClass = (label) => {
      if (classSelect.disabled) throw new Error('demo: the class selector is disabled');
      classSelect.value = String(label);
      if (classSelect.value !== String(label)) throw new Error(`demo: no class ${label}`);
      return setClass();
    };
  },
};
