import { describe, expect, it } from 'vitest';
import {
  ROTATION,
  SYNTHETIC_NAMES,
  generateSynthetic,
  normalCdf,
  syntheticLogDensity,
} from '../src/data/synthetic.js';
import type { SyntheticData, SyntheticName } from '../src/data/synthetic.js';
import { createRng } from '../src/data/rng.js';

const N = 20000;

type Mat = [number, number, number]; // [xx, xy, yy]

function moments(
  d: Float32Array,
  keep?: (i: number) => boolean,
): { mean: [number, number]; cov: Mat; n: number } {
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < d.length / 2; i++) {
    if (keep && !keep(i)) continue;
    sx += d[2 * i]!;
    sy += d[2 * i + 1]!;
    n++;
  }
  const mx = sx / n;
  const my = sy / n;
  let xx = 0;
  let xy = 0;
  let yy = 0;
  for (let i = 0; i < d.length / 2; i++) {
    if (keep && !keep(i)) continue;
    const a = d[2 * i]! - mx;
    const b = d[2 * i + 1]! - my;
    xx += a * a;
    xy += a * b;
    yy += b * b;
  }
  return { mean: [mx, my], cov: [xx / (n - 1), xy / (n - 1), yy / (n - 1)], n };
}

/** R diag(a², b²) Rᵀ for rotation θ, as [xx, xy, yy]. */
function rotatedCov(th: number, a2: number, b2: number): Mat {
  const c = Math.cos(th);
  const s = Math.sin(th);
  return [c * c * a2 + s * s * b2, c * s * (a2 - b2), s * s * a2 + c * c * b2];
}

/**
 * Checks sample moments against a Gaussian-like target within 5 standard errors
 * (se(mean_i) = √(Σii/n), se(cov_ij) = √((Σii Σjj + Σij²)/n)); `slack` widens the bound for
 * non-Gaussian sets (heavier or lighter tails change the fourth moments).
 */
function expectMoments(
  got: { mean: [number, number]; cov: Mat; n: number },
  mean: [number, number],
  cov: Mat,
  slack = 1,
): void {
  const [xx, xy, yy] = cov;
  const n = got.n;
  expect(Math.abs(got.mean[0] - mean[0])).toBeLessThan(5 * Math.sqrt(xx / n) * slack);
  expect(Math.abs(got.mean[1] - mean[1])).toBeLessThan(5 * Math.sqrt(yy / n) * slack);
  expect(Math.abs(got.cov[0] - xx)).toBeLessThan(5 * Math.sqrt((2 * xx * xx) / n) * slack);
  expect(Math.abs(got.cov[1] - xy)).toBeLessThan(5 * Math.sqrt((xx * yy + xy * xy) / n) * slack);
  expect(Math.abs(got.cov[2] - yy)).toBeLessThan(5 * Math.sqrt((2 * yy * yy) / n) * slack);
}

describe('synthetic 2-D sets', () => {
  for (const noise of [0.02, 0.2]) {
    it(`stretched Gaussian: N(0, diag(9, 1/9) + ${noise} I)`, () => {
      const s = generateSynthetic('stretched-gaussian', {
        count: N,
        seed: 1,
        noiseVariance: noise,
      });
      expect(s.data).toBeInstanceOf(Float32Array);
      expect(s.data.length).toBe(2 * N);
      expect(s.latentDim).toBe(2);
      expect(s.labels).toBeUndefined();
      expectMoments(moments(s.data), [0, 0], [9 + noise, 0, 1 / 9 + noise]);
    });

    it(`rotated Gaussian: covariance R(π/3) diag(9, 1/9) R(π/3)ᵀ + ${noise} I`, () => {
      const s = generateSynthetic('rotated-gaussian', { count: N, seed: 2, noiseVariance: noise });
      const [xx, xy, yy] = rotatedCov(Math.PI / 3, 9, 1 / 9);
      expectMoments(moments(s.data), [0, 0], [xx + noise, xy, yy + noise]);
      // principal axis of the sample covariance points at π/3 (mod π)
      const m = moments(s.data).cov;
      const angle = 0.5 * Math.atan2(2 * m[1], m[0] - m[2]);
      expect(Math.abs(angle - Math.PI / 3)).toBeLessThan(0.01);
    });
  }

  it('the rotation really is R(π/3) applied to the stretched set (same seed, no noise)', () => {
    const a = generateSynthetic('stretched-gaussian', { count: 1000, seed: 9, noiseVariance: 0 });
    const b = generateSynthetic('rotated-gaussian', { count: 1000, seed: 9, noiseVariance: 0 });
    expect(ROTATION).toBe(Math.PI / 3);
    expect(b.latent).toEqual(a.latent);
    const c = Math.cos(Math.PI / 3);
    const s = Math.sin(Math.PI / 3);
    let worst = 0;
    for (let i = 0; i < 1000; i++) {
      const x = a.data[2 * i]!;
      const y = a.data[2 * i + 1]!;
      worst = Math.max(
        worst,
        Math.abs(c * x - s * y - b.data[2 * i]!),
        Math.abs(s * x + c * y - b.data[2 * i + 1]!),
      );
      // and the latent maps through diag(3, 1/3)
      expect(x).toBeCloseTo(3 * a.latent[2 * i]!, 4);
      expect(y).toBeCloseTo(a.latent[2 * i + 1]! / 3, 4);
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('figure eight: on the curve without noise, documented moments with noise', () => {
    const clean = generateSynthetic('figure-eight', { count: N, seed: 3, noiseVariance: 0 });
    expect(clean.latentDim).toBe(1);
    let offCurve = 0;
    for (let i = 0; i < N; i++) {
      const x = clean.data[2 * i]!;
      const y = clean.data[2 * i + 1]!;
      // y² = x² (1 − x²/s²), s = 2
      offCurve = Math.max(offCurve, Math.abs(y * y - x * x * (1 - (x * x) / 4)));
      // and x = s sin t with t = 2πΦ(z) − π
      const t = 2 * Math.PI * normalCdf(clean.latent[i]!) - Math.PI;
      if (i < 100) expect(x).toBeCloseTo(2 * Math.sin(t), 5);
    }
    expect(offCurve).toBeLessThan(1e-5);
    // t is uniform on (−π, π): each quarter of the curve gets a quarter of the points
    const quarters = [0, 0, 0, 0];
    for (let i = 0; i < N; i++) {
      const t = 2 * Math.PI * normalCdf(clean.latent[i]!) - Math.PI;
      quarters[Math.min(3, Math.floor(((t + Math.PI) / (2 * Math.PI)) * 4))]!++;
    }
    for (const q of quarters) expect(Math.abs(q - N / 4)).toBeLessThan(5 * Math.sqrt(N * 0.1875));
    // moments: mean 0, covariance s² diag(1/2, 1/8) + σ² I
    for (const noise of [0.02, 0.2]) {
      const s = generateSynthetic('figure-eight', { count: N, seed: 4, noiseVariance: noise });
      expectMoments(moments(s.data), [0, 0], [2 + noise, 0, 0.5 + noise], 1.5);
    }
    const wide = generateSynthetic('figure-eight', {
      count: N,
      seed: 4,
      scale: 3,
      noiseVariance: 0,
    });
    expectMoments(moments(wide.data), [0, 0], [4.5, 0, 9 / 8], 1.5);
  });

  it('three blobs on a circle: centres at radius 2, 120° apart, spread = noise', () => {
    for (const noise of [0.02, 0.2]) {
      const s = generateSynthetic('three-blobs', { count: N, seed: 5, noiseVariance: noise });
      const labels = s.labels!;
      expect(labels.length).toBe(N);
      for (let k = 0; k < 3; k++) {
        const th = Math.PI / 2 + (2 * Math.PI * k) / 3;
        const m = moments(s.data, (i) => labels[i] === k);
        expect(Math.abs(m.n - N / 3)).toBeLessThan(5 * Math.sqrt((N * 2) / 9));
        expectMoments(m, [2 * Math.cos(th), 2 * Math.sin(th)], [noise, 0, noise]);
      }
      // the mixture: mean 0, covariance (r²/2 + σ²) I
      expectMoments(moments(s.data), [0, 0], [2 + noise, 0, 2 + noise], 1.5);
    }
    const r3 = generateSynthetic('three-blobs', {
      count: 3000,
      seed: 5,
      radius: 3,
      noiseVariance: 0,
    });
    for (let i = 0; i < 3000; i++) {
      expect(Math.hypot(r3.data[2 * i]!, r3.data[2 * i + 1]!)).toBeCloseTo(3, 5);
    }
  });

  it('mixture of three rotated Gaussians at 0°, 60°, 120°', () => {
    const noise = 0.02;
    const s = generateSynthetic('rotated-gaussians', {
      count: 3 * N,
      seed: 6,
      noiseVariance: noise,
    });
    const labels = s.labels!;
    for (let k = 0; k < 3; k++) {
      const m = moments(s.data, (i) => labels[i] === k);
      const [xx, xy, yy] = rotatedCov((k * Math.PI) / 3, 9, 1 / 9);
      expectMoments(m, [0, 0], [xx + noise, xy, yy + noise]);
    }
    const v = (9 + 1 / 9) / 2 + noise;
    expectMoments(moments(s.data), [0, 0], [v, 0, v], 1.5);
  });

  it('the noise-variance option sets the variance of x − f(z)', () => {
    for (const name of SYNTHETIC_NAMES) {
      const clean = generateSynthetic(name, { count: N, seed: 7, noiseVariance: 0 });
      for (const noise of [0.02, 0.2]) {
        const noisy = generateSynthetic(name, { count: N, seed: 7, noiseVariance: noise });
        expect(noisy.noiseVariance).toBe(noise);
        const diff = noisy.data.map((x, i) => x - clean.data[i]!);
        expectMoments(moments(diff), [0, 0], [noise, 0, noise]);
      }
    }
  });

  it('same seed gives the same data; another seed different data', () => {
    for (const name of SYNTHETIC_NAMES) {
      const a: SyntheticData = generateSynthetic(name, { count: 500, seed: 11 });
      const b = generateSynthetic(name, { count: 500, seed: 11 });
      const c = generateSynthetic(name, { count: 500, seed: 12 });
      expect(b.data).toEqual(a.data);
      expect(b.labels).toEqual(a.labels);
      expect(c.data).not.toEqual(a.data);
      expect(a.noiseVariance).toBe(0.02);
      expect(a.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('rejects bad options', () => {
    expect(() => generateSynthetic('figure-eight', { count: -1 })).toThrow(/count/);
    expect(() => generateSynthetic('figure-eight', { count: 3, noiseVariance: -0.1 })).toThrow(
      /noiseVariance/,
    );
    expect(() => generateSynthetic('nope' as never, { count: 3 })).toThrow(/unknown set 'nope'/);
  });

  it('normalCdf and the RNG are sound', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959963985)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.158655254, 6);
    expect(normalCdf(-8)).toBeGreaterThanOrEqual(0);
    const rng = createRng(1);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < N; i++) {
      const z = rng.normal();
      s1 += z;
      s2 += z * z;
    }
    expect(Math.abs(s1 / N)).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(s2 / N - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    expect(createRng(2 ** 40).next()).not.toBe(createRng(0).next());
    expect(createRng(-1).next()).not.toBe(createRng(1).next());
  });
});

describe('syntheticLogDensity', () => {
  // Density and generator checked against each other: 100,000 fresh points binned on a 12 × 12
  // grid, each bin's expected count the density integrated over it (midpoint rule on 6 × 6
  // sub-points), a chi-square statistic over the bins expecting at least 5 points. A wrong
  // covariance, rotation, mixture weight or curve moves whole bins by many standard errors.
  const settings: Record<SyntheticName, { noiseVariance: number; half: number }> = {
    'stretched-gaussian': { noiseVariance: 0.2, half: 7 },
    'rotated-gaussian': { noiseVariance: 0.2, half: 7 },
    'figure-eight': { noiseVariance: 0.02, half: 2.4 },
    'three-blobs': { noiseVariance: 0.2, half: 3.4 },
    'rotated-gaussians': { noiseVariance: 0.2, half: 7 },
  };
  it.each(SYNTHETIC_NAMES)('%s: the density integrates to the data, bin by bin', (name) => {
    const { noiseVariance, half } = settings[name];
    const seed = 1 + Math.floor(Math.random() * 1e6);
    const count = 100_000;
    const set = generateSynthetic(name, { count, seed, noiseVariance });
    const bins = 12;
    const sub = 6;
    const width = (2 * half) / bins;
    const observed = new Float64Array(bins * bins);
    for (let i = 0; i < count; i++) {
      const bx = Math.floor((set.data[2 * i]! + half) / width);
      const by = Math.floor((set.data[2 * i + 1]! + half) / width);
      if (bx >= 0 && bx < bins && by >= 0 && by < bins) observed[by * bins + bx]! += 1;
    }
    const mid = new Float32Array(bins * bins * sub * sub * 2);
    let m = 0;
    for (let by = 0; by < bins; by++) {
      for (let bx = 0; bx < bins; bx++) {
        for (let sy = 0; sy < sub; sy++) {
          for (let sx = 0; sx < sub; sx++) {
            mid[m++] = -half + (bx + (sx + 0.5) / sub) * width;
            mid[m++] = -half + (by + (sy + 0.5) / sub) * width;
          }
        }
      }
    }
    const logp = syntheticLogDensity(set, mid);
    const cell = (width / sub) ** 2;
    let chi2 = 0;
    let df = 0;
    let mass = 0;
    for (let b = 0; b < bins * bins; b++) {
      let p = 0;
      for (let j = 0; j < sub * sub; j++) p += Math.exp(logp[b * sub * sub + j]!) * cell;
      mass += p;
      const expected = p * count;
      if (expected < 5) continue;
      chi2 += (observed[b]! - expected) ** 2 / expected;
      df++;
    }
    // Nearly all the mass lies in the square (the density is normalised).
    expect(mass, `seed ${seed}`).toBeGreaterThan(0.97);
    expect(mass, `seed ${seed}`).toBeLessThan(1.005);
    // The midpoint rule's error is far below the counts' noise here; df + 6√(2 df) is beyond the
    // 0.9999 quantile of chi-square.
    expect(chi2, `seed ${seed}, ${df} bins`).toBeLessThan(df + 6 * Math.sqrt(2 * df));
  });

  it('the Gaussians match their closed form; bad points are named', () => {
    const set = generateSynthetic('rotated-gaussian', { count: 1, noiseVariance: 0.2 });
    // At the origin: −log 2π − ½ log det Σ, det Σ = (9 + 0.2)(1/9 + 0.2) for any rotation.
    const want = -Math.log(2 * Math.PI) - 0.5 * Math.log((9 + 0.2) * (1 / 9 + 0.2));
    expect(syntheticLogDensity(set, new Float32Array([0, 0]))[0]).toBeCloseTo(want, 12);
    expect(() => syntheticLogDensity(set, new Float32Array(3))).toThrow(/\(n, 2\)/);
    const noiseless = generateSynthetic('figure-eight', { count: 1, noiseVariance: 0 });
    expect(() => syntheticLogDensity(noiseless, new Float32Array(2))).toThrow(/noiseVariance > 0/);
  });
});
