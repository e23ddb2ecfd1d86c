// Runs in headless Chromium from a Vite build: the same kernel registry and embedded WGSL as in Node,
// and the PNG encoder on the browser's CompressionStream (decoded back by the browser itself).
import { createRuntime, encodePng, fillForward, readFloats } from '../../src/index.js';

interface SmokeResult {
  ok: boolean;
  adapter?: string;
  kind?: string;
  png?: boolean;
  error?: string;
}

/** An awkward-sized RGBA image through encodePng and back through the browser's PNG decoder. */
async function pngRoundTrip(): Promise<boolean> {
  const [w, h] = [13, 7];
  const pixels = new Uint8Array(w * h * 4);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + (i >> 2) * 11) & 0xff;
  for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255; // opaque: no premultiplication
  const png = await encodePng(pixels, w, h, 4);
  const bitmap = await createImageBitmap(new Blob([png as Uint8Array<ArrayBuffer>]));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  const back = ctx.getImageData(0, 0, w, h).data;
  return back.length === pixels.length && back.every((v, i) => v === pixels[i]);
}

async function main(): Promise<SmokeResult> {
  const rt = await createRuntime();
  const n = 1001;
  const out = rt.buffers.storage('out', 4 * n);
  const d = await rt.prepare(fillForward, {
    bindings: { out },
    shape: { n },
    uniforms: { value: 7.25 },
  });
  await rt.submitChecked([d]);
  const values = await readFloats(rt.device, out);
  const ok = values.length >= n && values.slice(0, n).every((v) => v === 7.25);
  const png = await pngRoundTrip();
  const result = { ok: ok && png, adapter: rt.info.name, kind: rt.info.kind, png };
  rt.destroy();
  return result;
}

const log = document.getElementById('log')!;
main()
  .catch((error: unknown): SmokeResult => ({ ok: false, error: String(error) }))
  .then((result) => {
    log.textContent = JSON.stringify(result);
    (window as unknown as { __smoke: SmokeResult }).__smoke = result;
  });
