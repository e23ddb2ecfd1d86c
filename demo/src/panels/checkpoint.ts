// Saving the digits model as a checkpoint (a download) and loading one (a file input).
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
    app.$<HTMLInputElement>('ckpt-load').addEventListener('change', (event) => {
      const file = (event.target as HTMLInputElement).files?.[0];
      if (!file) return;
      void app.engine
        .loadCheckpoint(file)
        .then(({ name, latent }) => {
          app.modelChanged(latent);
          status.textContent = `loaded ${name} (latent size ${latent})`;
        })
        .catch(app.showError);
    });
  },
};
