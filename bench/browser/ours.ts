// The workloads on webgpu-vae: prepared dispatches replayed in one submit, the Trainer's step, a
// decode-only graph. Every Timed ends its repeat with device.queue.onSubmittedWorkDone().
import { readFloats, type BufferRange } from '../../src/gpu/buffers.js';
import { createRuntime, type GpuRuntime, type Work } from '../../src/gpu/runtime.js';
import { fillForward } from '../../src/kernels/fill.js';
import { prepareActivationForward } from '../../src/kernels/activations.js';
import { prepareReduceTotal } from '../../src/kernels/reduce.js';
import { matmulVariantOf, prepareMatmul } from '../../src/kernels/matmul.js';
import { CompiledGraph } from '../../src/graph/executor.js';
import { buildDecoderGraph, buildModelGraph, METRICS_STATE } from '../../src/vae/build.js';
import { hyperAt } from '../../src/vae/evaluator.js';
import type { VaeConfig } from '../../src/vae/config.js';
import { VaeModel } from '../../src/vae/model.js';
import { Trainer } from '../../src/vae/trainer.js';
import {
  ADAM,
  GRID,
  LR,
  MNIST_VAE,
  logitsToImage,
  type MatmulCase,
  type Timed,
} from './workloads.js';

export type Weights = ReadonlyMap<string, Float32Array>;

export class Ours {
  private constructor(readonly rt: GpuRuntime) {}

  /**
   * Timed pages run on the shipped matmul defaults: no background measuring to disturb the timings,
   * nothing persisted (bench/run.ts's startup rows measure those).
   */
  static async create(): Promise<Ours> {
    return new Ours(await createRuntime({ tuning: { persist: false, background: false } }));
  }

  get device(): GPUDevice {
    return this.rt.device;
  }

  private sync = () => this.rt.finish();

  /** Replays prepared dispatches n times in one submit. */
  private replay(dispatches: readonly Work[], destroy: () => void): Timed {
    return {
      run: (n) => {
        const list: Work[] = [];
        for (let i = 0; i < n; i++) list.push(...dispatches);
        this.rt.submit(list, 'bench');
      },
      sync: this.sync,
      dispose: destroy,
    };
  }

  async matmul(
    c: MatmulCase,
    a: Float32Array,
    b: Float32Array,
  ): Promise<{ out: Float32Array; timed: Timed; variant: string }> {
    const bufs = {
      a: this.rt.buffers.upload('a', a),
      b: this.rt.buffers.upload('b', b),
      c: this.rt.buffers.storage('c', 4 * c.M * c.N),
    };
    const d = await prepareMatmul(this.rt, { layout: c.layout, M: c.M, N: c.N, K: c.K, ...bufs });
    await this.rt.submitChecked([d]);
    const out = await readFloats(this.device, bufs.c);
    const timed = this.replay([d], () => {
      d.destroy();
      for (const r of Object.values(bufs)) this.rt.buffers.destroy(r.buffer);
    });
    return { out, timed, variant: matmulVariantOf(d) ?? '?' };
  }

  async relu(x: Float32Array): Promise<{ out: Float32Array; timed: Timed }> {
    const xb = this.rt.buffers.upload('x', x);
    const yb = this.rt.buffers.storage('y', 4 * x.length);
    const d = await prepareActivationForward(this.rt, {
      n: x.length,
      activation: 'relu',
      x: xb,
      y: yb,
    });
    await this.rt.submitChecked([d]);
    const out = await readFloats(this.device, yb);
    return {
      out,
      timed: this.replay([d], () => {
        d.destroy();
        this.rt.buffers.destroy(xb.buffer);
        this.rt.buffers.destroy(yb.buffer);
      }),
    };
  }

  async sum(x: Float32Array): Promise<{ out: number; timed: Timed }> {
    const xb = this.rt.buffers.upload('x', x);
    const ob = this.rt.buffers.storage('sum', 4);
    const r = await prepareReduceTotal(this.rt, { n: x.length, x: xb, out: ob });
    await this.rt.submitChecked(r.dispatches);
    const out = (await readFloats(this.device, ob))[0]!;
    return {
      out,
      timed: this.replay(r.dispatches, () => {
        r.destroy();
        this.rt.buffers.destroy(xb.buffer);
        this.rt.buffers.destroy(ob.buffer);
      }),
    };
  }

  /** Loss and gradients of one step from `weights`, the batch x and given noise eps. */
  async trainCheck(
    weights: Weights,
    x: Float32Array,
    eps: Float32Array,
    B: number,
  ): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const model = VaeModel.create(this.rt, MNIST_VAE, { weights, label: 'check' });
    const grads = this.rt.buffers.storage('check.grads', model.flatSize * 4).buffer;
    const mg = buildModelGraph(model.config, {
      batch: B,
      training: true,
      seed: 1,
      givenNoise: true,
    });
    const metrics = this.rt.buffers.storage('check.metrics', 4 * mg.metrics.length);
    const cg = await CompiledGraph.compile(this.rt, mg.graph, {
      params: model.paramBuffers(grads),
      external: new Map([[METRICS_STATE, metrics]]),
      label: 'check',
    });
    cg.write(mg.x, x);
    if (mg.eps) cg.write(mg.eps, eps);
    cg.write(mg.hyper, Float32Array.from(hyperAt(model.config, 0)));
    cg.update({ step: 0 });
    await this.rt.submitChecked(cg.dispatches, 'check');
    const loss = (await cg.read(mg.loss))[0]!;
    const g = await model.readFlat(grads);
    cg.destroy();
    this.rt.buffers.destroy(grads);
    this.rt.buffers.destroy(metrics.buffer);
    model.destroy();
    return { loss, grads: g };
  }

  /**
   * The Trainer's whole step (forward, backward, Adam; one submit) over the given batches. `config`
   * defaults to the MNIST MLP VAE; without `weights` the model gets seeded initial weights.
   */
  async train(
    weights: Weights | undefined,
    B: number,
    batches: readonly Float32Array[],
    config: VaeConfig = MNIST_VAE,
  ): Promise<{ timed: Timed; trainer: Trainer; memory: ReturnType<Trainer['memory']> }> {
    const model = VaeModel.create(this.rt, config, {
      ...(weights ? { weights } : { seed: 0 }),
      label: `train${B}`,
    });
    const trainer = await Trainer.create(model, { batchSize: B, lr: LR, ...ADAM, seed: 1 });
    await trainer.prepare();
    let next = 0;
    const timed: Timed = {
      run: async (n) => {
        for (let i = 0; i < n; i++) await trainer.trainStep(batches[next++ % batches.length]!, B);
      },
      sync: () => trainer.flush(),
      dispose: () => {
        trainer.destroy();
        model.destroy();
      },
    };
    return { timed, trainer, memory: trainer.memory() };
  }

  /** Per-kernel GPU times of one train step (each dispatch in its own timed pass), median of 3. */
  async breakdown(trainer: Trainer): Promise<{ label: string; ms: number }[] | undefined> {
    const timer = this.rt.timer;
    const g = trainer.compiledTrainGraph();
    if (!timer || !g) return undefined;
    const dispatches = [...g.cg.dispatches, ...trainer.optimizer.program.dispatches];
    const runs: number[][] = [];
    for (let i = 0; i < 3; i++) runs.push((await timer.time(dispatches)).map((k) => k.ms));
    return dispatches.map((d, i) => {
      const v = runs.map((r) => r[i]!).sort((a, b) => a - b);
      return { label: d.label, ms: v[1]! };
    });
  }

  /** A decode-only graph z (B, Z) -> logits (B, 784) on `weights`. */
  async decoder(weights: Weights, B: number) {
    const model = VaeModel.create(this.rt, MNIST_VAE, { weights, label: `decode${B}` });
    const { graph, z, output } = buildDecoderGraph(model.config, B);
    const cg = await CompiledGraph.compile(this.rt, graph, {
      params: model.paramBuffers(),
      label: `decode${B}`,
    });
    return {
      cg,
      z,
      output,
      destroy: () => {
        cg.destroy();
        model.destroy();
      },
    };
  }

  async decode(
    weights: Weights,
    B: number,
    z: Float32Array,
  ): Promise<{ out: Float32Array; timed: Timed }> {
    const dec = await this.decoder(weights, B);
    dec.cg.write(dec.z, z);
    await this.rt.submitChecked(dec.cg.dispatches, 'decode');
    const out = await dec.cg.read(dec.output);
    const timed: Timed = {
      // One submit per decode request (new latents written each time), as an app would.
      run: (n) => {
        for (let i = 0; i < n; i++) {
          dec.cg.write(dec.z, z);
          this.rt.submit(dec.cg.dispatches, 'decode');
        }
      },
      sync: this.sync,
      dispose: dec.destroy,
    };
    return { out, timed };
  }

  /** Frames of the GRID×GRID traversal: decode, read back, sigmoid to RGBA, putImageData. */
  async traversal(weights: Weights, z: Float32Array, canvas: HTMLCanvasElement): Promise<Timed> {
    const dec = await this.decoder(weights, GRID * GRID);
    const ctx = canvas.getContext('2d')!;
    const image = ctx.createImageData(canvas.width, canvas.height);
    return {
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          dec.cg.write(dec.z, z);
          this.rt.submit(dec.cg.dispatches, 'traversal');
          logitsToImage(await dec.cg.read(dec.output), image, GRID, 28);
          ctx.putImageData(image, 0, 0);
        }
      },
      sync: this.sync,
      dispose: dec.destroy,
    };
  }

  /**
   * Frames of the GRID×GRID traversal through the library's GPU-direct display (src/display:
   * codes made on the GPU, decoder, tiling into a WebGPU canvas, one submit; no readback), two in
   * flight as TraversalLoop runs them.
   */
  async displayTraversal(
    weights: Weights,
    canvas: HTMLCanvasElement,
    targetKind: 'canvas' | 'texture' = 'canvas',
  ): Promise<Timed> {
    const { VaeInference } = await import('../../src/vae/inference.js');
    const { LatentView, canvasTarget, gridLayout, textureTarget } =
      await import('../../src/display/index.js');
    const model = VaeModel.create(this.rt, MNIST_VAE, { weights, label: 'display' });
    const inference = VaeInference.create(model);
    const n = GRID * GRID;
    const layout = gridLayout(n, 28, 28, { columns: GRID });
    // 'texture': an offscreen texture instead of the canvas's (everything but presentation).
    const offscreen = targetKind === 'texture' ? textureTarget(this.rt, layout) : undefined;
    const target = offscreen ?? canvasTarget(this.rt, canvas, layout);
    const view = await LatentView.create(inference, target, {
      rows: GRID,
      cols: GRID,
      spec: { mode: 'traverse', dimA: 0 },
    });
    view.setBase(new Float32Array(MNIST_VAE.latentSize));
    return {
      // Two frames in flight, as TraversalLoop keeps them: the next is recorded while one runs.
      run: async (count) => {
        const pending: Promise<void>[] = [];
        for (let i = 0; i < count; i++) {
          if (pending.length >= 2) await pending.shift();
          pending.push(view.frame());
        }
        await Promise.all(pending);
      },
      sync: this.sync,
      dispose: () => {
        view.destroy();
        offscreen?.destroy();
        inference.destroy();
        model.destroy();
      },
    };
  }

  /** A tiny kernel writing 4 floats, then their readback (mapAsync), per repetition. */
  async readback(): Promise<Timed> {
    const out: BufferRange = this.rt.buffers.storage('rb', 16);
    const d = await this.rt.prepare(fillForward, {
      bindings: { out },
      shape: { n: 4 },
      uniforms: { value: 1 },
    });
    return {
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          this.rt.submit([d], 'readback');
          await readFloats(this.device, out);
        }
      },
      sync: this.sync,
      dispose: () => {
        d.destroy();
        this.rt.buffers.destroy(out.buffer);
      },
    };
  }
}
