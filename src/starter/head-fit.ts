/**
 * One-vs-rest L2-regularised logistic regression for the starter model's initial head (pure code, no I/O).
 *
 * Each label is an independent binary problem minimising
 *   L(w, b) = (1/S) Σ_i s_i · [softplus(z_i) − y_i z_i] + (λ/2)‖w‖²,   z_i = w·x_i + b,  S = Σ_i s_i
 * (the bias is not penalised). With ~100 features an exact Newton step is cheap, converges in a handful of
 * iterations and, unlike SGD, needs no random order: the result depends only on the data.
 */
import { choleskyFactor, choleskySolve } from '../tuning/math/cholesky.js';

export interface LogisticOptions {
  /** λ, the L2 penalty on the weights. Must be > 0 so the Hessian stays positive definite. */
  l2: number;
  maxIterations?: number;
  /** Stop when every gradient component is below this. */
  tolerance?: number;
}

export interface LogisticFit {
  weight: Float64Array;
  bias: number;
  loss: number;
  /** Largest absolute gradient component at the returned point. */
  gradientMax: number;
  iterations: number;
  converged: boolean;
}

/** Row-major design matrix: `x[i * dim + d]`. */
export interface Design {
  x: Float64Array | Float32Array;
  n: number;
  dim: number;
}

function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

function checkDesign({ x, n, dim }: Design, y: ArrayLike<number>, sampleWeight?: ArrayLike<number>): void {
  if (x.length !== n * dim) throw new Error('x size does not match n × dim');
  if (y.length !== n) throw new Error('y size does not match n');
  if (sampleWeight && sampleWeight.length !== n) throw new Error('sampleWeight size does not match n');
}

/** The objective above, exported so tests can check gradients against finite differences. */
export function logisticLoss(
  design: Design,
  y: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: number,
  l2: number,
  sampleWeight?: ArrayLike<number>,
): number {
  const { x, n, dim } = design;
  let total = 0;
  let weightSum = 0;
  for (let i = 0; i < n; i++) {
    let z = bias;
    const off = i * dim;
    for (let d = 0; d < dim; d++) z += weight[d] * x[off + d];
    const s = sampleWeight ? sampleWeight[i] : 1;
    total += s * (softplus(z) - y[i] * z);
    weightSum += s;
  }
  let norm = 0;
  for (let d = 0; d < dim; d++) norm += weight[d] * weight[d];
  return total / weightSum + 0.5 * l2 * norm;
}

/** Gradient of {@link logisticLoss}: `dim` weight components followed by the bias component. */
export function logisticGradient(
  design: Design,
  y: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: number,
  l2: number,
  sampleWeight?: ArrayLike<number>,
): Float64Array {
  const { x, n, dim } = design;
  const g = new Float64Array(dim + 1);
  let weightSum = 0;
  for (let i = 0; i < n; i++) weightSum += sampleWeight ? sampleWeight[i] : 1;
  for (let i = 0; i < n; i++) {
    let z = bias;
    const off = i * dim;
    for (let d = 0; d < dim; d++) z += weight[d] * x[off + d];
    const r = ((sampleWeight ? sampleWeight[i] : 1) * (sigmoid(z) - y[i])) / weightSum;
    for (let d = 0; d < dim; d++) g[d] += r * x[off + d];
    g[dim] += r;
  }
  for (let d = 0; d < dim; d++) g[d] += l2 * weight[d];
  return g;
}

export function fitLogistic(
  design: Design,
  y: ArrayLike<number>,
  opts: LogisticOptions,
  sampleWeight?: ArrayLike<number>,
): LogisticFit {
  checkDesign(design, y, sampleWeight);
  if (!(opts.l2 > 0)) throw new Error('l2 must be > 0');
  const { n, dim } = design;
  const maxIterations = opts.maxIterations ?? 50;
  const tolerance = opts.tolerance ?? 1e-8;
  const size = dim + 1;
  let weightSum = 0;
  for (let i = 0; i < n; i++) weightSum += sampleWeight ? sampleWeight[i] : 1;
  if (!(weightSum > 0)) throw new Error('sample weights must sum to a positive number');

  // Start from the best constant model (bias = log-odds of the weighted positive rate): it saves a step.
  let positiveWeight = 0;
  for (let i = 0; i < n; i++) positiveWeight += (sampleWeight ? sampleWeight[i] : 1) * y[i];
  const rate = Math.min(Math.max(positiveWeight / weightSum, 1e-6), 1 - 1e-6);
  let weight = new Float64Array(dim);
  let bias = Math.log(rate / (1 - rate));
  let loss = logisticLoss(design, y, weight, bias, opts.l2, sampleWeight);
  const hessian = new Float64Array(size * size);
  let iterations = 0;
  let gradient = logisticGradient(design, y, weight, bias, opts.l2, sampleWeight);
  // Building the Hessian is nearly all the work, so a factor is reused while the steps it gives still cut
  // the gradient tenfold (a chord-Newton step); any slower progress and the next step gets a fresh one.
  let factor: Float64Array | undefined;
  let previousGradientMax = Infinity;
  while (maxAbs(gradient) > tolerance && iterations < maxIterations) {
    iterations++;
    const gradientMax = maxAbs(gradient);
    if (!factor || gradientMax > 0.1 * previousGradientMax) {
      // Hessian: (1/S) Σ s_i p_i (1 − p_i) [x_i; 1][x_i; 1]ᵀ + λ·diag(1, …, 1, 0); lower triangle only.
      accumulateHessian(design, weight, bias, sampleWeight, weightSum, hessian);
      for (let d = 0; d < dim; d++) hessian[d * size + d] += opts.l2;
      // A tiny ridge keeps the bias pivot positive even when every prediction has saturated.
      hessian[dim * size + dim] += 1e-12;
      factor = choleskyFactor(hessian, size);
    }
    previousGradientMax = gradientMax;
    const step = choleskySolve(factor, size, gradient);

    // Backtracking (Armijo) line search: a full Newton step can overshoot far from the optimum.
    let descent = 0;
    for (let k = 0; k < size; k++) descent += gradient[k] * step[k];
    let t = 1;
    const nextWeight = new Float64Array(dim);
    let nextBias = bias;
    let nextLoss = Infinity;
    let accepted = false;
    for (let tries = 0; tries < 30 && !accepted; tries++) {
      for (let d = 0; d < dim; d++) nextWeight[d] = weight[d] - t * step[d];
      nextBias = bias - t * step[dim];
      nextLoss = logisticLoss(design, y, nextWeight, nextBias, opts.l2, sampleWeight);
      accepted = nextLoss <= loss - 1e-4 * t * descent;
      t /= 2;
    }
    // No measurable decrease: the loss is at its minimum to floating-point precision.
    if (!accepted) break;
    weight = nextWeight;
    bias = nextBias;
    loss = nextLoss;
    gradient = logisticGradient(design, y, weight, bias, opts.l2, sampleWeight);
  }
  const gradientMax = maxAbs(gradient);
  return { weight, bias, loss, gradientMax, iterations, converged: gradientMax <= tolerance };
}

export interface OneVsRestOptions extends LogisticOptions {
  /**
   * When set, each label's positives are reweighted to carry this share of the total sample weight, so a
   * label with few examples is not simply drowned by everything else. Unset: every example weighs 1.
   */
  positiveShare?: number;
}

export interface OneVsRestFit {
  /** Row-major [labels, dim] (PyTorch Linear "out_in" layout). */
  weight: Float64Array;
  bias: Float64Array;
  fits: LogisticFit[];
}

/** `labels[i * numLabels + k]` is 1 when example i has label k. */
export function fitOneVsRest(
  design: Design,
  labels: Uint8Array,
  numLabels: number,
  opts: OneVsRestOptions,
): OneVsRestFit {
  const { n, dim } = design;
  if (labels.length !== n * numLabels) throw new Error('labels size does not match n × numLabels');
  const weight = new Float64Array(numLabels * dim);
  const bias = new Float64Array(numLabels);
  const fits: LogisticFit[] = [];
  for (let k = 0; k < numLabels; k++) {
    const y = new Uint8Array(n);
    let positives = 0;
    for (let i = 0; i < n; i++) {
      y[i] = labels[i * numLabels + k];
      positives += y[i];
    }
    let sampleWeight: Float64Array | undefined;
    if (opts.positiveShare !== undefined && positives > 0 && positives < n) {
      const share = opts.positiveShare;
      if (!(share > 0 && share < 1)) throw new Error('positiveShare must be in (0, 1)');
      const pos = share / positives;
      const neg = (1 - share) / (n - positives);
      sampleWeight = Float64Array.from(y, (v) => (v ? pos : neg));
    }
    const fit = fitLogistic(design, y, opts, sampleWeight);
    weight.set(fit.weight, k * dim);
    bias[k] = fit.bias;
    fits.push(fit);
  }
  return { weight, bias, fits };
}

/**
 * Writes (1/S) Σ_i s_i p_i (1 − p_i) [x_i; 1][x_i; 1]ᵀ into the lower triangle of `hessian`.
 * This is the whole cost of a Newton step (n·d²/2), so examples go eight at a time through one contiguous
 * buffer: each Hessian entry is then loaded and stored once per eight products instead of once per product.
 */
function accumulateHessian(
  { x, n, dim }: Design,
  weight: Float64Array,
  bias: number,
  sampleWeight: ArrayLike<number> | undefined,
  weightSum: number,
  hessian: Float64Array,
): void {
  const size = dim + 1;
  const B = 8; // the products below are written out for eight rows: change both together
  // rows[j * size + a]: example j's row extended with a trailing 1 for the bias; c[j] its weight. Slots past
  // the end of the data stay zero.
  const rows = new Float64Array(B * size);
  const c = new Float64Array(B);
  hessian.fill(0);
  for (let start = 0; start < n; start += B) {
    for (let j = 0; j < B; j++) {
      const i = start + j;
      const base = j * size;
      if (i >= n) {
        rows.fill(0, base, base + size);
        c[j] = 0;
        continue;
      }
      const off = i * dim;
      let z = bias;
      for (let d = 0; d < dim; d++) {
        const v = x[off + d];
        rows[base + d] = v;
        z += weight[d] * v;
      }
      rows[base + dim] = 1;
      const p = sigmoid(z);
      c[j] = ((sampleWeight ? sampleWeight[i] : 1) * p * (1 - p)) / weightSum;
    }
    const s1 = size, s2 = 2 * size, s3 = 3 * size, s4 = 4 * size, s5 = 5 * size, s6 = 6 * size, s7 = 7 * size;
    for (let a = 0; a < size; a++) {
      const a0 = c[0] * rows[a];
      const a1 = c[1] * rows[s1 + a];
      const a2 = c[2] * rows[s2 + a];
      const a3 = c[3] * rows[s3 + a];
      const a4 = c[4] * rows[s4 + a];
      const a5 = c[5] * rows[s5 + a];
      const a6 = c[6] * rows[s6 + a];
      const a7 = c[7] * rows[s7 + a];
      const base = a * size;
      for (let b = 0; b <= a; b++) {
        hessian[base + b] +=
          a0 * rows[b] + a1 * rows[s1 + b] + a2 * rows[s2 + b] + a3 * rows[s3 + b] + a4 * rows[s4 + b] + a5 * rows[s5 + b] + a6 * rows[s6 + b] + a7 * rows[s7 + b];
      }
    }
  }
}

function maxAbs(v: Float64Array): number {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  return m;
}
