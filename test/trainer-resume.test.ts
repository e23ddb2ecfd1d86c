// Training that stops and goes on: a run stopped at a random step and resumed from its checkpoint
// repeats the uninterrupted run (per-step losses and weights); a step with a non-finite batch is
// skipped, reported with its number, and changes nothing; a lost device fails the running step with
// an error that names it.
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../src/gpu/runtime.js';
import type { VaeConfig } from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer, TrainingError, type SkipReport, type StepReport } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng } from './helpers/reference.js';

const config: VaeConfig = {
  inputSize: 12,
  latentSize: 3,
  encoder: { hidden: [10], activation: 'tanh' },
  decoder: { hidden: [10], activation: 'tanh' },
};

/** Worst |a - b| / (1 + |a|) over every tensor. */
function worst(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let w = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    x.forEach((v, i) => (w = Math.max(w, Math.abs(v - y[i]!) / (1 + Math.abs(v)))));
  }
  return w;
}

/** Losses of the windows that hold one step, by step. */
function perStep(windows: StepReport[]): Map<number, number> {
  return new Map(windows.filter((w) => w.steps === 1).map((w) => [w.step, w.loss]));
}

// Plain training loops: the first adapter (the graph tests cover both).
describe.each(TEST_ADAPTERS.slice(0, 1))('stopping and resuming training on %s', (adapter) => {
  it('a run stopped at a random step and resumed repeats the uninterrupted run', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    // 131 rows in batches of 32: 5 steps an epoch, the last of 3 rows; 4 epochs.
    const count = 131;
    const images = Float32Array.from({ length: count * 12 }, () => rng());
    const train = { images, count };
    const epochs = 4;
    const total = 20;
    const options = { batchSize: 32, lr: 2e-2, seed, readbackRing: 16 };
    const fitOptions = {
      epochs,
      binarize: 'dynamic' as const,
      shuffleSeed: seed + 1,
    };
    const schedule = { kind: 'cosine' as const };

    const whole = VaeModel.create(rt, config, { seed });
    const wholeTrainer = await Trainer.create(whole, { ...options, schedule });
    const wholeWindows: StepReport[] = [];
    await wholeTrainer.fit(train, { ...fitOptions, onStep: (r) => wholeWindows.push(r) });

    const stopAt = 1 + Math.floor(rng() * (total - 1));
    const first = VaeModel.create(rt, config, { seed });
    const firstTrainer = await Trainer.create(first, { ...options, schedule });
    const windows: StepReport[] = [];
    const stop = new AbortController();
    const reason = new Error('stop');
    await expect(
      firstTrainer.fit(train, {
        ...fitOptions,
        signal: stop.signal,
        onStep: (r) => windows.push(r),
        onSubmit: (step) => {
          if (step === stopAt) stop.abort(reason);
        },
      }),
    ).rejects.toBe(reason);
    expect(firstTrainer.step).toBe(stopAt);
    const bytes = await first.toCheckpoint(await firstTrainer.optimizerState());
    const { model: resumed, checkpoint } = VaeModel.fromCheckpoint(rt, bytes, 'stopped');
    const resumedTrainer = await Trainer.create(resumed, { ...options, schedule });
    resumedTrainer.loadOptimizerState(checkpoint.optimizer!);
    const reports = await resumedTrainer.fit(train, {
      ...fitOptions,
      startStep: stopAt,
      onStep: (r) => windows.push(r),
    });
    expect(resumedTrainer.step).toBe(total);
    // The epochs from the one it stopped in (a full epoch when it stopped at an epoch's end).
    expect(reports.map((r) => r.epoch)[0]).toBe(Math.floor(stopAt / 5) + 1);

    const want = perStep(wholeWindows);
    const got = perStep(windows);
    let matched = 0;
    for (const [step, loss] of got) {
      const ref = want.get(step);
      if (ref === undefined) continue;
      matched++;
      expect(Math.abs(loss - ref), `seed ${seed}, stopped at ${stopAt}, step ${step}`).toBeLessThan(
        1e-5 * (1 + Math.abs(ref)),
      );
    }
    // Windows of several steps (a busy readback ring) cannot be compared step by step.
    expect(matched, `seed ${seed}`).toBeGreaterThanOrEqual(0.7 * total);
    expect(
      worst(await whole.readWeights(), await resumed.readWeights()),
      `seed ${seed}`,
    ).toBeLessThan(1e-6);
    // ... and a run that resumes in a different order would not (the test can fail).
    const other = VaeModel.create(rt, config, { seed });
    const otherTrainer = await Trainer.create(other, { ...options, schedule });
    await otherTrainer.fit(train, { ...fitOptions, shuffleSeed: seed + 2 });
    expect(worst(await whole.readWeights(), await other.readWeights())).toBeGreaterThan(1e-4);
    for (const t of [wholeTrainer, firstTrainer, resumedTrainer, otherTrainer]) t.destroy();
    for (const m of [whole, first, resumed, other]) m.destroy();
  });

  it('skips a non-finite batch, reports its step, and leaves weights and moments as they were', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const model = VaeModel.create(rt, config, { seed });
    // A frozen tensor between trained ones: the update is two Adam dispatches, each counting a
    // skipped step; the report must still say one step.
    const trainer = await Trainer.create(model, {
      batchSize: 8,
      lr: 1e-2,
      seed,
      groups: [{ params: ['encoder.0.bias'], frozen: true }],
    });
    expect(trainer.optimizer.skipCountPerStep).toBe(2);
    const batch = () => Float32Array.from({ length: 8 * 12 }, () => rng());
    const windows: StepReport[] = [];
    const skips: SkipReport[] = [];
    trainer.onMetrics((r) => windows.push(r));
    trainer.onSkip((r) => skips.push(r));
    const state = async () => {
      const s = await trainer.optimizerState();
      const flat = new Map(await model.readWeights());
      for (const [m, tensors] of Object.entries(s.moments)) {
        for (const [name, t] of tensors as Map<string, { data: Float32Array }>) {
          flat.set(`${m}.${name}`, t.data);
        }
      }
      return flat;
    };
    for (let s = 0; s < 3; s++) {
      await trainer.trainStep(batch(), 8);
      await trainer.flush();
    }
    const before = await state();
    const bad = batch();
    const where = Math.floor(rng() * bad.length);
    bad[where] = rng() < 0.5 ? Number.NaN : Number.POSITIVE_INFINITY;
    await trainer.trainStep(bad, 8);
    await trainer.flush();
    expect(trainer.step).toBe(4);
    expect(skips, `seed ${seed}, bad value at ${where}`).toEqual([{ count: 1, first: 4, last: 4 }]);
    const after = await state();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, data] of before) expect(after.get(name), name).toEqual(data);
    expect(windows.map((w) => [w.step, w.skipped])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 1],
    ]);
    expect(Number.isFinite(windows[3]!.loss)).toBe(false);
    // The next step trains again.
    await trainer.trainStep(batch(), 8);
    await trainer.flush();
    expect(skips).toHaveLength(1);
    expect(windows[4]).toMatchObject({ step: 5, skipped: 0 });
    expect(Number.isFinite(windows[4]!.loss)).toBe(true);
    expect(worst(before, await state())).toBeGreaterThan(0);
    trainer.destroy();
    model.destroy();
  });

  it('fails the running step with an error naming it when the device is lost', async () => {
    // A runtime of its own: this one is destroyed.
    const rt = await createRuntime({ adapter, onError: () => {} });
    const seed = freshSeed();
    const rng = makeRng(seed);
    const model = VaeModel.create(rt, config, { seed });
    const trainer = await Trainer.create(model, { batchSize: 16, seed });
    const images = Float32Array.from({ length: 100 * 12 }, () => rng());
    const lostAt = 2 + Math.floor(rng() * 10);
    const failure = trainer
      .fit(
        { images, count: 100 },
        {
          epochs: 3,
          onSubmit: (step) => {
            if (step === lostAt) rt.device.destroy();
          },
        },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const error = await failure;
    expect(error).toBeInstanceOf(TrainingError);
    const message = (error as Error).message;
    // The next step finds the device lost, or, when the loss came with an epoch's last step, the
    // epoch's closing flush does ('finishing training step N').
    const m =
      /^(?:training step (\d+) \(epoch \d+, batch \d+ of 7\)|finishing training step (\d+)): the WebGPU device was lost \(destroyed/.exec(
        message,
      );
    expect(m, message).not.toBeNull();
    const failedAt = Number(m![1] ?? m![2]);
    expect(failedAt, message).toBeGreaterThanOrEqual(m![1] ? lostAt + 1 : lostAt);
    expect(failedAt, message).toBeLessThanOrEqual(lostAt + 2);
    expect(message).toMatch(/the last work submitted: .*adam_step/);
    rt.destroy();
  });
});
