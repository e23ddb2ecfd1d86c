// The PyTorch twin's golden fixture (test/fixtures/vae-golden.json, written by
// scripts/golden/vae_twin.py): its format and a loader.
import { readFileSync } from 'node:fs';
import type { VaeConfig } from '../../src/vae/config.js';
import type { ReferenceAdamHyper } from '../../src/vae/reference.js';

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
  mu: number[];
  logvar: number[];
  z: number[];
  output: number[];
  logSigma?: number[];
  grads: Record<string, number[]>;
  adam: { objectives: number[]; params: Record<string, number[]>; finalObjective: number };
}

export interface Golden {
  adam: ReferenceAdamHyper & { steps: number };
  cases: GoldenCase[];
}

export function loadGolden(): Golden {
  return JSON.parse(
    readFileSync(new URL('../fixtures/vae-golden.json', import.meta.url), 'utf8'),
  ) as Golden;
}
