// The same workloads on TensorFlow.js (core ops, tf.variableGrads / tf.train.adam), WebGPU or WASM
// backend. For WebGPU a repeat ends with backend.submitQueue() and queue.onSubmittedWorkDone();
// WASM runs synchronously.
import * as tf from '@tensorflow/tfjs-core';
// Gradients register as a side effect that bundlers drop from the core import.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
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
export type TfBackend = 'webgpu' | 'wasm';

interface WebGpuBackendLike {
  submitQueue(): void;
  endComputePassEncoder(): void;
  /** Private in tfjs: the open encoder, null when nothing is recorded. */
  commandEncoder: GPUCommandEncoder | null;
  queue: GPUQueue;
  adapterInfo?: { vendor?: string; architecture?: string; description?: string };
}

/** Our layers (PyTorch names, W (out, in)); tfjs keeps Dense-style kernels (in, out). */
const LAYERS = ['encoder.0', 'encoder.mu', 'encoder.logvar', 'decoder.0', 'decoder.out'] as const;
type LayerName = (typeof LAYERS)[number];

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

let variableCounter = 0;

/** The MNIST VAE as tf variables initialised from our weights. */
class TfVae {
  readonly kernels = new Map<LayerName, tf.Variable>();
  readonly biases = new Map<LayerName, tf.Variable>();
  readonly list: tf.Variable[] = [];

  constructor(weights: Weights) {
    const id = variableCounter++;
    for (const name of LAYERS) {
      const b = weights.get(`${name}.bias`)!;
      const w = weights.get(`${name}.weight`)!;
      const out = b.length;
      const inp = w.length / out;
      const k = tf.variable(
        tf.tensor2d(transpose(w, out, inp), [inp, out]),
        true,
        `v${id}.${name}.k`,
      );
      const bias = tf.variable(tf.tensor1d(b), true, `v${id}.${name}.b`);
      this.kernels.set(name, k);
      this.biases.set(name, bias);
      this.list.push(k, bias);
    }
  }

  private dense(name: LayerName, x: tf.Tensor2D, relu: boolean): tf.Tensor2D {
    const y = tf.add(tf.matMul(x, this.kernels.get(name)! as tf.Tensor2D), this.biases.get(name)!);
    return (relu ? tf.relu(y) : y) as tf.Tensor2D;
  }

  decode(z: tf.Tensor2D): tf.Tensor2D {
    return this.dense('decoder.out', this.dense('decoder.0', z, true), false);
  }

  /** Σ BCE-with-logits + Σ KL, z = mu + exp(logvar / 2)·eps (reduction 'sum', β = 1). */
  loss(x: tf.Tensor2D, eps: tf.Tensor2D): tf.Scalar {
    const h = this.dense('encoder.0', x, true);
    const mu = this.dense('encoder.mu', h, false);
    const logvar = this.dense('encoder.logvar', h, false);
    const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps)) as tf.Tensor2D;
    const logits = this.decode(z);
    const bce = tf.sum(
      tf.add(tf.sub(tf.relu(logits), tf.mul(logits, x)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))),
    );
    const kl = tf.mul(
      tf.sum(tf.sub(tf.sub(tf.add(logvar, 1), tf.square(mu)), tf.exp(logvar))),
      -0.5,
    );
    return tf.add(bce, kl) as tf.Scalar;
  }

  dispose(): void {
    for (const v of this.list) v.dispose();
  }
}

export class Tfjs {
  private constructor(readonly backend: TfBackend) {}

  static async create(backend: TfBackend, wasmBase: string): Promise<Tfjs> {
    if (backend === 'wasm') {
      setWasmPaths(wasmBase);
      // The threaded build's inlined pthread worker breaks under Vite's minifier ("e is not
      // defined"): use the SIMD build on one thread.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    }
    if (!(await tf.setBackend(backend))) throw new Error(`tfjs: backend '${backend}' failed`);
    await tf.ready();
    return new Tfjs(backend);
  }

  /** Makes this backend the active one (tfjs has one at a time; both stay initialised). */
  async activate(): Promise<void> {
    if (tf.getBackend() !== this.backend && !(await tf.setBackend(this.backend)))
      throw new Error(`tfjs: backend '${this.backend}' failed`);
  }

  /** Backend details: the adapter for WebGPU, the build (SIMD / threads) for WASM. */
  async describe(): Promise<string> {
    const b = tf.backend() as unknown as WebGpuBackendLike;
    if (this.backend === 'webgpu') {
      const i = b.adapterInfo ?? {};
      return `webgpu (${[i.vendor, i.architecture, i.description].filter(Boolean).join(' / ')})`;
    }
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return `wasm (simd ${String(simd)}, threads ${threads ? getThreadsCount() : 'no'})`;
  }

  readonly sync = async (): Promise<void> => {
    if (this.backend !== 'webgpu') return;
    // What tfjs does before a readback: end the open pass, submit the recorded commands.
    const b = tf.backend() as unknown as WebGpuBackendLike;
    b.endComputePassEncoder();
    if (b.commandEncoder) b.submitQueue();
    await b.queue.onSubmittedWorkDone();
  };

  async matmul(
    c: MatmulCase,
    a: Float32Array,
    b: Float32Array,
  ): Promise<{ out: Float32Array; timed: Timed }> {
    const ta = c.layout === 'TN' ? tf.tensor2d(a, [c.K, c.M]) : tf.tensor2d(a, [c.M, c.K]);
    const tb = c.layout === 'NT' ? tf.tensor2d(b, [c.N, c.K]) : tf.tensor2d(b, [c.K, c.N]);
    const mm = () => tf.matMul(ta, tb, c.layout === 'TN', c.layout === 'NT');
    const first = mm();
    const out = (await first.data()) as Float32Array;
    first.dispose();
    return {
      out,
      timed: {
        run: (n) => {
          for (let i = 0; i < n; i++) mm().dispose();
        },
        sync: this.sync,
        dispose: () => {
          ta.dispose();
          tb.dispose();
        },
      },
    };
  }

  async relu(x: Float32Array): Promise<{ out: Float32Array; timed: Timed }> {
    const tx = tf.tensor1d(x);
    const first = tf.relu(tx);
    const out = (await first.data()) as Float32Array;
    first.dispose();
    return {
      out,
      timed: {
        run: (n) => {
          for (let i = 0; i < n; i++) tf.relu(tx).dispose();
        },
        sync: this.sync,
        dispose: () => tx.dispose(),
      },
    };
  }

  async sum(x: Float32Array): Promise<{ out: number; timed: Timed }> {
    const tx = tf.tensor1d(x);
    const first = tf.sum(tx);
    const out = (await first.data())[0]!;
    first.dispose();
    return {
      out,
      timed: {
        run: (n) => {
          for (let i = 0; i < n; i++) tf.sum(tx).dispose();
        },
        sync: this.sync,
        dispose: () => tx.dispose(),
      },
    };
  }

  /** Loss and gradients (our names and (out, in) layout) of one step from the same weights/noise. */
  async trainCheck(
    weights: Weights,
    x: Float32Array,
    eps: Float32Array,
    B: number,
  ): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const vae = new TfVae(weights);
    const tx = tf.tensor2d(x, [B, MNIST_VAE.inputSize]);
    const te = tf.tensor2d(eps, [B, MNIST_VAE.latentSize]);
    const { value, grads } = tf.variableGrads(() => vae.loss(tx, te), vae.list);
    const loss = (await value.data())[0]!;
    const out = new Map<string, Float32Array>();
    for (const name of LAYERS) {
      const k = vae.kernels.get(name)!;
      const [inp, o] = k.shape as [number, number];
      out.set(`${name}.weight`, transpose((await grads[k.name]!.data()) as Float32Array, inp, o));
      out.set(`${name}.bias`, (await grads[vae.biases.get(name)!.name]!.data()) as Float32Array);
    }
    for (const g of Object.values(grads)) g.dispose();
    value.dispose();
    tx.dispose();
    te.dispose();
    vae.dispose();
    return { loss, grads: out };
  }

  /** optimizer.minimize of the loss with fresh normal noise; Adam(1e-3, 0.9, 0.999, 1e-8). */
  async train(
    weights: Weights,
    B: number,
    batches: readonly Float32Array[],
  ): Promise<{ timed: Timed; memoryBytes: number }> {
    const vae = new TfVae(weights);
    const optimizer = tf.train.adam(LR, ADAM.beta1, ADAM.beta2, ADAM.eps);
    const Z = MNIST_VAE.latentSize;
    let next = 0;
    const step = () => {
      const x = tf.tensor2d(batches[next++ % batches.length]!, [B, MNIST_VAE.inputSize]);
      optimizer.minimize(() => vae.loss(x, tf.randomNormal([B, Z])), false, vae.list);
      x.dispose();
    };
    step();
    await this.sync();
    const memory = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    return {
      memoryBytes: memory.numBytesInGPU ?? memory.numBytes,
      timed: {
        run: (n) => {
          for (let i = 0; i < n; i++) step();
        },
        // Reading a small variable waits for every step (WASM: already done).
        sync: async () => {
          await this.sync();
          await vae.biases.get('encoder.mu')!.data();
        },
        dispose: () => {
          optimizer.dispose();
          vae.dispose();
        },
      },
    };
  }

  async decode(
    weights: Weights,
    B: number,
    z: Float32Array,
  ): Promise<{ out: Float32Array; timed: Timed }> {
    const vae = new TfVae(weights);
    const Z = MNIST_VAE.latentSize;
    const once = () => {
      const tz = tf.tensor2d(z, [B, Z]);
      const y = vae.decode(tz);
      tz.dispose();
      return y;
    };
    const first = tf.tidy(once);
    const out = (await first.data()) as Float32Array;
    first.dispose();
    return {
      out,
      timed: {
        run: (n) => {
          for (let i = 0; i < n; i++) tf.tidy(once).dispose();
        },
        sync: this.sync,
        dispose: () => vae.dispose(),
      },
    };
  }

  /** One decode to images (sigmoid of the logits), read back: what an app's first decode does. */
  async decodeImages(weights: Weights, B: number, z: Float32Array): Promise<Float32Array> {
    const vae = new TfVae(weights);
    const y = tf.tidy(() => tf.sigmoid(vae.decode(tf.tensor2d(z, [B, MNIST_VAE.latentSize]))));
    const out = (await y.data()) as Float32Array;
    y.dispose();
    vae.dispose();
    return out;
  }

  async traversal(weights: Weights, z: Float32Array, canvas: HTMLCanvasElement): Promise<Timed> {
    const vae = new TfVae(weights);
    const ctx = canvas.getContext('2d')!;
    const image = ctx.createImageData(canvas.width, canvas.height);
    const n = GRID * GRID;
    return {
      run: async (count) => {
        for (let i = 0; i < count; i++) {
          const y = tf.tidy(() => vae.decode(tf.tensor2d(z, [n, MNIST_VAE.latentSize])));
          logitsToImage((await y.data()) as Float32Array, image, GRID, 28);
          y.dispose();
          ctx.putImageData(image, 0, 0);
        }
      },
      sync: this.sync,
      dispose: () => vae.dispose(),
    };
  }

  /** A tiny op on a GPU-resident tensor (4 floats), then its readback, per repetition. */
  async readback(): Promise<Timed> {
    // relu over 4096 values runs on the GPU (above tfjs's CPU hand-off size); keep 4 of them.
    const big = tf.relu(tf.tensor1d(new Float32Array(4096)));
    const small = tf.slice(big, 0, 4);
    await small.data();
    return {
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          const y = tf.add(small, 1);
          await y.data();
          y.dispose();
        }
      },
      sync: this.sync,
      dispose: () => {
        big.dispose();
        small.dispose();
      },
    };
  }
}
