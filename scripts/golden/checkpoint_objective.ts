// Our side of scripts/golden/check_checkpoint.py: the objective of the same fixed input (x = 0.25
// + 0.5·(i mod 2), eps = 0) for a checkpoint, computed on the GPU by the training graph.
//   npx tsx scripts/golden/checkpoint_objective.ts out/model.safetensors
import { readCheckpointFile } from '../../src/checkpoint/file.js';
import { CompiledGraph } from '../../src/graph/executor.js';
import { createRuntime } from '../../src/gpu/runtime.js';
import { capacityAt } from '../../src/vae/config.js';
import { buildVaeGraph } from '../../src/vae/graphs.js';
import { VaeModel } from '../../src/vae/model.js';

const path = process.argv[2]!;
const rt = await createRuntime({ adapter: 'llvmpipe' });
const model = VaeModel.fromDecoded(rt, await readCheckpointFile(path), path);
const { inputSize: D, latentSize: Z } = model.config;
const grads = rt.buffers.storage('grads', model.flatSize * 4).buffer;
const vg = buildVaeGraph(model.config, { batch: 1, training: true, seed: 0, givenNoise: true });
const cg = await CompiledGraph.compile(rt, vg.graph, { params: model.paramBuffers(grads) });
cg.write(
  vg.x,
  Float32Array.from({ length: D }, (_, i) => 0.25 + 0.5 * (i % 2)),
);
cg.write(vg.eps!, new Float32Array(Z));
const capacity = model.config.capacity ? capacityAt(model.config.capacity, Infinity) : 0;
cg.update({ step: 0, capacity });
await rt.submitChecked(cg.dispatches);
const [recon] = await cg.read(vg.reconSum);
const [klSum, klObjective] = await cg.read(vg.klTotal);
console.log(JSON.stringify({ objective: recon! + klObjective!, reconSum: recon, klSum }));
process.exit(0);
