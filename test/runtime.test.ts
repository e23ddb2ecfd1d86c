import { describe, expect, it } from 'vitest';
import { fillForward } from '../src/kernels/fill.js';
import { TEST_ADAPTERS, output, read, runtimeFor } from './helpers/gpu.js';

describe.each(TEST_ADAPTERS)('runtime on %s', (adapter) => {
  it('names the adapter it got', async () => {
    const rt = await runtimeFor(adapter);
    expect(rt.info.kind).toBe(adapter);
    expect(rt.info.name.length).toBeGreaterThan(3);
  });

  it('fills an awkward-sized buffer', async () => {
    const rt = await runtimeFor(adapter);
    const n = 1237;
    const out = output(rt, 'out', n + 3);
    const d = await rt.prepare(fillForward, { bindings: { out }, shape: { n }, uniforms: { value: 2.5 } });
    await rt.submitChecked([d]);
    const got = await read(rt, out);
    expect(got.slice(0, n).every((v) => v === 2.5)).toBe(true);
    expect(Number.isNaN(got[n]!)).toBe(true);
  });
});
