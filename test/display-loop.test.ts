// TraversalLoop's pacing, with a stand-in view whose frames finish when the test says: at most
// maxInFlight frames unfinished, frames counted as they finish, a failing frame stops the loop.
import { describe, expect, it } from 'vitest';
import { TraversalLoop, type LatentView } from '../src/display/index.js';

function fakeView() {
  const pending: (() => void)[] = [];
  let failNext = false;
  const view = {
    frame: () =>
      new Promise<void>((resolve, reject) => {
        if (failNext) reject(new Error('frame failed'));
        else pending.push(resolve);
      }),
  };
  return {
    view: view as unknown as LatentView,
    pending,
    failNext: () => (failNext = true),
  };
}

const ticks = (n: number) => new Promise((resolve) => setTimeout(resolve, 16 * n + 30));

describe('TraversalLoop', () => {
  it('keeps at most maxInFlight frames unfinished and counts finished ones', async () => {
    for (const maxInFlight of [1, 2, 3]) {
      const f = fakeView();
      const loop = new TraversalLoop(f.view, { maxInFlight });
      loop.start();
      await ticks(6);
      expect(f.pending.length).toBe(maxInFlight);
      f.pending.shift()!();
      await ticks(3);
      expect(loop.frames).toBe(1);
      expect(f.pending.length).toBe(maxInFlight);
      loop.stop();
      for (const r of f.pending) r();
    }
    expect(() => new TraversalLoop(fakeView().view, { maxInFlight: 0 })).toThrow(/maxInFlight/);
  });

  it('stops and reports a frame that fails', async () => {
    const f = fakeView();
    const errors: Error[] = [];
    const loop = new TraversalLoop(f.view, { onError: (e) => errors.push(e) });
    f.failNext();
    loop.start();
    await ticks(3);
    expect(errors.map((e) => e.message)).toEqual(['frame failed']);
    expect(loop.isRunning).toBe(false);
  });
});
