/**
 * Whitening of the backbone's features for training, folded back into the head afterwards, so serving
 * is unchanged. Pure.
 *
 * Backbone features are strongly correlated (the starter's pooled word vectors share most of their
 * direction); a linear model on them is badly conditioned, and an L2 penalty on raw weights punishes
 * directions by an accident of scale. With the covariance Σ of the train items and its Cholesky factor
 * Σ + εI = L Lᵀ, training sees f̃ = L⁻¹ (f − μ): uncorrelated, unit variance. A penalty ‖w̃‖² on the
 * whitened weights is wᵀ(Σ + εI)w on the raw ones (the same for any whitening matrix): how much the
 * logit varies over the data, not how large the numbers are. ε (a small share of the mean variance)
 * keeps directions with no variance from being free.
 */

import { choleskyFactor } from './cholesky.js';

/** How the backbone's features are transformed for training (see fitWhitening, fitScaling). */
export type Standardize = 'whiten' | 'scale' | 'none';

export interface Whitening {
  dim: number;
  mean: Float64Array;
  /** Lower-triangular Cholesky factor of Σ + εI, row-major [dim × dim]. */
  chol: Float64Array;
}

/** ε as a share of the mean per-feature variance. */
export const WHITENING_RIDGE = 1e-3;

/** Fits the whitening on `n` rows of `features` ([n × dim]). */
export function fitWhitening(features: ArrayLike<number>, n: number, dim: number, ridge = WHITENING_RIDGE): Whitening {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  if (n > 0) for (let j = 0; j < dim; j++) mean[j] /= n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const o = a * dim;
      for (let b = 0; b <= a; b++) cov[o + b] += ra * row[b];
    }
  }
  let trace = 0;
  for (let a = 0; a < dim; a++) trace += cov[a * dim + a];
  const eps = Math.max(ridge * (n > 0 ? trace / n / dim : 0), 1e-12);
  for (let a = 0; a < dim; a++) for (let b = 0; b <= a; b++) cov[a * dim + b] = (n > 0 ? cov[a * dim + b] / n : 0) + (a === b ? eps : 0);
  return { dim, mean, chol: choleskyFactor(cov, dim) };
}


/** f̃ = L⁻¹ (f − μ) for row `r` of `features`, written into `out` at `at` (forward substitution). */
export function whitenRow(w: Whitening, features: ArrayLike<number>, r: number, out: Float64Array, at: number): void {
  const { dim, mean, chol } = w;
  for (let i = 0; i < dim; i++) {
    let s = features[r * dim + i] - mean[i];
    for (let k = 0; k < i; k++) s -= chol[i * dim + k] * out[at + k];
    out[at + i] = s / chol[i * dim + i];
  }
}

/** All `n` rows, whitened, row-major [n × dim]. */
export function whitenRows(w: Whitening, features: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * w.dim);
  for (let r = 0; r < n; r++) whitenRow(w, features, r, out, r * w.dim);
  return out;
}

/**
 * Weights on whitened features back on the raw ones: w̃·f̃ + b̃ = w·f + b with w = L⁻ᵀ w̃ (back
 * substitution) and b = b̃ − w·μ.
 */
export function unwhiten(w: Whitening, weights: ArrayLike<number>, bias: number): { weight: Float64Array; bias: number } {
  const { dim, mean, chol } = w;
  const out = new Float64Array(dim);
  for (let i = dim - 1; i >= 0; i--) {
    let s = weights[i];
    for (let k = i + 1; k < dim; k++) s -= chol[k * dim + i] * out[k];
    out[i] = s / chol[i * dim + i];
  }
  let b = bias;
  for (let i = 0; i < dim; i++) b -= out[i] * mean[i];
  return { weight: out, bias: b };
}

/**
 * Standardisation per feature: f̃_j = (f_j − μ_j) / √(σ_j² + ε), the correlations left in place (a diagonal
 * L). A penalty ‖w̃‖² is then Σ_j (σ_j² + ε) w_j²: ridge regression on z-scored features, which shrinks
 * the directions along which the features vary little more than the principal ones (full whitening
 * shrinks every direction alike). Each variance is raised by the ridge's share of itself; a feature that
 * does not vary is left as it is.
 */
export function fitScaling(features: ArrayLike<number>, n: number, dim: number, ridge = WHITENING_RIDGE): Whitening {
  const mean = new Float64Array(dim);
  const variance = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  if (n > 0) for (let j = 0; j < dim; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const d = features[i * dim + j] - mean[j];
      variance[j] += d * d;
    }
  }
  let total = 0;
  for (let j = 0; j < dim; j++) total += n > 0 ? (variance[j] /= n) : 0;
  // A feature that (nearly) does not vary keeps its scale, as scikit-learn's StandardScaler does.
  const floor = 1e-12 * Math.max(total / Math.max(dim, 1), 1e-12);
  const chol = new Float64Array(dim * dim);
  for (let j = 0; j < dim; j++) chol[j * dim + j] = variance[j] > floor ? Math.sqrt(variance[j] * (1 + ridge)) : 1;
  return { dim, mean, chol };
}

/** No whitening: the features as they are (unwhiten is then the identity). For comparison. */
export function identityWhitening(dim: number): Whitening {
  const chol = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) chol[i * dim + i] = 1;
  return { dim, mean: new Float64Array(dim), chol };
}
