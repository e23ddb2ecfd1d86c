// Draws from categorical distributions as a graph op (no gradient): column p = position[0] of each
// row of y (R, P) gets a draw from softmax(logits[r, p, :] / temperature[0]) (src/kernels/
// categorical.ts), from the op's own PRNG stream; StepState's step and sample are part of the
// PRNG counter. y may be an existing tensor (an ancestral sampler writes into its own input), and
// position a state tensor another op advances, so replays of one graph draw column after column.
//   categorical_sample  logits (R, P·K), temperature (1), position (1) -> y (R, P), column p only
import { asProgram } from '../../gpu/program.js';
import { prepareCategoricalSample } from '../../kernels/categorical.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';
import type { StepState } from '../prepare.js';

export interface CategoricalSampleAttrs {
  /** K: classes per draw. */
  classes: number;
  seed: number;
  /** The op's PRNG stream (unique in its graph). */
  stream: number;
}

export const categoricalSampleOp = defineOp<
  { logits: Tensor; temperature: Tensor; position: Tensor },
  { y: Tensor },
  CategoricalSampleAttrs
>({
  type: 'categorical_sample',
  async prepare({ rt, buffer }, op) {
    const { logits, temperature, position } = op.in;
    const { y } = op.out;
    if (logits.size !== y.size * op.attrs.classes) {
      throw new Error(
        `graph: categorical_sample '${op.name}': ${logits.toString()} is not ${op.attrs.classes} logits per value of ${y.toString()}`,
      );
    }
    const d = await prepareCategoricalSample(rt, {
      out: buffer(y),
      logits: buffer(logits),
      temperature: buffer(temperature),
      position: buffer(position),
      rows: y.rows,
      classes: op.attrs.classes,
      positions: y.cols,
      seed: op.attrs.seed,
      stream: op.attrs.stream,
      label: op.name,
    });
    return Object.assign(asProgram(d), {
      update: (state: StepState) =>
        d.setUniforms({ step: state.step >>> 0, sample: (state.sample ?? 0) >>> 0 }),
    });
  },
});

/** Draws column position[0] of `into` (R, P) from logits (R, P·K) over temperature[0]. */
export function categoricalSample(
  g: Graph,
  name: string,
  inputs: { logits: Tensor; temperature: Tensor; position: Tensor },
  into: Tensor,
  attrs: CategoricalSampleAttrs,
): Tensor {
  return g.add(categoricalSampleOp, name, inputs, { y: into }, attrs).out.y;
}
