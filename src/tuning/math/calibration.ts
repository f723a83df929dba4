/**
 * Calibration, pure: a logistic regression with a handful of inputs (Platt 1999), fitted by Newton's
 * method. A run uses it on out-of-fold logits, so a head's score means "the share of such items the
 * moderators flag" and a policy threshold means what it says:
 *
 *   p = σ(a · u + b · z_ref + c)
 *
 * with u the out-of-fold DPO reward and z_ref the reference head's logit. a and b are non-negative: the
 * served head is z = b · (z_ref + u/β) + c with β = b/a, DPO's head at that β, Platt-scaled; b = 0 is
 * the limit β → 0 (the reference adds nothing), a = 0 the limit β → ∞ (the reward adds nothing).
 *
 * Targets are Platt's: (N₊ + 1)/(N₊ + 2) for positives and 1/(N₋ + 2) for negatives, so a few labels
 * cannot push a probability to exactly 0 or 1.
 */
import { logSigmoid, sigmoid } from './dpo.js';

export interface LogisticFit {
  /** One coefficient per input column. */
  coef: number[];
  intercept: number;
  /** Mean cross-entropy against the smoothed targets. */
  loss: number;
}

/** Platt's smoothed targets. */
export function plattTargets(truth: ArrayLike<boolean>): Float64Array {
  let pos = 0;
  for (let i = 0; i < truth.length; i++) if (truth[i]) pos++;
  const neg = truth.length - pos;
  const hi = (pos + 1) / (pos + 2);
  const lo = 1 / (neg + 2);
  return Float64Array.from({ length: truth.length }, (_, i) => (truth[i] ? hi : lo));
}

/** Solves A x = b in place for a small dense system (Gaussian elimination with partial pivoting). */
function solve(A: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const M = Float64Array.from(A);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]) > Math.abs(M[p * n + c])) p = r;
    if (Math.abs(M[p * n + c]) < 1e-300) return null;
    if (p !== c) {
      for (let k = 0; k < n; k++) [M[c * n + k], M[p * n + k]] = [M[p * n + k], M[c * n + k]];
      [x[c], x[p]] = [x[p], x[c]];
    }
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c] / M[c * n + c];
      if (f === 0) continue;
      for (let k = c; k < n; k++) M[r * n + k] -= f * M[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    let s = x[c];
    for (let k = c + 1; k < n; k++) s -= M[c * n + k] * x[k];
    x[c] = s / M[c * n + c];
  }
  return x;
}

/** Unconstrained fit on the given columns (plus intercept); Newton with backtracking. */
function newton(columns: ArrayLike<number>[], target: Float64Array): { theta: Float64Array; loss: number } {
  const n = target.length;
  const p = columns.length + 1;
  const theta = new Float64Array(p);
  // Start the intercept at the base rate's log-odds.
  let mean = 0;
  for (let i = 0; i < n; i++) mean += target[i];
  mean = Math.min(1 - 1e-9, Math.max(1e-9, mean / Math.max(1, n)));
  theta[p - 1] = Math.log(mean / (1 - mean));
  const zOf = (t: Float64Array, i: number) => {
    let z = t[p - 1];
    for (let k = 0; k < p - 1; k++) z += t[k] * columns[k][i];
    return z;
  };
  const lossOf = (t: Float64Array) => {
    let l = 0;
    for (let i = 0; i < n; i++) {
      const z = zOf(t, i);
      l -= target[i] * logSigmoid(z) + (1 - target[i]) * logSigmoid(-z);
    }
    return l / Math.max(1, n);
  };
  let loss = lossOf(theta);
  for (let iter = 0; iter < 100; iter++) {
    const g = new Float64Array(p);
    const H = new Float64Array(p * p);
    for (let i = 0; i < n; i++) {
      const z = zOf(theta, i);
      const q = sigmoid(z);
      const r = q - target[i];
      const w = q * (1 - q);
      for (let a = 0; a < p; a++) {
        const xa = a === p - 1 ? 1 : columns[a][i];
        g[a] += r * xa;
        for (let b = 0; b < p; b++) H[a * p + b] += w * xa * (b === p - 1 ? 1 : columns[b][i]);
      }
    }
    for (let a = 0; a < p; a++) {
      g[a] /= Math.max(1, n);
      for (let b = 0; b < p; b++) H[a * p + b] /= Math.max(1, n);
      H[a * p + a] += 1e-9; // separable data: keep the step finite
    }
    const step = solve(H, g, p);
    if (!step) break;
    let t = 1;
    let next = theta;
    let nextLoss = loss;
    for (let tries = 0; tries < 30; tries++) {
      next = Float64Array.from(theta, (v, k) => v - t * step[k]);
      nextLoss = lossOf(next);
      if (nextLoss <= loss) break;
      t /= 2;
    }
    if (!(nextLoss <= loss)) break;
    const gain = loss - nextLoss;
    theta.set(next);
    loss = nextLoss;
    if (gain < 1e-12) break;
  }
  return { theta, loss };
}

/**
 * Fits σ(Σ_k coef_k · column_k + intercept) to Platt's targets of `truth`; columns listed in
 * `nonNegative` get coefficients ≥ 0 (exactly: every subset of them held at zero is fitted and the best
 * feasible fit kept, which for a convex loss is the constrained optimum).
 */
export function fitLogistic(columns: ArrayLike<number>[], truth: ArrayLike<boolean>, nonNegative: number[] = []): LogisticFit {
  const target = plattTargets(truth);
  let best: LogisticFit | null = null;
  for (let mask = 0; mask < 1 << nonNegative.length; mask++) {
    const zero = new Set(nonNegative.filter((_, k) => mask & (1 << k)));
    const free = columns.map((_, k) => k).filter((k) => !zero.has(k));
    const r = newton(
      free.map((k) => columns[k]),
      target,
    );
    const coef = columns.map(() => 0);
    free.forEach((k, i) => (coef[k] = r.theta[i]));
    if (nonNegative.some((k) => coef[k] < 0)) continue;
    if (!best || r.loss < best.loss - 1e-15) best = { coef, intercept: r.theta[free.length], loss: r.loss };
  }
  return best!;
}
