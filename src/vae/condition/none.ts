// No condition: the plain VAE.
import type { ConditionKind } from '../sections.js';

/** No condition, the default: the plain VAE. It has no other fields. */
export interface NoConditionConfig {
  /** The condition's kind. */
  kind: 'none';
}

export const noCondition: ConditionKind<NoConditionConfig> = {
  kind: 'none',
  fields: [],
  resolve: () => ({ kind: 'none' }),
  widths: () => ({ encoderChannels: 0, encoderFeatures: 0, decoderFeatures: 0, context: 0 }),
  inputs: () => [],
  build: () => ({ latent: (z) => z }),
};
