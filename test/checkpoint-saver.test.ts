// The CLI's background checkpoints: a snapshot holds the state after the step it was taken at, even
// though training goes on before the file is written; writes are atomic and in order; a failed
// write is reported and leaves no temporary file.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import type { Checkpoint } from '../src/checkpoint/checkpoint.js';
import { CheckpointSaver } from '../src/cli/checkpoint-saver.js';
import type { VaeConfig } from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng } from './helpers/reference.js';

const config: VaeConfig = {
  inputSize: 13,
  latentSize: 3,
  encoder: { hidden: [7], activation: 'tanh' },
  decoder: { hidden: [7], activation: 'tanh' },
};

function batch(seed: number, rows: number): Float32Array {
  const rng = makeRng(seed);
  return Float32Array.from({ length: rows * config.inputSize }, () => rng());
}

/** Every tensor of a checkpoint, params and moments, under one name space. */
function flatten(c: Checkpoint): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [n, t] of c.params) out.set(`param.${n}`, t.data);
  for (const [m, tensors] of Object.entries(c.optimizer!.moments)) {
    for (const [n, t] of tensors) out.set(`${m}.${n}`, t.data);
  }
  return out;
}

// Plain buffer copies and maps: the first adapter is enough (the graph tests cover both).
describe.each(TEST_ADAPTERS.slice(0, 1))('checkpoint saver on %s', (adapter) => {
  it('writes the state after the snapshot step while training goes on', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const model = VaeModel.create(rt, config, { seed });
    const trainer = await Trainer.create(model, { batchSize: 9, lr: 3e-2, seed });
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-saver-'));
    const path = join(dir, 'model.safetensors');
    const saver = await CheckpointSaver.create(trainer, path);
    try {
      for (let s = 0; s < 3; s++) await trainer.trainStep(batch(seed + s, 9));
      // The expected state after step 3, read the slow way.
      const expected = {
        params: await model.readWeights(),
        optimizer: await trainer.optimizerState(),
      };
      saver.snapshot(3, true);
      // Training goes on before the snapshot is written: later steps must not leak into it.
      for (let s = 3; s < 6; s++) await trainer.trainStep(batch(seed + s, 9));
      await saver.flush();
      expect(saver.savedStep).toBe(3);
      const written = await readCheckpointFile(path);
      expect(written.optimizer!.step).toBe(3);
      expect(written.optimizer!.hyper).toEqual(expected.optimizer.hyper);
      expect(written.config).toEqual(model.config);
      const got = flatten(written);
      const want = new Map<string, Float32Array>();
      for (const [n, d] of expected.params) want.set(`param.${n}`, d);
      for (const [m, tensors] of Object.entries(expected.optimizer.moments)) {
        for (const [n, t] of tensors as Map<string, { data: Float32Array }>) {
          want.set(`${m}.${n}`, t.data);
        }
      }
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, data] of want) expect(got.get(name), name).toEqual(data);
      // ... and the state did move on after step 3 (so the comparison above can fail).
      const now = await model.readWeights();
      expect(
        [...now.values()].some((d, i) =>
          d.some((v, j) => v !== [...expected.params.values()][i]![j]),
        ),
      ).toBe(true);

      // Periodic snapshots: at most two in flight; a third is put off until a slot is free and
      // then taken at the step of that moment (10, not 9).
      saver.snapshot(7);
      saver.snapshot(8);
      saver.snapshot(9);
      await trainer.trainStep(batch(seed + 9, 9));
      await saver.flush();
      saver.catchUp(10);
      await saver.flush();
      expect(saver.savedStep).toBe(10);
      expect(saver.written).toBe(4);
      expect((await readCheckpointFile(path)).optimizer!.step).toBe(10);
      expect(readdirSync(dir)).toEqual(['model.safetensors']); // no temporary files left
    } finally {
      saver.destroy();
      trainer.destroy();
      model.destroy();
    }
  });

  it('reports a failed write once, through flush and onError', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, config, { seed: 1 });
    const trainer = await Trainer.create(model, { batchSize: 9 });
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-saver-'));
    const path = join(dir, 'missing', 'model.safetensors');
    const errors: Error[] = [];
    const saver = await CheckpointSaver.create(trainer, path, (e) => errors.push(e));
    try {
      await trainer.trainStep(batch(2, 9));
      saver.snapshot(1, true);
      saver.snapshot(1, true);
      await expect(saver.flush()).rejects.toThrow(
        /cannot write the checkpoint .*missing\/model\.safetensors: .*ENOENT/,
      );
      expect(errors).toHaveLength(1);
      expect(saver.written).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      saver.destroy();
      trainer.destroy();
      model.destroy();
    }
  });
});
