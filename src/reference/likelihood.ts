// Float64 references of the decoder likelihoods (src/kernels/likelihood.ts): the per-example
// negative log-likelihood nll (B) of the targets (B, D) under the decoder output, and the
// vector-Jacobian product for a per-row upstream gradient dnll (B) (prepareLikelihoodBackwardRows).
//   bernoulli (logits l):       nll = Σ softplus(l) − x l
//   gaussian (fixed sigma):     nll = Σ 0.5 (x − mu)² / sigma² + log sigma + 0.5 log 2π
//   gaussian-learned (log σ):   nll = Σ 0.5 (x − mu)² exp(−2c) + c + 0.5 log 2π, c = clamp(log σ, −6, 6)
// The log σ gradient is the exact one of the clamped loss (0 strictly outside the range).
import { LOGSIGMA_CLAMP, type Likelihood } from '../kernels/likelihood.js';
import { sigmoid64, softplus64 } from './math.js';
import { expectLength, expectSizes } from './shape.js';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

const clampLogSigma = (ls: number) =>
  Math.min(Math.max(ls, LOGSIGMA_CLAMP.min), LOGSIGMA_CLAMP.max);

function checkLikelihood(
  fn: string,
  output: ArrayLike<number>,
  target: ArrayLike<number>,
  logSigma: ArrayLike<number> | undefined,
  B: number,
  D: number,
  likelihood: Likelihood,
): void {
  expectSizes(fn, { B, D });
  expectLength(fn, 'output', output, B * D, 'B*D');
  expectLength(fn, 'target', target, B * D, 'B*D');
  const learned = likelihood.kind === 'gaussian-learned';
  if (learned !== (logSigma !== undefined)) {
    throw new Error(`${fn}: logSigma (B, D) is given exactly for the gaussian-learned likelihood`);
  }
  if (logSigma) expectLength(fn, 'logSigma', logSigma, B * D, 'B*D');
  if (likelihood.kind === 'gaussian' && !(likelihood.sigma > 0)) {
    throw new Error(`${fn}: sigma must be > 0, got ${likelihood.sigma}`);
  }
  if (!['bernoulli', 'gaussian', 'gaussian-learned'].includes(likelihood.kind)) {
    throw new Error(`${fn}: unknown likelihood ${JSON.stringify(likelihood)}`);
  }
}

/** nll (B) of target (B, D) given output (B, D) (logits or means) and logSigma (B, D) or undefined. */
export function likelihoodForward64(
  output: ArrayLike<number>,
  target: ArrayLike<number>,
  logSigma: ArrayLike<number> | undefined,
  B: number,
  D: number,
  likelihood: Likelihood,
): Float64Array {
  checkLikelihood('likelihoodForward64', output, target, logSigma, B, D, likelihood);
  const nll = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let acc = 0;
    for (let d = 0; d < D; d++) {
      const e = b * D + d;
      const o = output[e]!;
      const t = target[e]!;
      if (likelihood.kind === 'bernoulli') {
        acc += softplus64(o) - t * o;
      } else if (likelihood.kind === 'gaussian') {
        const s = likelihood.sigma;
        acc += (0.5 * (t - o) * (t - o)) / (s * s) + Math.log(s) + HALF_LOG_2PI;
      } else {
        const c = clampLogSigma(logSigma![e]!);
        acc += 0.5 * (t - o) * (t - o) * Math.exp(-2 * c) + c + HALF_LOG_2PI;
      }
    }
    nll[b] = acc;
  }
  return nll;
}

/**
 * Gradients of Σ_b dnll[b] nll_b w.r.t. output, target and logSigma (undefined unless
 * gaussian-learned), each (B, D).
 */
export function likelihoodBackward64(
  dnll: ArrayLike<number>,
  output: ArrayLike<number>,
  target: ArrayLike<number>,
  logSigma: ArrayLike<number> | undefined,
  B: number,
  D: number,
  likelihood: Likelihood,
): { doutput: Float64Array; dtarget: Float64Array; dlogSigma: Float64Array | undefined } {
  checkLikelihood('likelihoodBackward64', output, target, logSigma, B, D, likelihood);
  expectLength('likelihoodBackward64', 'dnll', dnll, B, 'B');
  const doutput = new Float64Array(B * D);
  const dtarget = new Float64Array(B * D);
  const dlogSigma = logSigma ? new Float64Array(B * D) : undefined;
  for (let e = 0; e < B * D; e++) {
    const w = dnll[Math.floor(e / D)]!;
    const o = output[e]!;
    const t = target[e]!;
    if (likelihood.kind === 'bernoulli') {
      doutput[e] = w * (sigmoid64(o) - t);
      dtarget[e] = -w * o;
    } else if (likelihood.kind === 'gaussian') {
      const invVar = 1 / (likelihood.sigma * likelihood.sigma);
      doutput[e] = w * (o - t) * invVar;
      dtarget[e] = w * (t - o) * invVar;
    } else {
      const ls = logSigma![e]!;
      const invVar = Math.exp(-2 * clampLogSigma(ls));
      const r = t - o;
      doutput[e] = -w * r * invVar;
      dtarget[e] = w * r * invVar;
      const inside = ls >= LOGSIGMA_CLAMP.min && ls <= LOGSIGMA_CLAMP.max;
      dlogSigma![e] = inside ? w * (1 - r * r * invVar) : 0;
    }
  }
  return { doutput, dtarget, dlogSigma };
}
