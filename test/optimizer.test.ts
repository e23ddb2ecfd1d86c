// The optimizer's parameter groups: frozen parameters get no gradient ops and no update, groups
// with their own learning rate or weight decay update exactly as a whole-model optimizer with
// those values would, and gradients the step does not reach are cleared, never stale.
import { describe, expect, it } from 'vitest';
import { readFloats } from '../src/gpu/buffers.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { Optimizer } from '../src/optim/optimizer.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer, type TrainerOptions } from '../src/vae/trainer.js';
import type { VaeConfig } from '../src/vae/config.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng, randomNormal } from './helpers/reference.js';

const config: VaeConfig = {
  version: 2,
  inputSize: 2,
  latentSize: 2,
  encoder: { hidden: [9], activation: 'tanh' },
  decoder: { hidden: [7], activation: 'tanh' },
  likelihood: { kind: 'gaussian-learned' },
};

const points = generateSynthetic('figure-eight', { count: 96, seed: 11 });
const data = { images: points.data, count: 96 };

describe.each(TEST_ADAPTERS)('optimizer parameter groups on %s', (adapter) => {
  async function train(options: TrainerOptions, steps = 3) {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, config, { seed: 4 });
    const before = await model.readWeights();
    const trainer = await Trainer.create(model, { batchSize: 32, seed: 1, ...options });
    for (let s = 0; s < steps; s++) {
      await trainer.trainStep(data.images.subarray(s * 64, s * 64 + 64), 32);
    }
    await trainer.flush();
    const after = await model.readWeights();
    return { rt, model, trainer, before, after };
  }

  it('leaves frozen parameters untouched and computes no gradient for them', async () => {
    const r = await train({ lr: 1e-2, groups: [{ params: /^decoder\./, frozen: true }] });
    for (const [name, w] of r.after) {
      if (name.startsWith('decoder.')) {
        expect([...w], name).toEqual([...r.before.get(name)!]);
      } else {
        expect([...w], name).not.toEqual([...r.before.get(name)!]);
      }
    }
    const ops = r.trainer.compiledTrainGraph()!.mg.graph.ops.map((op) => op.name);
    // The frozen decoder still passes the gradient on to z (its input), not to its own weights.
    expect(ops).toContain('decoder.out.dx');
    expect(ops).toContain('decoder.0.dx');
    expect(ops.filter((n) => /^decoder\..*\.(dW|db)$/.test(n))).toEqual([]);
    expect(ops).toContain('encoder.0.dW');
    r.trainer.destroy();
    r.model.destroy();
  });

  it('clears the gradients a step does not reach, so the global norm never sees stale values', async () => {
    const r = await train(
      { lr: 1e-2, groups: [{ params: /^decoder\.logsigma\./, frozen: true }] },
      1,
    );
    const { grads, stats } = r.trainer.optimizer;
    // Poison the frozen gradients (as a graph of another kind might have left them), then step:
    // they must come back zero, and the step must not be skipped as non-finite.
    const entry = r.model.layout.get('decoder.logsigma.weight')!;
    r.rt.device.queue.writeBuffer(
      grads.buffer,
      grads.offset + entry.offset,
      new Float32Array(entry.shape[0]! * entry.shape[1]!).fill(Number.NaN),
    );
    await r.trainer.trainStep(data.images.subarray(0, 64), 32);
    await r.trainer.flush();
    const named = r.model.unflatten(await readFloats(r.rt.device, grads));
    expect(named.get('decoder.logsigma.weight')!.every((v) => v === 0)).toBe(true);
    expect(named.get('encoder.0.weight')!.every(Number.isFinite)).toBe(true);
    const [sumsq, skipped] = await readFloats(r.rt.device, stats);
    expect(Number.isFinite(sumsq!)).toBe(true);
    expect(skipped).toBe(0);
    r.trainer.destroy();
    r.model.destroy();
  });

  it('updates a group with its own lr and weight decay exactly as a whole-model optimizer would', async () => {
    const whole = await train({ lr: 3e-3, weightDecay: 0.05, decoupled: true });
    const grouped = await train({
      lr: 7e-2,
      weightDecay: 0.5,
      decoupled: true,
      groups: [
        { params: /^encoder\./, lr: 3e-3, weightDecay: 0.05 },
        { params: () => true, lr: 3e-3, weightDecay: 0.05 },
      ],
    });
    for (const [name, w] of whole.after) {
      const g = grouped.after.get(name)!;
      for (let i = 0; i < w.length; i++) {
        expect(Math.abs(g[i]! - w[i]!), `${name}[${i}]`).toBeLessThan(1e-6 * (1 + Math.abs(w[i]!)));
      }
    }
    for (const r of [whole, grouped]) {
      r.trainer.destroy();
      r.model.destroy();
    }
  });

  it('names a group that selects no parameter', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, config, { seed: 4 });
    await expect(
      Trainer.create(model, { groups: [{ params: ['encoder.9.weight'], frozen: true }] }),
    ).rejects.toThrow(/optimizer: groups\[0\] selects no parameter/);
    await expect(
      Trainer.create(model, { groups: [{ params: /encoder/, lr: -1 }] }),
    ).rejects.toThrow(/optimizer: groups\[0\]\.lr must be a finite number >= 0, got -1/);
    model.destroy();
  });
  it('keeps non-parameter state (a buffer) out of every update, and in the checkpoint', async () => {
    // Layout: a parameter of 37 floats, a buffer of 11 (EMA statistics, say), a parameter of 5;
    // offsets 256-byte aligned as the model's flat layout is.
    const rt = await runtimeFor(adapter);
    const rng = makeRng(freshSeed());
    const params = [
      { name: 'a.weight', offset: 0, size: 37 },
      { name: 'ema.mean', offset: 256, size: 11, buffer: true },
      { name: 'b.bias', offset: 512, size: 5 },
    ];
    const floats = 512 / 4 + 5;
    const initial = randomNormal(rng, floats);
    const weights = rt.buffers.upload('buf.params', initial);
    const opt = await Optimizer.create(rt, weights, floats, params, { lr: 0.1, label: 'buf' });
    // Non-zero gradients everywhere, the buffer's range included: the update must still skip it.
    rt.device.queue.writeBuffer(
      opt.grads.buffer,
      opt.grads.offset,
      new Float32Array(randomNormal(rng, floats)),
    );
    for (let s = 0; s < 2; s++) {
      opt.setStep(0.1);
      await rt.submitChecked([opt.program], 'buf');
      opt.advance();
    }
    const after = await readFloats(rt.device, weights);
    const range = (p: (typeof params)[number], a: Float32Array) =>
      Array.from(a.subarray(p.offset / 4, p.offset / 4 + p.size));
    expect(range(params[1]!, after)).toEqual(range(params[1]!, initial));
    for (const p of [params[0]!, params[2]!]) {
      const moved = range(p, after).filter((v, i) => v !== range(p, initial)[i]).length;
      expect(moved, p.name).toBe(p.size);
    }
    expect(opt.trains('ema.mean')).toBe(false);
    expect(opt.trains('a.weight')).toBe(true);
    // The buffer travels in a checkpoint like a weight.
    const bytes = encodeCheckpoint({
      params: params.map(
        (p) => [p.name, { shape: [p.size], data: Float32Array.from(range(p, after)) }] as const,
      ),
    });
    const back = decodeCheckpoint(bytes, { source: 'test' });
    expect(Array.from(back.params.get('ema.mean')!.data)).toEqual(range(params[1]!, initial));
    opt.destroy();
    rt.buffers.destroy(weights.buffer);
  });
});
