// The standard-normal prior p(z) = N(0, I).
import { gaussianLogDensity } from '../../graph/ops/density.js';
import type { PriorKind } from '../sections.js';

export interface StandardNormalPriorConfig {
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
