// The conditional VAE (Sohn, Lee & Yan 2015): q(z|x, y) and p(x|z, y) with y a class label, fed as
// a one-hot vector concatenated to the encoder's input and to z. With conv encoder layers the
// one-hot enters either as constant image planes after the image's channels ('channels') or at
// the first dense layer after the convs ('dense', the default). Labels are integer class indices
// stored as f32 (exact below 2^24).
import type { Tensor } from '../../graph/graph.js';
import { concatCols, oneHot, oneHotPlanes } from '../../graph/ops/select.js';
import { repeatRowsOp } from '../../graph/ops/util.js';
import { checkSize, fail } from '../fields.js';
import type { ConditionKind } from '../sections.js';

/**
 * A conditional VAE (Sohn et al. 2015) on class labels: q(z|x, y) and p(x|z, y), y fed as a
 * one-hot vector to the encoder's input and to z. The datasets then need `labels` (integer
 * classes in 0..classes−1), and inference takes the labels of the rows with every call.
 *
 * @example `{ kind: 'label', classes: 10 }` for the ten digits.
 */
export interface LabelConditionConfig {
  /** The condition's kind. */
  kind: 'label';
  /** Number of classes C (labels 0 … C−1), an integer in 1..65536 (required). */
  classes: number;
  /** Where the label enters a conv encoder: 'dense' (default) or 'channels'. */
  inject: 'dense' | 'channels';
}

export const labelCondition: ConditionKind<LabelConditionConfig> = {
  kind: 'label',
  fields: ['classes', 'inject'],
  resolve(raw, path) {
    const inject = raw.inject ?? 'dense';
    if (inject !== 'dense' && inject !== 'channels') {
      fail(`${path}.inject must be 'dense' or 'channels', got ${JSON.stringify(inject)}`);
    }
    return { kind: 'label', classes: checkSize(`${path}.classes`, raw.classes, 1 << 16), inject };
  },
  widths: (c, hasEncoderConv) => ({
    encoderChannels: hasEncoderConv && c.inject === 'channels' ? c.classes : 0,
    encoderFeatures: hasEncoderConv && c.inject === 'channels' ? 0 : c.classes,
    decoderFeatures: c.classes,
    context: c.classes,
  }),
  inputs: () => [{ name: 'y', field: 'labels', width: 1 }],
  build(ctx, c, inputs) {
    const g = ctx.g;
    const y = inputs.y!;
    const hot = oneHot(g, 'y.onehot', y, c.classes);
    const asChannels = ctx.config.encoder.conv !== undefined && c.inject === 'channels';
    let planes: Tensor | undefined;
    return {
      // A conditional prior p(z|y) reads the one-hot label.
      context: hot,
      // Made when the encoder reads them: a decoder's graph has no use for them.
      get channels() {
        if (!asChannels) return undefined;
        const shape = ctx.config.inputShape;
        if (!shape)
          throw new Error(`graph: condition 'label' injected as channels needs an inputShape`);
        return (planes ??= oneHotPlanes(g, 'y.planes', y, c.classes, shape[1] * shape[2]));
      },
      features: asChannels ? undefined : hot,
      latent: (z, samples) => {
        const labels =
          samples === 1
            ? hot
            : g.add(
                repeatRowsOp,
                'y.onehot.repeat',
                { x: hot },
                { y: [hot.rows * samples, c.classes] },
                {
                  copies: samples,
                },
              ).out.y;
        return concatCols(g, `${z.name}.labelled`, [z, labels]);
      },
    };
  },
};
