// The class-balanced labeled subset (M2's --labels N): exactly N / C of each class, disjoint from
// and together with the unlabeled pool covering every example once, reproducible by seed, and
// uniform within each class (chi-square of how often each example is picked over many seeds).
import { describe, expect, it } from 'vitest';
import { labeledSubset } from '../src/data/labeled-subset.js';
import { freshSeed, makeRng } from './helpers/reference.js';

function randomLabels(rng: () => number, n: number, classes: number): Uint8Array {
  // Unequal class sizes: class c drawn with weight c + 1.
  const total = (classes * (classes + 1)) / 2;
  return Uint8Array.from({ length: n }, () => {
    let r = rng() * total;
    for (let c = 0; c < classes; c++) {
      r -= c + 1;
      if (r < 0) return c;
    }
    return classes - 1;
  });
}

describe('labeledSubset', () => {
  it('takes an equal share of each class, splits every example once, and repeats by seed', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const labels = randomLabels(rng, 997, 7);
    const { labeled, unlabeled } = labeledSubset(labels, 35, 7, seed);
    expect(labeled.length).toBe(35);
    expect(unlabeled.length).toBe(997 - 35);
    const perClass = new Array(7).fill(0);
    for (const i of labeled) perClass[labels[i]!] += 1;
    expect(perClass).toEqual(new Array(7).fill(5));
    const all = [...labeled, ...unlabeled].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 997 }, (_, i) => i));
    expect(labeled.every((v, k) => k === 0 || v > labeled[k - 1]!)).toBe(true);
    expect(labeledSubset(labels, 35, 7, seed)).toEqual({ labeled, unlabeled });
    expect(labeledSubset(labels, 35, 7, seed + 1).labeled).not.toEqual(labeled);
  });

  it('picks uniformly within each class (chi-square over many seeds)', () => {
    const base = freshSeed();
    const labels = randomLabels(makeRng(base), 60, 3);
    const size = [0, 1, 2].map((c) => labels.filter((y) => y === c).length);
    const picks = new Float64Array(labels.length);
    const runs = 3000;
    for (let s = 0; s < runs; s++) {
      for (const i of labeledSubset(labels, 6, 3, base + s).labeled) picks[i]! += 1;
    }
    // Each example of class c is picked with probability 2 / size[c].
    let chi2 = 0;
    picks.forEach((got, i) => {
      const expected = (runs * 2) / size[labels[i]!]!;
      chi2 += (got - expected) ** 2 / expected;
    });
    const df = labels.length - 3;
    expect(chi2, `seed ${base}`).toBeLessThan(df + 6 * Math.sqrt(2 * df));
  });

  it('names bad counts, labels and classes too small for their share', () => {
    const labels = Uint8Array.of(0, 1, 1, 0, 1);
    expect(() => labeledSubset(labels, 3, 2)).toThrow(/positive multiple of the 2 classes/);
    expect(() => labeledSubset(labels, 0, 2)).toThrow(/positive multiple/);
    expect(() => labeledSubset(Uint8Array.of(0, 2), 2, 2)).toThrow(/label 2 of example 1/);
    expect(() => labeledSubset(labels, 6, 2)).toThrow(
      /class 0 has 2 examples, fewer than its share 3/,
    );
    expect(() => labeledSubset(labels, 2, 0)).toThrow(/classes must be an integer >= 1/);
  });
});
