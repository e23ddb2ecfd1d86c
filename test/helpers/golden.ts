// The PyTorch twin's golden fixtures (test/fixtures/vae-golden*.json, written by
// `PYTHONPATH=python /usr/bin/python3 -m webgpu_vae_torch.golden`; format in
// python/webgpu_vae_torch/golden.py): their format and a loader.
import { readFileSync } from 'node:fs';
import type { VaeConfig } from '../../src/vae/config.js';
import type { Adam64Hyper } from '../../src/reference/adam.js';

export interface GoldenCase {
  name: string;
  seed: number;
  config: VaeConfig;
  batch: number;
  capacity: number | null;
  x: number[];
  eps: number[];
  params: Record<string, number[]>;
  reconSum: number;
  klSum: number;
  objective: number;
  nll: number[];
  kl: number[];
  /** The posterior's parameters (B·Z); absent for a hierarchy, which has mu1 and logvar1. */
  mu?: number[];
  logvar?: number[];
  /** Posterior 'hierarchical' cases: z1's parameters (B·lower). */
  mu1?: number[];
  logvar1?: number[];
  /** Posterior 'full' cases: L′ (B·Z(Z−1)/2), the strictly lower entries of L, row-major. */
  lower?: number[];
  z: number[];
  output: number[];
  logSigma?: number[];
  /** Condition 'label' cases: the class of each example (B). */
  labels?: number[];
  /** Masking cases: the mask (B·D), 1 where missing, given as the graph's input. */
  mask?: number[];
  /** iwae cases: log w (B·K, row b·K + k) and the per-example loss (B). */
  logWeights?: number[];
  perExample?: number[];
  grads: Record<string, number[]>;
  adam: { objectives: number[]; params: Record<string, number[]>; finalObjective: number };
}

export interface Golden {
  adam: Adam64Hyper & { steps: number };
  cases: GoldenCase[];
}

/**
 * The fixtures: version-1 ELBO cases, version-2 iwae cases, version-2 condition 'label' cases,
 * version-2 posterior 'full', 'planar', 'iaf' and 'hierarchical' cases, masking cases, and
 * conditional completion (condition 'quadrants', prior 'conditional') cases.
 */
export type GoldenFile =
  | 'vae-golden.json'
  | 'vae-golden-iwae.json'
  | 'vae-golden-cvae.json'
  | 'vae-golden-full.json'
  | 'vae-golden-planar.json'
  | 'vae-golden-iaf.json'
  | 'vae-golden-hierarchical.json'
  | 'vae-golden-masking.json'
  | 'vae-golden-completion.json'
  | 'vae-golden-vq.json';

/**
 * A posterior 'vq' case of vae-golden-vq.json (python/webgpu_vae_torch/golden.py run_vq_case): no
 * noise; every latent vector's nearest code beats its second by more than `margin` (squared
 * distance) at every step (`minGap`). Gradients are of the scaled objective; `zGrad` is what
 * the decoder sends back to z, `zeGrad` what reaches z_e (straight-through plus commitment),
 * `codebookLossGrad` the codebook loss's gradient (zeros with update 'ema'), `commitmentGrad`
 * β·commitment's gradient to z_e. `params` and `adam.params` hold the EMA state too.
 */
export interface GoldenVqCase {
  name: string;
  seed: number;
  config: VaeConfig;
  batch: number;
  margin: number;
  minGap: number;
  x: number[];
  params: Record<string, number[]>;
  ze: number[];
  codes: number[];
  z: number[];
  output: number[];
  nll: number[];
  reconSum: number;
  codebookSum: number;
  commitmentSum: number;
  perplexity: number;
  codesUsed: number;
  objective: number;
  zGrad: number[];
  zeGrad: number[];
  codebookLossGrad: number[];
  commitmentGrad: number[];
  grads: Record<string, number[]>;
  adam: { objectives: number[]; params: Record<string, number[]>; finalObjective: number };
}

export function loadGoldenVq(): { adam: Golden['adam']; cases: GoldenVqCase[] } {
  return JSON.parse(
    readFileSync(new URL('../fixtures/vae-golden-vq.json', import.meta.url), 'utf8'),
  ) as { adam: Golden['adam']; cases: GoldenVqCase[] };
}

export function loadGolden(file: GoldenFile = 'vae-golden.json'): Golden {
  return JSON.parse(
    readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8'),
  ) as Golden;
}
