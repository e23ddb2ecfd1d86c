// The float64 references of src/reference/ are the oracles of every kernel test, so they are checked
// here on their own (pure CPU): each backward against central finite differences of its forward on
// fresh random inputs of awkward sizes, the special functions against known values and their
// derivatives, the noise layout against the CPU generator, Adam against its closed form.
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, type Activation } from '../src/kernels/activation-codes.js';
import type { Conv2dShape } from '../src/kernels/conv.js';
import type { Likelihood } from '../src/kernels/likelihood.js';
import type { MatmulLayout } from '../src/kernels/matmul.js';
import type { ReduceOp } from '../src/kernels/reduce.js';
import { LOGVAR_CLAMP, prngNormal } from '../src/kernels/reparam.js';
import {
  activation64,
  activationBackward64,
  activationDerivative64,
  activationForward64,
  type Epilogue64,
} from '../src/reference/activations.js';
import { adamStep64, gradClipScale64 } from '../src/reference/adam.js';
import {
  conv2dBackward64,
  conv2dForward64,
  convTranspose2dBackward64,
  convTranspose2dForward64,
} from '../src/reference/conv.js';
import {
  linearBackward64,
  linearForward64,
  matmulBackward64,
  matmulForward64,
} from '../src/reference/dense.js';
import { repeatRowsBackward64, repeatRowsForward64 } from '../src/reference/graph-util.js';
import { klBackward64, klForward64 } from '../src/reference/kl.js';
import { likelihoodBackward64, likelihoodForward64 } from '../src/reference/likelihood.js';
import {
  erf64,
  erfc64,
  inverseNormalCdf64,
  normalCdf64,
  normalPdf64,
  sigmoid64,
  softplus64,
} from '../src/reference/math.js';
import {
  logSumExpRowsBackward64,
  logSumExpRowsForward64,
  reduceColsBackward64,
  reduceColsForward64,
  reduceRowsBackward64,
  reduceRowsForward64,
  reduceTotalBackward64,
  reduceTotalForward64,
} from '../src/reference/reduce.js';
import { reparamBackward64, reparamForward64, reparamNoise64 } from '../src/reference/reparam.js';
import { conv2dShape } from './helpers/conv-shape.js';
import {
  finiteDifference,
  finiteDifferenceAt,
  freshSeed,
  makeRng,
  mismatches,
} from './helpers/reference.js';

type Inputs = Record<string, Float64Array>;

/** n uniforms in [lo, hi). */
function uniform(rng: () => number, n: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rng());
}

/** n values with |v| in [0.05, 1.05): away from the kinks of relu, leaky_relu and elu at 0. */
function offKink(rng: () => number, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => (rng() < 0.5 ? -1 : 1) * (0.05 + rng()));
}

/**
 * Checks a vector-Jacobian product: for each input named in `analytic`, its gradient against
 * central finite differences of L(inputs) = Σ dy · forward(inputs), on up to `count` elements.
 * Returns the mismatches, or null.
 */
function vjpMismatches(
  what: string,
  inputs: Inputs,
  forward: (v: Inputs) => ArrayLike<number>,
  dy: ArrayLike<number>,
  analytic: Record<string, ArrayLike<number> | undefined>,
  rng: () => number,
  o: { h?: number; atol?: number; rtol?: number; count?: number } = {},
): string | null {
  const loss = (v: Inputs) => {
    const y = forward(v);
    if (y.length !== dy.length) throw new Error(`${what}: output ${y.length}, dy ${dy.length}`);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += dy[i]! * y[i]!;
    return s;
  };
  const problems: string[] = [];
  for (const [name, grad] of Object.entries(analytic)) {
    const x = inputs[name]!;
    if (grad === undefined) throw new Error(`${what}: no gradient for ${name}`);
    expect(grad.length, `${what}: d${name} length`).toBe(x.length);
    const count = o.count ?? 60;
    const idx =
      x.length <= count
        ? Array.from({ length: x.length }, (_, i) => i)
        : Array.from({ length: count }, () => Math.floor(rng() * x.length));
    const fd = finiteDifference((v) => loss({ ...inputs, [name]: v }), x, o.h ?? 1e-6, idx);
    const m = mismatches(
      idx.map((i) => grad[i]!),
      idx.map((i) => fd[i]!),
      { atol: o.atol ?? 1e-7, rtol: o.rtol ?? 1e-6 },
      `${what}: d${name} vs finite differences`,
    );
    if (m) problems.push(m);
  }
  return problems.length ? problems.join('\n') : null;
}

describe('float64 special functions', () => {
  it('erf, erfc, Φ, φ and Φ⁻¹ match known values', () => {
    // Values from mpmath at 50 digits (python3-mpmath), rounded to float64.
    const cases: [string, number, number, number][] = [
      ['erf(0.5)', erf64(0.5), 0.5204998778130465, 1e-15],
      ['erf(-2)', erf64(-2), -0.9953222650189527, 1e-15],
      ['erf(1e-9)', erf64(1e-9), 1.1283791670955127e-9, 1e-15],
      ['erfc(3)', erfc64(3), 2.209049699858544e-5, 1e-12],
      ['erfc(10)', erfc64(10), 2.088487583762545e-45, 1e-12],
      ['erfc(-1)', erfc64(-1), 1.8427007929497148, 1e-15],
      ['Φ(-1)', normalCdf64(-1), 0.15865525393145705, 1e-14],
      ['Φ(-30)', normalCdf64(-30), 4.906713927148187e-198, 1e-11],
      ['φ(1)', normalPdf64(1), 0.24197072451914334, 1e-15],
      ['Φ⁻¹(0.975)', inverseNormalCdf64(0.975), 1.9599639845400543, 1e-14],
      ['Φ⁻¹(1e-10)', inverseNormalCdf64(1e-10), -6.361340902404057, 1e-13],
    ];
    for (const [name, got, want, rtol] of cases) {
      expect(Math.abs(got - want), name).toBeLessThanOrEqual(rtol * Math.abs(want) + 1e-300);
    }
    expect(Math.abs(inverseNormalCdf64(0.5))).toBeLessThan(1e-16);
    expect(inverseNormalCdf64(0)).toBe(-Infinity);
    expect(inverseNormalCdf64(1)).toBe(Infinity);
    expect(() => inverseNormalCdf64(1.5)).toThrow(/p must be in \[0, 1\]/);
  });

  it('derivatives agree with finite differences; Φ⁻¹ inverts Φ; logistic functions are stable', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const x = uniform(rng, 50, -4, 4);
    const sum = (f: (v: number) => number) => (v: Float64Array) => v.reduce((s, t) => s + f(t), 0);
    const where = `seed ${seed}`;
    const tol = { atol: 1e-8, rtol: 1e-7 };
    const dErf = Array.from(x, (v) => (2 / Math.sqrt(Math.PI)) * Math.exp(-v * v));
    expect(mismatches(dErf, finiteDifference(sum(erf64), x), tol, `erf' ${where}`)).toBeNull();
    expect(
      mismatches(
        Array.from(dErf, (v) => -v),
        finiteDifference(sum(erfc64), x),
        tol,
        `erfc' ${where}`,
      ),
    ).toBeNull();
    const dPhi = Array.from(x, normalPdf64);
    expect(mismatches(dPhi, finiteDifference(sum(normalCdf64), x), tol, `Φ' ${where}`)).toBeNull();
    for (const p of [1e-300, 1e-20, 1e-5, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-12]) {
      const q = inverseNormalCdf64(p);
      // Φ(q) = p to the accuracy of Φ, relative in the lower tail.
      const back = p < 0.5 ? normalCdf64(q) : 1 - normalCdf64(-q);
      expect(Math.abs(back - p), `Φ(Φ⁻¹(${p}))`).toBeLessThanOrEqual(1e-12 * Math.min(p, 1 - p));
    }
    expect(sigmoid64(-800)).toBeGreaterThanOrEqual(0);
    expect(sigmoid64(800)).toBe(1);
    expect(softplus64(800)).toBe(800);
    expect(softplus64(-800)).toBeGreaterThanOrEqual(0);
    expect(Math.abs(softplus64(1e-3) - Math.log(1 + Math.exp(1e-3)))).toBeLessThan(1e-16);
  });
});

describe('float64 activations', () => {
  it.each(Object.keys(ACTIVATIONS) as Activation[])(
    '%s: backward and the scalar derivative match finite differences',
    (act) => {
      const seed = freshSeed();
      const rng = makeRng(seed);
      const alpha = act === 'leaky_relu' ? 0.2 : act === 'elu' ? 0.7 : undefined;
      const x = Float64Array.from(offKink(rng, 53), (v) => 3 * v);
      const dy = uniform(rng, x.length);
      const f = (v: Inputs) => activationForward64(v.x!, act, alpha);
      const dx = activationBackward64(dy, x, act, alpha);
      expect(vjpMismatches(`${act} seed ${seed}`, { x }, f, dy, { x: dx }, rng)).toBeNull();
      expect(activation64(act, x[0]!, alpha)).toBe(f({ x })[0]);
      expect(activationDerivative64(act, x[1]!, alpha) * dy[1]!).toBe(dx[1]);
    },
  );

  it('stays finite at large inputs and names unknown activations', () => {
    for (const act of Object.keys(ACTIVATIONS) as Activation[]) {
      for (const v of [-1e30, -100, 100, 1e30]) {
        expect(Number.isFinite(activationDerivative64(act, v)), `${act}'(${v})`).toBe(true);
        if (act !== 'identity' && act !== 'leaky_relu' && act !== 'relu' && act !== 'softplus') {
          expect(Number.isFinite(activation64(act, v)), `${act}(${v})`).toBe(true);
        }
      }
    }
    expect(() => activation64('swish' as Activation, 1)).toThrow(/unknown activation 'swish'/);
  });
});

describe('float64 dense', () => {
  it.each(['NN', 'TN', 'NT'] as MatmulLayout[])(
    'matmul %s: both operand gradients match finite differences',
    (layout) => {
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const [M, N, K] of [
        [1, 1, 1],
        [3, 5, 7],
        [4, 1, 9],
        [6, 7, 1],
      ] as const) {
        const inputs = { a: uniform(rng, M * K), b: uniform(rng, K * N) };
        const dc = uniform(rng, M * N);
        const f = (v: Inputs) => matmulForward64(v.a!, v.b!, M, N, K, layout);
        const g = matmulBackward64(dc, inputs.a, inputs.b, M, N, K, layout);
        const what = `${layout} ${M}×${N}×${K} seed ${seed}`;
        expect(vjpMismatches(what, inputs, f, dc, { a: g.da, b: g.db }, rng)).toBeNull();
      }
    },
  );

  it('matmul layouts agree with each other (TN and NT read transposed operands)', () => {
    const rng = makeRng(freshSeed());
    const [M, N, K] = [3, 4, 5];
    const a = uniform(rng, M * K);
    const b = uniform(rng, K * N);
    const t = (m: Float64Array, r: number, c: number) =>
      Float64Array.from({ length: r * c }, (_, i) => m[(i % r) * c + Math.floor(i / r)]!);
    const nn = matmulForward64(a, b, M, N, K, 'NN');
    expect(
      mismatches(matmulForward64(t(a, M, K), b, M, N, K, 'TN'), nn, { atol: 1e-15, rtol: 0 }),
    ).toBeNull();
    expect(
      mismatches(matmulForward64(a, t(b, K, N), M, N, K, 'NT'), nn, { atol: 1e-15, rtol: 0 }),
    ).toBeNull();
    expect(() => matmulForward64(a, b, M, N, K + 1)).toThrow(/a has 15 values, expected M\*K = 18/);
  });

  const epilogues: [string, Epilogue64][] = [
    ['identity', {}],
    ['tanh', { act: 'tanh' }],
    ['gelu', { act: 'gelu' }],
    ['leaky_relu 0.2', { act: 'leaky_relu', alpha: 0.2 }],
  ];

  it.each(epilogues)('linear with %s: dx, dW and db match finite differences', (_n, e) => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [rows, inSize, outSize, withBias] of [
      [1, 1, 1, true],
      [3, 5, 4, true],
      [7, 2, 3, false],
    ] as const) {
      const inputs: Inputs = { x: uniform(rng, rows * inSize), w: uniform(rng, outSize * inSize) };
      if (withBias) inputs.b = uniform(rng, outSize);
      const dy = uniform(rng, rows * outSize);
      const f = (v: Inputs) => linearForward64(v.x!, v.w!, v.b, rows, inSize, outSize, e);
      const g = linearBackward64(dy, inputs.x!, inputs.w!, inputs.b, rows, inSize, outSize, e);
      expect(g.db === undefined).toBe(!withBias);
      const analytic = { x: g.dx, w: g.dw, ...(withBias ? { b: g.db } : {}) };
      const what = `linear ${rows}×${inSize}->${outSize} seed ${seed}`;
      expect(vjpMismatches(what, inputs, f, dy, analytic, rng)).toBeNull();
    }
  });
});

const S = conv2dShape;

describe('float64 conv', () => {
  const cases: [string, boolean, Conv2dShape, Epilogue64, boolean][] = [
    ['conv2d 3×3 pad 1', false, S(2, 3, 4, 5, 6, 3, 3, 1, 1), {}, true],
    ['conv2d 4×4 stride 2, elu', false, S(1, 2, 3, 7, 5, 4, 4, 2, 1), { act: 'elu' }, true],
    ['conv2d 2×3 stride 3, no bias', false, S(2, 1, 2, 8, 9, 2, 3, 3, 0), {}, false],
    ['conv_transpose2d 3×3 stride 2', true, S(2, 3, 2, 3, 4, 3, 3, 2, 1), {}, true],
    [
      'conv_transpose2d outputPadding 1, tanh',
      true,
      S(1, 2, 3, 3, 3, 4, 3, 2, 0, 1),
      { act: 'tanh' },
      true,
    ],
    ['conv_transpose2d stride 3 op 2, no bias', true, S(1, 1, 2, 2, 3, 3, 3, 3, 1, 2), {}, false],
  ];

  it.each(cases)(
    '%s: dx, dW and db match finite differences',
    (name, transposed, shape, e, withBias) => {
      const seed = freshSeed();
      const rng = makeRng(seed);
      const { batch: B, inChannels: Ci, outChannels: Co, height: H, width: W } = shape;
      const inputs: Inputs = {
        x: uniform(rng, B * Ci * H * W),
        w: uniform(rng, Ci * Co * shape.kernelH * shape.kernelW),
      };
      if (withBias) inputs.b = uniform(rng, Co);
      const forward = transposed ? convTranspose2dForward64 : conv2dForward64;
      const backward = transposed ? convTranspose2dBackward64 : conv2dBackward64;
      const f = (v: Inputs) => forward(v.x!, v.w!, v.b, shape, e);
      const dy = uniform(rng, f(inputs).length);
      const g = backward(dy, inputs.x!, inputs.w!, inputs.b, shape, e);
      const analytic = { x: g.dx, w: g.dw, ...(withBias ? { b: g.db } : {}) };
      expect(vjpMismatches(`${name} seed ${seed}`, inputs, f, dy, analytic, rng)).toBeNull();
    },
  );

  it('conv2d and conv_transpose2d are adjoint, and sizes follow PyTorch', () => {
    // <conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for the same W (Cout, Cin, kh, kw) read as
    // the transposed conv's (Cin', Cout') = (Cout, Cin).
    const rng = makeRng(freshSeed());
    const shape = S(2, 3, 4, 9, 7, 3, 3, 2, 1);
    const x = uniform(rng, 2 * 3 * 9 * 7);
    const w = uniform(rng, 4 * 3 * 9);
    const y = conv2dForward64(x, w, undefined, shape);
    expect(y.length).toBe(2 * 4 * 5 * 4); // floor((9 + 2 - 3) / 2) + 1 = 5, (7 + 2 - 3) / 2 + 1 = 4
    const dy = uniform(rng, y.length);
    const back = convTranspose2dForward64(dy, w, undefined, S(2, 4, 3, 5, 4, 3, 3, 2, 1, 0));
    // PyTorch's transposed output of 5×4 is (5-1)·2 - 2 + 3 = 9 by (4-1)·2 - 2 + 3 = 7.
    expect(back.length).toBe(x.length);
    const lhs = y.reduce((s, v, i) => s + v * dy[i]!, 0);
    const rhs = x.reduce((s, v, i) => s + v * back[i]!, 0);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (Math.abs(lhs) + 1));
    expect(() => conv2dForward64(x, w, undefined, { ...shape, outputPadding: 1 })).toThrow(
      /outputPadding 1 needs a transposed conv/,
    );
  });
});

describe('float64 reductions', () => {
  it.each(['sum', 'mean', 'sumsq'] as ReduceOp[])(
    '%s over rows, columns and everything: backward matches finite differences',
    (op) => {
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const [rows, cols] of [
        [1, 1],
        [3, 7],
        [8, 1],
      ] as const) {
        const x = uniform(rng, rows * cols);
        const what = `${op} (${rows}, ${cols}) seed ${seed}`;
        const dr = uniform(rng, rows);
        const rowsF = (v: Inputs) => reduceRowsForward64(v.x!, rows, cols, op);
        const dxr = reduceRowsBackward64(dr, x, rows, cols, op);
        expect(vjpMismatches(`rows ${what}`, { x }, rowsF, dr, { x: dxr }, rng)).toBeNull();
        const dc = uniform(rng, cols);
        const colsF = (v: Inputs) => reduceColsForward64(v.x!, rows, cols, op);
        const dxc = reduceColsBackward64(dc, x, rows, cols, op);
        expect(vjpMismatches(`cols ${what}`, { x }, colsF, dc, { x: dxc }, rng)).toBeNull();
        const dt = uniform(rng, 1);
        const totalF = (v: Inputs) => reduceTotalForward64(v.x!, op);
        const dxt = reduceTotalBackward64(dt, x, op);
        expect(vjpMismatches(`total ${what}`, { x }, totalF, dt, { x: dxt }, rng)).toBeNull();
      }
    },
  );

  it('logsumexp over rows: stable at large offsets, backward matches finite differences', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [rows, cols, offset] of [
      [1, 1, 0],
      [3, 5, 0],
      [4, 9, 800],
      [2, 6, -800],
    ] as const) {
      const x = Float64Array.from(uniform(rng, rows * cols, -3, 3), (v) => v + offset);
      const lse = logSumExpRowsForward64(x, rows, cols);
      for (let r = 0; r < rows; r++) {
        // Direct evaluation relative to the row's first element: finite at any offset.
        let s = 0;
        for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - x[r * cols]!);
        expect(lse[r]! - x[r * cols]!).toBeCloseTo(Math.log(s), 11);
      }
      const dy = uniform(rng, rows);
      const f = (v: Inputs) => logSumExpRowsForward64(v.x!, rows, cols);
      const dx = logSumExpRowsBackward64(dy, x, rows, cols);
      const what = `lse (${rows}, ${cols}) + ${offset} seed ${seed}`;
      expect(vjpMismatches(what, { x }, f, dy, { x: dx }, rng, { h: 1e-5, atol: 1e-6 })).toBeNull();
    }
  });

  it('repeat_rows: copies in order, backward sums the copies (finite differences)', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, cols, copies] = [3, 4, 5];
    const x = uniform(rng, rows * cols);
    const y = repeatRowsForward64(x, rows, cols, copies);
    expect(Array.from(y.subarray((1 * copies + 4) * cols, (1 * copies + 5) * cols))).toEqual(
      Array.from(x.subarray(cols, 2 * cols)),
    );
    const dy = uniform(rng, y.length);
    const f = (v: Inputs) => repeatRowsForward64(v.x!, rows, cols, copies);
    const dx = repeatRowsBackward64(dy, x, rows, cols, copies);
    expect(vjpMismatches(`repeat_rows seed ${seed}`, { x }, f, dy, { x: dx }, rng)).toBeNull();
  });
});

describe('float64 KL, likelihoods and reparameterization', () => {
  it('KL: per-example value and its backward (finite differences inside the clamp range)', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [B, Z] of [
      [1, 1],
      [5, 3],
      [2, 17],
    ] as const) {
      const inputs = { mu: uniform(rng, B * Z, -2, 2), logvar: uniform(rng, B * Z, -4, 3) };
      const kl = klForward64(inputs.mu, inputs.logvar, B, Z);
      const direct = Array.from({ length: B }, (_, b) => {
        let s = 0;
        for (let j = 0; j < Z; j++) {
          const [m, lv] = [inputs.mu[b * Z + j]!, inputs.logvar[b * Z + j]!];
          s += 0.5 * (m * m + Math.exp(lv) - 1 - lv);
        }
        return s;
      });
      expect(mismatches(kl, direct, { atol: 1e-14, rtol: 1e-12 }, `kl seed ${seed}`)).toBeNull();
      const dkl = uniform(rng, B);
      const f = (v: Inputs) => klForward64(v.mu!, v.logvar!, B, Z);
      const g = klBackward64(dkl, inputs.mu, inputs.logvar, B, Z);
      const what = `kl B=${B} Z=${Z} seed ${seed}`;
      expect(vjpMismatches(what, inputs, f, dkl, { mu: g.dmu, logvar: g.dlogvar }, rng)).toBeNull();
    }
    // Outside the range the logvar gradient is straight-through: 0.5 * expm1(clamp(lv)).
    const g = klBackward64([2], [0, 0], [100, -100], 1, 2);
    expect(Array.from(g.dlogvar)).toEqual([
      Math.expm1(LOGVAR_CLAMP.max),
      Math.expm1(LOGVAR_CLAMP.min),
    ]);
  });

  const likelihoods: [string, Likelihood][] = [
    ['bernoulli', { kind: 'bernoulli' }],
    ['gaussian sigma 0.3', { kind: 'gaussian', sigma: 0.3 }],
    ['gaussian-learned', { kind: 'gaussian-learned' }],
  ];

  it.each(likelihoods)('%s: doutput, dtarget, dlogSigma match finite differences', (name, lk) => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [B, D] of [
      [1, 1],
      [3, 7],
    ] as const) {
      const learned = lk.kind === 'gaussian-learned';
      const inputs: Inputs = {
        output: uniform(rng, B * D, -3, 3),
        target: uniform(rng, B * D, 0, 1),
      };
      if (learned) inputs.logSigma = uniform(rng, B * D, -2, 1.5);
      const dnll = uniform(rng, B);
      const f = (v: Inputs) => likelihoodForward64(v.output!, v.target!, v.logSigma, B, D, lk);
      const g = likelihoodBackward64(
        dnll,
        inputs.output!,
        inputs.target!,
        inputs.logSigma,
        B,
        D,
        lk,
      );
      expect(g.dlogSigma === undefined).toBe(!learned);
      const analytic = {
        output: g.doutput,
        target: g.dtarget,
        ...(learned ? { logSigma: g.dlogSigma } : {}),
      };
      const what = `${name} B=${B} D=${D} seed ${seed}`;
      expect(vjpMismatches(what, inputs, f, dnll, analytic, rng)).toBeNull();
    }
  });

  it('likelihoods: closed forms and argument errors', () => {
    // Bernoulli with l = 0 is log 2 per value; the Gaussian with sigma 1 is half the squared error
    // plus 0.5 log 2π.
    expect(
      likelihoodForward64([0, 0], [1, 0], undefined, 1, 2, { kind: 'bernoulli' })[0],
    ).toBeCloseTo(2 * Math.LN2, 15);
    const g = likelihoodForward64([1], [3], undefined, 1, 1, { kind: 'gaussian', sigma: 1 })[0]!;
    expect(g).toBeCloseTo(2 + 0.5 * Math.log(2 * Math.PI), 15);
    expect(() =>
      likelihoodForward64([1], [3], undefined, 1, 1, { kind: 'gaussian-learned' }),
    ).toThrow(/logSigma \(B, D\) is given exactly for the gaussian-learned/);
    expect(() => likelihoodForward64([1, 2], [3], undefined, 1, 2, { kind: 'bernoulli' })).toThrow(
      /target has 1 values, expected B\*D = 2/,
    );
  });

  it('reparameterize with K samples: dmu, dlogvar and deps match finite differences', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [B, Z, K] of [
      [1, 1, 1],
      [3, 5, 1],
      [2, 3, 4],
    ] as const) {
      const inputs = {
        mu: uniform(rng, B * Z, -2, 2),
        logvar: uniform(rng, B * Z, -4, 3),
        eps: uniform(rng, B * K * Z, -2, 2),
      };
      const dz = uniform(rng, B * K * Z);
      const f = (v: Inputs) => reparamForward64(v.mu!, v.logvar!, v.eps!, B, Z, K);
      const g = reparamBackward64(dz, inputs.mu, inputs.logvar, inputs.eps, B, Z, K);
      const analytic = { mu: g.dmu, logvar: g.dlogvar, eps: g.deps };
      const what = `reparam B=${B} Z=${Z} K=${K} seed ${seed}`;
      expect(vjpMismatches(what, inputs, f, dz, analytic, rng)).toBeNull();
    }
  });
});

describe('float64 Philox noise', () => {
  // philox4x32BigInt against the Random123 known answers: test/prng.test.ts.
  it('reparamNoise64 lays out the stream as the kernels do and equals the CPU generator', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, Z, K] = [3, 5, 2];
    const step = Math.floor(rng() * 1e6);
    const stream = 1 + Math.floor(rng() * 1000);
    const eps = reparamNoise64(seed, step, B, Z, K, stream);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < K; s++) {
        for (let j = 0; j < Z; j++) {
          expect(eps[(b * K + s) * Z + j], `seed ${seed}`).toBe(
            prngNormal(seed, step, b * Z + j, s, stream),
          );
        }
      }
    }
    // Sample 0 of a K-sample draw is the single-sample draw; another stream is other noise.
    const one = reparamNoise64(seed, step, B, Z, 1, stream);
    for (let b = 0; b < B; b++) {
      expect(Array.from(eps.subarray(b * K * Z, b * K * Z + Z))).toEqual(
        Array.from(one.subarray(b * Z, b * Z + Z)),
      );
    }
    const other = reparamNoise64(seed, step, B, Z, 1, stream + 1);
    expect(other.filter((v, i) => v === one[i]).length).toBe(0);
    expect(() => reparamNoise64(seed, step, B, Z, 1, -1)).toThrow(/stream must be an integer/);
  });
});

describe('float64 Adam', () => {
  it('first step moves each weight by lr · g / (|g| + eps) (Adam), with the decoupled decay (AdamW)', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const n = 9;
    const g = uniform(rng, n, -2, 2);
    const p0 = uniform(rng, n);
    const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    const adam = (h: typeof hyper & { weightDecay?: number; decoupled?: boolean }) => {
      const p = p0.slice();
      adamStep64(p, new Float64Array(n), new Float64Array(n), g, 1, h);
      return p;
    };
    const step = (gi: number) => (hyper.lr * gi) / (Math.abs(gi) + hyper.eps);
    const tol = { atol: 1e-15, rtol: 1e-12 };
    expect(
      mismatches(
        adam(hyper),
        Array.from(p0, (p, i) => p - step(g[i]!)),
        tol,
      ),
    ).toBeNull();
    const w = adam({ ...hyper, weightDecay: 0.1, decoupled: true });
    const wantW = Array.from(p0, (p, i) => p * (1 - hyper.lr * 0.1) - step(g[i]!));
    expect(mismatches(w, wantW, tol, `AdamW seed ${seed}`)).toBeNull();
    const l2 = adam({ ...hyper, weightDecay: 0.1, decoupled: false });
    const wantL2 = Array.from(p0, (p, i) => p - step(g[i]! + 0.1 * p));
    expect(mismatches(l2, wantL2, tol, `Adam L2 seed ${seed}`)).toBeNull();
  });

  it('later steps follow the moment recursions; clipping scales to the global norm', () => {
    const h = { lr: 0.1, beta1: 0.5, beta2: 0.75, eps: 0 };
    const p = Float64Array.from([1]);
    const m = new Float64Array(1);
    const v = new Float64Array(1);
    adamStep64(p, m, v, [2], 1, h);
    adamStep64(p, m, v, [-1], 2, h);
    // m = 0.5·1 + 0.5·(−1) = 0; v = 0.75·1 + 0.25·1 = 1: the second step does not move p.
    expect([m[0], v[0]]).toEqual([0, 1]);
    expect(p[0]).toBeCloseTo(1 - 0.1, 15);
    expect(gradClipScale64([3, 4], 1)).toBeCloseTo(1 / (5 + 1e-6), 15);
    expect(gradClipScale64([3, 4], 10)).toBe(1);
    expect(gradClipScale64([3, 4])).toBe(1);
    expect(() => adamStep64(p, m, new Float64Array(2), [1], 1, h)).toThrow(/v has 2 values/);
  });
});

describe('finite differences across a kink', () => {
  it('a kink within h bends the central difference; one one-sided stencil still measures the slope', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const h = 1e-5;
    // f(x) = a·x² + s·relu(x − k) with the kink k a fraction of h from x (on a random side): the
    // derivative at x is 2a·x, the central difference is off by about s·(h − |x − k|)/(2h).
    const [a, s] = [0.5 + rng(), 2 + rng()];
    const x = Float64Array.of(rng() - 0.5);
    const x0 = x[0];
    const side = rng() < 0.5 ? -1 : 1;
    const k = x[0]! + side * h * (0.2 + 0.6 * rng());
    const f = () => a * x[0]! ** 2 + s * Math.max(0, x[0]! - k);
    const slope = 2 * a * x[0]! + (side < 0 ? s : 0);
    const close = (want: number) => (d: number) =>
      Math.abs(d - want) <= 1e-8 * (1 + Math.abs(want));
    const right = finiteDifferenceAt(f, x, 0, h, close(slope));
    expect(right.ok, `seed ${seed}`).toBe(true);
    expect(close(slope)(right.central), `seed ${seed}: the kink must bend the central one`).toBe(
      false,
    );
    expect(right.oneSided).toBeDefined();
    // A wrong slope (off by far less than the kink's jump) matches none of the three.
    expect(finiteDifferenceAt(f, x, 0, h, close(slope + 0.01)).ok, `seed ${seed}`).toBe(false);
    expect(x[0]).toBe(x0);
  });
});
