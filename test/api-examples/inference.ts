// Inference: load a checkpoint and encode, decode, sample, interpolate, traverse, inpaint;
// complete images with a conditional completion model.
import {
  createRuntime,
  DEFAULT_BATCH_SIZES,
  MAX_INPAINT_ITERATIONS,
  VaeInference,
  type CompleteOptions,
  type Completed,
  type Decoded,
  type InpaintOptions,
} from 'webgpu-vae';

export async function inferenceExample(images: Float32Array, url: string): Promise<Decoded[]> {
  const rt = await createRuntime();
  const vae = await VaeInference.fromCheckpoint(rt, url, {
    batchSizes: [...DEFAULT_BATCH_SIZES, 1024], // graphs are planned (and cached) per size
    onProgress: (loaded, total) => console.log(`${loaded} of ${total ?? '?'} bytes`),
  });
  const { mu, scaleTril } = await vae.encode(images, 2);
  const Z = vae.config.latentSize;
  // A full-covariance posterior also reports L (2, Z, Z); the diagonal one has no scaleTril.
  if (scaleTril) console.log(`L[0][0][0] = ${scaleTril[0]}, ${scaleTril.length === 2 * Z * Z}`);
  const pictures: Float32Array = await vae.decode(mu, 2);
  console.log(pictures.length === 2 * vae.config.inputSize);
  const results = [
    await vae.sample(16, { temperature: 0.8, seed: 1 }),
    await vae.reconstruct(images, 2),
    await vae.interpolate(mu.subarray(0, Z), mu.subarray(Z, 2 * Z), 10, {
      method: 'spherical',
      space: 'latent',
    }),
    await vae.traverse(mu.subarray(0, Z), 0, { steps: 11, range: [-3, 3] }),
    await vae.manifold2d(16),
  ];
  // A conditional model (condition 'label') takes the labels of the rows with each call.
  if (vae.conditional) {
    const labels = Float32Array.of(3, 7);
    const codes = await vae.encode(images, labels); // q(z | x, y)
    results.push(await vae.sample(10, { labels: 3 }), {
      codes: codes.mu,
      images: await vae.decode(codes.mu, labels),
      rows: 2,
    });
  }
  // Semi-supervised M2 (objective 'm2'): the classifier q(y|x), and each input's style (its code
  // under its predicted label) decoded under every label.
  if (vae.config.objective.kind === 'm2') {
    const probs = await vae.classify(images, 2); // (2, classes)
    const { predicted, images: styles } = await vae.styleTransfer(images, 2);
    results.push({ codes: probs, images: styles, rows: styles.length / vae.config.inputSize });
    console.log(`predicted ${Array.from(predicted).join(', ')}`);
  }
  // Inpainting: the bottom half of both images missing (1), completed in 20 passes.
  const D = vae.config.inputSize;
  const mask = Float32Array.from({ length: 2 * D }, (_, i) => (i % D >= D / 2 ? 1 : 0));
  const options: InpaintOptions = {
    iterations: Math.min(20, MAX_INPAINT_ITERATIONS),
    onIteration: (pass, filled) => console.log(`pass ${pass}: ${filled.length} values`),
  };
  const completed = await vae.inpaint(images.subarray(0, 2 * D), mask, options);
  results.push({ codes: mu, images: completed, rows: 2 });
  vae.destroy();
  rt.destroy();
  return results;
}

/** Completions of n digits from the quadrants a completion model observes (condition 'quadrants'). */
export async function completionExample(url: string, digits: Float32Array): Promise<Completed> {
  const rt = await createRuntime();
  const vae = await VaeInference.fromCheckpoint(rt, url);
  const options: CompleteOptions = { seed: 3 };
  const done = await vae.complete(digits, 4, options); // done.missing: 1 where generated
  vae.destroy();
  rt.destroy();
  return done;
}
