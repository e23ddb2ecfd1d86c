// Runs in headless Chromium from a Vite build: the same kernel registry and embedded WGSL as in Node.
import { createRuntime, fillForward, readFloats } from '../../src/index.js';

interface SmokeResult {
  ok: boolean;
  adapter?: string;
  kind?: string;
  error?: string;
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
  const result = { ok, adapter: rt.info.name, kind: rt.info.kind };
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
