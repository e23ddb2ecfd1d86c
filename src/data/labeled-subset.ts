// A class-balanced labeled subset for semi-supervised training (M2's `--labels N`): N / C examples
// of each of the C classes, chosen by a seed, and the rest as the unlabeled pool. The choice is a
// pure function of (labels, N, C, seed), so a resumed run and the PyTorch twin's data split can
// reproduce it.
import { createRng, randomPermutation } from './rng.js';

/** The labeled and unlabeled example indices, each ascending. */
export interface LabeledSplit {
  labeled: Uint32Array;
  unlabeled: Uint32Array;
}

/**
 * Picks `count` labeled examples, count / classes of each class (count must be a multiple of
 * classes), uniformly at random within each class by `seed`; every other example is unlabeled.
 *
 * @throws RangeError when count is not a positive multiple of classes, a label is not an integer
 * in [0, classes), or a class has fewer examples than its share.
 */
export function labeledSubset(
  labels: ArrayLike<number>,
  count: number,
  classes: number,
  seed = 0,
): LabeledSplit {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`labeledSubset: classes must be an integer >= 1, got ${classes}`);
  }
  if (!Number.isInteger(count) || count < classes || count % classes !== 0) {
    throw new RangeError(
      `labeledSubset: the labeled count must be a positive multiple of the ${classes} classes (an equal share each), got ${count}`,
    );
  }
  const perClass = count / classes;
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    const members = Number.isInteger(y) ? byClass[y] : undefined;
    if (!members) {
      throw new RangeError(
        `labeledSubset: label ${y} of example ${i} is not a class in [0, ${classes})`,
      );
    }
    members.push(i);
  }
  const rng = createRng(seed);
  const chosen = new Uint8Array(labels.length);
  byClass.forEach((members, c) => {
    if (members.length < perClass) {
      throw new RangeError(
        `labeledSubset: class ${c} has ${members.length} examples, fewer than its share ${perClass}`,
      );
    }
    // A seeded permutation of the class's members; its first perClass are labeled.
    const order = randomPermutation(new Uint32Array(members.length), rng);
    for (let k = 0; k < perClass; k++) chosen[members[order[k]!]!] = 1;
  });
  const labeled = new Uint32Array(count);
  const unlabeled = new Uint32Array(labels.length - count);
  let l = 0;
  let u = 0;
  chosen.forEach((isLabeled, i) => {
    if (isLabeled) labeled[l++] = i;
    else unlabeled[u++] = i;
  });
  return { labeled, unlabeled };
}
