// The VQ-VAE's second stage: train a vq model's learned prior over its codes (prior 'made'), then
// sample codes from it and decode them; or record the ancestral sampler into one's own work.
import {
  codeUsage,
  PriorSampler,
  PriorTrainer,
  VaeInference,
  VaeModel,
  type CodeShape,
  type CodeUsage,
  type GpuRuntime,
  type MadePriorConfig,
  type PriorEpochReport,
  type PriorTrainerOptions,
  type VaeConfig,
} from 'webgpu-vae';

export async function priorExample(rt: GpuRuntime, images: Float32Array): Promise<Float32Array> {
  const prior: MadePriorConfig = { kind: 'made', hidden: [256], activation: 'relu' };
  const config: VaeConfig = {
    version: 2,
    inputSize: 784,
    latentSize: 64,
    encoder: { hidden: [400] },
    decoder: { hidden: [400] },
    posterior: { kind: 'vq', codes: 128, dim: 4 },
    prior,
  };
  const model = VaeModel.create(rt, config, { seed: 1 });
  // ... the VAE trained with Trainer first (the prior's tensors are not its parameters) ...
  const vae = VaeInference.create(model);
  const { codes } = await vae.encode(images); // (n, 16) code indices
  // How the codebook is used: per-code counts, perplexity, codes in use (the same from the codes).
  const usage: CodeUsage = await vae.codeUsage(images);
  console.log(usage.inUse, usage.perplexity, codeUsage(codes!, 128).counts);
  const options: PriorTrainerOptions = { batchSize: 128, lr: 1e-3, seed: 0 };
  const trainer = await PriorTrainer.create(model, options);
  const shape: CodeShape = trainer.shape; // 16 positions of 128 codes
  const reports: PriorEpochReport[] = await trainer.fit(codes!, {
    epochs: 10,
    onEpoch: (r) => console.log(`epoch ${r.epoch}: ${r.trainBits.toFixed(3)} bits per code`),
  });
  console.log(reports.length, shape.positions, await trainer.evaluate(codes!));
  trainer.destroy();
  const { images: samples } = await vae.sample(64, { temperature: 0.9, seed: 1 });
  // The sampler alone: P passes recorded into one's own command encoder.
  const sampler = await PriorSampler.create(model, 32, 7);
  const encoder = rt.device.createCommandEncoder({ label: 'app.prior' });
  sampler.encode(encoder, 1, 0);
  rt.device.queue.submit([encoder.finish()]);
  console.log(sampler.codes.size === 32 * shape.positions * 4);
  sampler.destroy();
  vae.destroy();
  return samples;
}
