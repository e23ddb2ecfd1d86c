// Saving the digits model as a checkpoint (a download) and loading one (a file input). A loaded
// conditional model brings the class selector with it, an M2 model its classifier panel (its
// config is in the checkpoint).
import type { Panel } from '../app.js';

export const checkpointPanel: Panel = {
  mount(app) {
    const status = app.$('ckpt-status');
    app.$('ckpt-save').addEventListener('click', () => {
      void app.engine
        .saveCheckpoint()
        .then(({ bytes, latent, step }) => {
          const url = URL.createObjectURL(
            new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
          );
          const a = document.createElement('a');
          a.href = url;
          a.download = `vae-z${latent}-step${step}.safetensors`;
          a.click();
          setTimeout(() => URL.revokeObjectURL(url), 10_000);
          status.textContent = `saved ${bytes.length} bytes`;
        })
        .catch(app.showError);
    });
    const load = async (file: File) => {
      const { name, ...model } = await app.engine.loadCheckpoint(file);
      app.modelChanged(model);
      status.textContent =
        `loaded ${name} (latent size ${model.latent}` +
        (model.classes ? `, conditional on ${model.classes} classes` : '') +
        (model.classifier ? ', semi-supervised M2)' : ')');
      return model;
    };
    app.$<HTMLInputElement>('ckpt-load').addEventListener('change', (event) => {
      const file = (event.target as HTMLInputElement).files?.[0];
      if (file) void load(file).catch(app.showError);
    });
    app.hooks.reloadCheckpoint = async () => {
      const { bytes } = await app.engine.saveCheckpoint();
      return load(new File([bytes as Uint8Array<ArrayBuffer>], 'reloaded.safetensors'));
    };
  },
};
