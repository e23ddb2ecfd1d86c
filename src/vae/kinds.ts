// The kinds of each section of the model description. Adding a variant: write its kind in its own
// file (see sections.ts for what a kind provides) and list it here.
import { labelCondition, type LabelConditionConfig } from './condition/label.js';
import { noCondition, type NoConditionConfig } from './condition/none.js';
import { quadrantsCondition, type QuadrantsConditionConfig } from './condition/quadrants.js';
import { elboObjective, type ElboObjectiveConfig } from './objective/elbo.js';
import { iwaeObjective, type IwaeObjectiveConfig } from './objective/iwae.js';
import { m2Objective, type M2ObjectiveConfig } from './objective/m2.js';
import { diagonalPosterior, type DiagonalPosteriorConfig } from './posterior/diagonal.js';
import { fullPosterior, type FullPosteriorConfig } from './posterior/full.js';
import { iafPosterior, type IafPosteriorConfig } from './posterior/iaf.js';
import {
  hierarchicalPosterior,
  type HierarchicalPosteriorConfig,
} from './posterior/hierarchical.js';
import { planarPosterior, type PlanarPosteriorConfig } from './posterior/planar.js';
import { vqPosterior, type VqPosteriorConfig } from './posterior/vq.js';
import { conditionalPrior, type ConditionalPriorConfig } from './prior/conditional.js';
import { madePrior, type MadePriorConfig } from './prior/made.js';
import { standardNormalPrior, type StandardNormalPriorConfig } from './prior/standard-normal.js';
import type { ConditionKind, ObjectiveKind, PosteriorKind, PriorKind } from './sections.js';

/**
 * The `posterior` section, q(z|x): 'diagonal' (the default, `{ kind: 'diagonal' }`), 'full'
 * (a full-covariance Gaussian, latentSize >= 2), 'planar' (planar flow steps on the diagonal
 * Gaussian, `{ kind: 'planar', steps: 8, amortized: false }`), 'iaf' (inverse autoregressive
 * flow steps on the diagonal Gaussian, `{ kind: 'iaf', steps: 4 }`) or 'hierarchical' (two
 * stochastic layers, `{ kind: 'hierarchical', lower: 100, hidden: [50, 50] }`) or 'vq'
 * (a vector-quantized code, VQ-VAE: `{ kind: 'vq', codes: 512, dim: 64, beta: 0.25 }`).
 */
export type PosteriorConfig =
  | DiagonalPosteriorConfig
  | FullPosteriorConfig
  | PlanarPosteriorConfig
  | IafPosteriorConfig
  | HierarchicalPosteriorConfig
  | VqPosteriorConfig;
/**
 * The `prior` section, p(z): 'standard-normal' (the default), 'conditional' (a learned p(z|c) on
 * the condition's context, `{ kind: 'conditional', hidden: [500, 500] }`) or, over a vq
 * posterior's codes, the learned autoregressive prior `{ kind: 'made', hidden: [128] }`.
 */
export type PriorConfig = StandardNormalPriorConfig | ConditionalPriorConfig | MadePriorConfig;
/**
 * The `objective` section, the loss training minimizes: 'elbo' (the default,
 * `{ kind: 'elbo', beta: 1, reduction: 'sum' }`), 'iwae' or 'm2' (semi-supervised, with a
 * classifier q(y|x); needs a 'label' condition).
 *
 * @example
 * ```ts
 * const betaVae: ObjectiveConfig = { kind: 'elbo', beta: 4, reduction: 'sum' };
 * const iwae: ObjectiveConfig = { kind: 'iwae', samples: 5, reduction: 'sum' };
 * ```
 */
export type ObjectiveConfig = ElboObjectiveConfig | IwaeObjectiveConfig | M2ObjectiveConfig;
/**
 * The `condition` section, extra inputs the model is conditioned on: 'none' (the default),
 * 'label' (a conditional VAE on class labels) or 'quadrants' (completing an image from its
 * observed quadrants, `{ kind: 'quadrants', observed: 2 }`).
 */
export type ConditionConfig = NoConditionConfig | LabelConditionConfig | QuadrantsConditionConfig;

export const POSTERIORS: Readonly<Record<string, PosteriorKind<PosteriorConfig>>> = {
  diagonal: diagonalPosterior,
  full: fullPosterior,
  planar: planarPosterior,
  iaf: iafPosterior,
  hierarchical: hierarchicalPosterior,
  vq: vqPosterior,
};

export const PRIORS: Readonly<Record<string, PriorKind<PriorConfig>>> = {
  'standard-normal': standardNormalPrior,
  conditional: conditionalPrior,
  made: madePrior,
};

export const OBJECTIVES: Readonly<Record<string, ObjectiveKind<ObjectiveConfig>>> = {
  elbo: elboObjective,
  iwae: iwaeObjective,
  m2: m2Objective,
};

export const CONDITIONS: Readonly<Record<string, ConditionKind<ConditionConfig>>> = {
  none: noCondition,
  label: labelCondition,
  quadrants: quadrantsCondition,
};

/** The kind object of each section of a resolved description. */
export function kindsOf(config: {
  posterior: PosteriorConfig;
  prior: PriorConfig;
  objective: ObjectiveConfig;
  condition: ConditionConfig;
}): {
  posterior: PosteriorKind<PosteriorConfig>;
  prior: PriorKind<PriorConfig>;
  objective: ObjectiveKind<ObjectiveConfig>;
  condition: ConditionKind<ConditionConfig>;
} {
  return {
    posterior: POSTERIORS[config.posterior.kind]!,
    prior: PRIORS[config.prior.kind]!,
    objective: OBJECTIVES[config.objective.kind]!,
    condition: CONDITIONS[config.condition.kind]!,
  };
}
