// Inpainting: draw a mask on a test digit with the mouse (or pick a quadrant), then watch the
// worker fill the missing pixels pass by pass (VaeInference.inpaint, 'inpaint-progress' events).
import type { App, Panel } from '../app.js';
import { drawGray } from '../gray.js';

const SIDE = 28;
const D = SIDE * SIDE;
/** Missing pixels are drawn in this colour on the digit. */
const MISSING_RGB = [220, 60, 60] as const;

/** The digit in gray, with the missing pixels (mask 1) in MISSING_RGB when a mask is given. */
function draw(canvas: HTMLCanvasElement, image: Float32Array, mask?: Float32Array): void {
  drawGray(canvas, image, 1, {
    padding: 0,
    ...(mask ? { overlay: { mask, rgb: MISSING_RGB } } : {}),
  });
}

export const inpaintPanel: Panel = {
  mount(app: App) {
    const canvas = app.$<HTMLCanvasElement>('inpaint-draw');
    const result = app.$<HTMLCanvasElement>('inpaint-fill');
    const note = app.$('inpaint-note');
    let mask = new Float32Array(D);
    let image: Float32Array = new Float32Array(D);
    let running = false;

    const redraw = () => draw(canvas, image, mask);
    const load = async () => {
      image = await app.engine.testImage(Number(app.$<HTMLInputElement>('inpaint-digit').value));
      redraw();
      draw(result, image);
    };
    const quadrant = () => {
      mask = new Float32Array(D);
      for (let h = SIDE / 2; h < SIDE; h++) mask.fill(1, h * SIDE + SIDE / 2, (h + 1) * SIDE);
      redraw();
    };
    // A 3×3 brush at the pointer, in image pixels.
    const paint = (event: PointerEvent) => {
      const rect = canvas.getBoundingClientRect();
      const col = Math.floor(((event.clientX - rect.left) / rect.width) * SIDE);
      const row = Math.floor(((event.clientY - rect.top) / rect.height) * SIDE);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const [h, w] = [row + dy, col + dx];
          if (h >= 0 && h < SIDE && w >= 0 && w < SIDE) mask[h * SIDE + w] = 1;
        }
      }
      redraw();
    };
    canvas.addEventListener('pointerdown', (event) => {
      canvas.setPointerCapture(event.pointerId);
      paint(event);
    });
    canvas.addEventListener('pointermove', (event) => {
      if (event.buttons & 1) paint(event);
    });

    app.on('inpaint-progress', ({ iteration, image: filled }) => {
      draw(result, filled);
      note.textContent = `pass ${iteration}`;
    });
    const run = async () => {
      if (running) throw new Error('inpaint: already running');
      if (!mask.includes(1)) throw new Error('inpaint: draw a mask on the digit first');
      running = true;
      try {
        const iterations = Number(app.$<HTMLInputElement>('inpaint-iterations').value);
        const index = Number(app.$<HTMLInputElement>('inpaint-digit').value);
        const out = await app.engine.inpaint(index, mask, iterations);
        draw(result, out.filled);
        const last = out.errors.at(-1);
        note.textContent =
          `${iterations} passes; error at the missing pixels (BCE per pixel): ` +
          (last === undefined
            ? '—'
            : `${out.errors[0]!.toFixed(3)} after 1, ${last.toFixed(3)} after ${iterations}`);
        return { ...out, mask: mask.slice() };
      } finally {
        running = false;
      }
    };

    app.$('inpaint-digit').addEventListener('change', () => void load().catch(app.showError));
    app.$('inpaint-quadrant').addEventListener('click', quadrant);
    app.$('inpaint-clear').addEventListener('click', () => {
      mask = new Float32Array(D);
      redraw();
    });
    app.$('inpaint-go').addEventListener('click', () => void run().catch(app.showError));
    app.onModel(() => void load().catch(app.showError));
    app.hooks.inpaint = async () => {
      await load();
      return run();
    };
    app.hooks.inpaintMask = () => mask.reduce((s, v) => s + v, 0);
  },
};
