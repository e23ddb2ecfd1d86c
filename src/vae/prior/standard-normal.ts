// The standard-normal prior p(z) = N(0, I).
import { gaussianLogDensity } from '../../graph/ops/density.js';
import type { PriorKind } from '../sections.js';

/** The standard-normal prior p(z) = N(0, I), the default. It has no other fields. */
export interface StandardNormalPriorConfig {
  /** The prior's kind. */
  kind: 'standard-normal';
}

export const standardNormalPrior: PriorKind<StandardNormalPriorConfig> = {
  kind: 'standard-normal',
  fields: [],
  resolve: () => ({ kind: 'standard-normal' }),
  build(ctx) {
    return {
      kind: 'standard-normal',
      logp: (z) => gaussianLogDensity(ctx.g, 'logp', z),
    };
  },
};
