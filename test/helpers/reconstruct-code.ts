// A reconstruction decodes the posterior's location (PosteriorGraph.mean): for a flow the flow's
// output at μ (zK), which differs from μ. Checks that reconstruct(x)'s codes are that location and
// its images are decode() of it.
import { expect } from 'vitest';
import type { VaeInference } from '../../src/vae/inference.js';
import { mismatches } from './reference.js';

export async function expectReconstructDecodes(
  vae: VaeInference,
  x: Float32Array,
  rows: number,
  code: Float32Array,
  Z: number,
): Promise<void> {
  const want = code.slice(0, rows * Z);
  const tol = { atol: 1e-5, rtol: 1e-5 };
  const reconstructed = await vae.reconstruct(x, rows);
  expect(mismatches(reconstructed.codes, want, tol, 'reconstruct codes')).toBeNull();
  const decoded = await vae.decode(want, rows);
  expect(mismatches(reconstructed.images, decoded, tol, 'reconstruct images')).toBeNull();
}
