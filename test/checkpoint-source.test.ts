// Reading checkpoints from a URL while they stream in: the safetensors header (the model config)
// arrives before the weights, and VaeInference.fromCheckpoint compiles its decoders meanwhile.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { openCheckpointSource, readCheckpointSource } from '../src/checkpoint/source.js';
import { createRuntime, type GpuRuntime } from '../src/gpu/runtime.js';
import { parameterSpecs, resolveVaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { initialWeights } from '../src/vae/model.js';
import { TEST_ADAPTERS } from './helpers/gpu.js';

const CONFIG = resolveVaeConfig({
  inputSize: 30,
  latentSize: 4,
  encoder: { hidden: [12] },
  decoder: { hidden: [14] },
});

function checkpointBytes(seed: number): Uint8Array {
  const weights = initialWeights(CONFIG, seed);
  return encodeCheckpoint({
    params: parameterSpecs(CONFIG).map(
      (spec) => [spec.name, { shape: spec.shape, data: weights.get(spec.name)! }] as const,
    ),
    config: CONFIG,
  });
}

/**
 * Serves `bytes` at /model.safetensors: the first `split` bytes at once, the rest only when
 * release() is called (so a test can look at what happened while the body was incomplete).
 */
async function slowServer(bytes: Uint8Array, split: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server: Server = createServer((req, res) => {
    if (req.url !== '/model.safetensors') {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': String(bytes.length) });
    res.write(bytes.subarray(0, split));
    void released.then(() => res.end(bytes.subarray(split)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, release, close: () => server.close() };
}

const until = async (what: string, cond: () => boolean, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('checkpoint sources', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  it('hands out the header of a URL before the body has arrived', async () => {
    const bytes = checkpointBytes(1);
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const server = await slowServer(bytes, headerEnd + 10);
    cleanup.push(server.close);
    const progress: number[] = [];
    const opened = openCheckpointSource(`${server.url}/model.safetensors`, {
      onProgress: (n) => progress.push(n),
    });
    let bodyDone = false;
    void opened.bytes.then(() => (bodyDone = true));
    const header = await opened.header;
    expect(bodyDone).toBe(false);
    expect(JSON.parse(header.metadata.config!)).toEqual(JSON.parse(JSON.stringify(CONFIG)));
    expect(header.tensors.map((t) => t.name)).toContain('decoder.out.weight');
    server.release();
    expect(await opened.bytes).toEqual(bytes);
    expect(progress.at(-1)).toBe(bytes.length);
  });

  it('rejects the header of a source that is not a checkpoint, naming it', async () => {
    const opened = openCheckpointSource(new Uint8Array([1, 2, 3]));
    await expect(opened.header).rejects.toThrow(/checkpoint bytes: file is 3 bytes/);
    await expect(readCheckpointSource(42 as never)).rejects.toThrow(/must be a Uint8Array/);
  });
});

describe.each(TEST_ADAPTERS.slice(0, 1))('fromCheckpoint on %s', (adapter) => {
  let rt: GpuRuntime | undefined;
  afterEach(() => rt?.destroy());

  it('compiles the decoders while the weights download, then decodes with them', async () => {
    // A fresh runtime: no pipeline is cached before the load starts.
    rt = await createRuntime({ adapter, tuning: { persist: false, background: false } });
    const bytes = checkpointBytes(2);
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const server = await slowServer(bytes, headerEnd);
    try {
      const loading = VaeInference.fromCheckpoint(rt, `${server.url}/model.safetensors`, {
        batchSizes: [1, 8],
      });
      // The body is held back until pipelines exist: they can only come from the header.
      const r = rt;
      // The hidden layer's matmul and the output layer's (its sigmoid in the epilogue).
      await until('pipelines compiled from the header', () => r.cachedPipelineCount >= 2);
      server.release();
      const inference = await loading;
      expect(inference.cachedGraphs).toEqual(['decode1', 'decode8']);
      // The weights came in after the compile: the decode uses them, not the empty model's zeros.
      const fromBytes = await VaeInference.fromCheckpoint(rt, bytes, { warm: [] });
      expect(fromBytes.cachedGraphs).toEqual([]);
      const z = Float32Array.from({ length: 5 * 4 }, (_, i) => Math.sin(i));
      const a = await inference.decode(z);
      expect(a).toEqual(await fromBytes.decode(z));
      expect(new Set(a).size).toBeGreaterThan(10);
      inference.destroy();
      fromBytes.destroy();
    } finally {
      server.close();
    }
  });
});
