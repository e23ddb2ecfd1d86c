// Programs: dispatches recorded in order, resources owned and freed once, and a failed build that
// frees everything it made.
import { describe, expect, it } from 'vitest';
import { asProgram, buildProgram, Program } from '../src/gpu/program.js';
import { fillForward } from '../src/kernels/fill.js';
import { readFloats } from '../src/gpu/buffers.js';
import { TEST_ADAPTERS, output, runtimeFor } from './helpers/gpu.js';

describe.each(TEST_ADAPTERS)('programs on %s', (adapter) => {
  it('records parts in order, owns its scratch and frees it once', async () => {
    const rt = await runtimeFor(adapter);
    const before = rt.buffers.stats.liveBuffers;
    const out = output(rt, 'program.out', 37);
    const program = await buildProgram(rt, 'two-fills', async (b) => {
      const scratch = b.storage('scratch', 4 * 37);
      await b.dispatch(fillForward, {
        bindings: { out: scratch },
        shape: { n: 37 },
        uniforms: { value: 1 },
      });
      // Written after the first fill in the same pass: the second value must win.
      await b.dispatch(fillForward, {
        bindings: { out },
        shape: { n: 37 },
        uniforms: { value: 2 },
      });
      await b.dispatch(fillForward, {
        bindings: { out },
        shape: { n: 37 },
        uniforms: { value: 3 },
      });
      return { scratch };
    });
    expect(program).toBeInstanceOf(Program);
    expect(program.dispatches).toHaveLength(3);
    await rt.submitChecked([program]);
    expect([...(await readFloats(rt.device, out))]).toEqual(new Array(37).fill(3));
    expect([...(await readFloats(rt.device, program.scratch))]).toEqual(new Array(37).fill(1));
    // out, scratch and three uniform buffers are alive.
    expect(rt.buffers.stats.liveBuffers).toBe(before + 5);
    program.destroy();
    program.destroy();
    expect(rt.buffers.stats.liveBuffers).toBe(before + 1);
    rt.buffers.destroy(out.buffer);
  });

  it('frees everything made so far when the body throws, and names the problem', async () => {
    const rt = await runtimeFor(adapter);
    const before = rt.buffers.stats.liveBuffers;
    const out = output(rt, 'program.out', 8);
    await expect(
      buildProgram(rt, 'broken', async (b) => {
        b.storage('scratch', 64);
        await b.dispatch(fillForward, {
          bindings: { out },
          shape: { n: 8 },
          uniforms: { value: 1 },
        });
        await b.dispatch(fillForward, { bindings: { wrong: out }, shape: { n: 8 } });
      }),
    ).rejects.toThrow(/binding mismatch: missing out; unknown wrong/);
    expect(rt.buffers.stats.liveBuffers).toBe(before + 1);
    rt.buffers.destroy(out.buffer);
  });

  it('takes ownership of appended programs and dispatches exactly once', async () => {
    const rt = await runtimeFor(adapter);
    const before = rt.buffers.stats.liveBuffers;
    const out = output(rt, 'program.out', 5);
    const inner = await buildProgram(rt, 'inner', async (b) => {
      b.storage('inner.scratch', 16);
      await b.dispatch(fillForward, { bindings: { out }, shape: { n: 5 }, uniforms: { value: 4 } });
    });
    const loose = await rt.prepare(fillForward, {
      bindings: { out },
      shape: { n: 5 },
      uniforms: { value: 5 },
    });
    const outer = await buildProgram(rt, 'outer', async (b) => {
      b.append(inner);
      b.append(loose);
    });
    expect(outer.dispatches).toHaveLength(2);
    expect(asProgram(loose).dispatches).toEqual([loose]);
    expect(asProgram(outer)).toBe(outer);
    await rt.submitChecked([outer]);
    expect([...(await readFloats(rt.device, out))]).toEqual([5, 5, 5, 5, 5]);
    outer.destroy();
    expect(rt.buffers.stats.liveBuffers).toBe(before + 1);
    rt.buffers.destroy(out.buffer);
  });
});
