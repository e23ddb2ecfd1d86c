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

/** Waits (ticking) until cond holds: on a loaded machine timers fire late, so no fixed wait. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const started = performance.now();
  while (!cond()) {
    if (performance.now() - started > 10_000) throw new Error(`timed out waiting for ${what}`);
    await ticks(1);
  }
}

describe('TraversalLoop', () => {
  it('keeps at most maxInFlight frames unfinished and counts finished ones', async () => {
    for (const maxInFlight of [1, 2, 3]) {
      const f = fakeView();
      const loop = new TraversalLoop(f.view, { maxInFlight });
      loop.start();
      await until(() => f.pending.length >= maxInFlight, `${maxInFlight} frames in flight`);
      // More ticks never start a frame past the limit.
      await ticks(4);
      expect(f.pending.length).toBe(maxInFlight);
      f.pending.shift()!();
      await until(() => loop.frames === 1, 'the finished frame counted');
      await until(() => f.pending.length >= maxInFlight, 'a new frame in the freed slot');
      await ticks(4);
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
