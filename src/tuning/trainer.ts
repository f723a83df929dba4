/**
 * The DPO training loop for a head: a linear part over the backbone's features and an optional lexical
 * part over its token ids. Pure: no I/O, no clock, no Math.random, so a seed and the same data give the
 * same head bit for bit.
 *
 * Every settled train cell (item × category) is one preference pair: chosen = the moderators' label,
 * rejected = its negation. Per cell, with s = +1 when the moderators said "flag":
 *
 *   z      = b_c + W_c·f + (1/L) Σ_t V[t, c]          (the head's logit; the lexical part is a mean over the
 *                                                       item's L tokens, as the exported graph computes it)
 *   h      = s · (z − z_ref)                           (the DPO log-ratio margin against the frozen reference)
 *   ℓ      = loss(h)                                   (sigmoid: −log σ(βh), the paper's DPO; ipo, hinge, robust)
 *   nll    = −log σ(s · z)                             (TRL's rpo_alpha term: the chosen label's NLL)
 *
 *   J(batch) = Σ_i w_i (ℓ_i + α nll_i) / Σ_i w_i + λ ‖W − W_ref‖² + λ_lex Σ_{(t,c) in the batch} (V − V_ref)²
 *
 * w_i are per-category class weights; a weighted mean keeps the first step's loss at ln 2. The L2 terms pull toward the
 * reference's weights (L2-SP), not toward zero. The lexical term is applied to the (token, row) entries
 * the batch touches, and Adam updates only those (lazy Adam): a step costs what the batch's tokens cost,
 * not the whole vocabulary.
 *
 * With cells from agreements and disagreements alike, each category sees both sides of its boundary:
 * for a Bernoulli head this is a logistic regression on all labels with the reference logit as an offset
 * and β as a temperature.
 */
import { nllLoss, nllGrad, pairLoss, pairLossGrad, pairRewards, type LossParams } from './dpo.js';
import { mulberry32, shuffleInPlace } from '../random.js';

/** Items (features, tokens) and the cells that point at them. */
export interface TrainSet {
  dim: number;
  numLabels: number;
  /** Row-major [items, dim]. */
  features: Float32Array;
  /**
   * Each item's tokens as indices into the job's lexical vocabulary (CSR: item k's tokens are
   * index[offsets[k] .. offsets[k+1]]); null when the head has no lexical part.
   */
  tokens: { offsets: Int32Array; index: Int32Array } | null;
  /** Per cell: its item, head row, s (±1), class weight and reference logit. */
  item: Int32Array;
  row: Int32Array;
  sign: Int8Array;
  weight: Float32Array;
  zRef: Float64Array;
}

/** The trainable parameters; `lexical` is [vocabulary × numLabels] over the job's lexical vocabulary. */
export interface Params {
  weight: Float64Array;
  bias: Float64Array;
  lexical: Float64Array | null;
}

export interface Objective {
  loss: LossParams;
  /** α: weight of the chosen label's NLL (TRL's rpo_alpha); 0 turns it off. */
  rpoAlpha: number;
  /** λ: L2-SP on the linear weights, toward the reference. */
  l2: number;
  /** λ_lex: L2-SP on the lexical weights, toward the reference's. */
  lexicalL2: number;
}

export interface TrainOptions {
  objective: Objective;
  learningRate: number;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Keep every k-th step's metrics (the first and each epoch's last are always kept). */
  logEvery?: number;
  onStep?: (m: StepMetrics) => void;
  /** After each epoch (with its validation score when training validates). */
  onEpoch?: (e: EpochMetrics) => void;
  /** Polled between mini-batches; true stops training early (shutdown). */
  shouldStop?: () => boolean;
  /**
   * Early stopping: scored after every epoch (higher is better); the parameters of the best epoch are
   * returned, and training stops after `patience` epochs without improvement.
   */
  validate?: (p: Params) => number;
  patience?: number;
}

export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  'rewards/chosen': number;
  'rewards/rejected': number;
  'rewards/margins': number;
  'rewards/accuracies': number;
  grad_norm: number;
  nll_loss?: number;
  l2_loss?: number;
}

export interface EpochMetrics extends Omit<StepMetrics, 'step' | 'grad_norm'> {
  steps: number;
  grad_norm_mean: number;
  /** The validation score after this epoch, when training validates. */
  validation?: number;
}

export interface TrainResult {
  params: Params;
  steps: StepMetrics[];
  epochs: EpochMetrics[];
  /** The epoch whose parameters were returned (the last one without validation). */
  bestEpoch: number;
  stopped: boolean;
}

const ADAM_B1 = 0.9;
const ADAM_B2 = 0.999;
const ADAM_EPS = 1e-8;

export function copyParams(p: { weight: ArrayLike<number>; bias: ArrayLike<number>; lexical: ArrayLike<number> | null }): Params {
  return { weight: Float64Array.from(p.weight), bias: Float64Array.from(p.bias), lexical: p.lexical ? Float64Array.from(p.lexical) : null };
}

/** z for one cell under `p`. */
export function cellLogit(p: Params, set: TrainSet, i: number): number {
  const D = set.dim;
  const C = set.numLabels;
  const c = set.row[i];
  const it = set.item[i];
  const wo = c * D;
  const fo = it * D;
  let z = p.bias[c];
  for (let j = 0; j < D; j++) z += p.weight[wo + j] * set.features[fo + j];
  if (p.lexical && set.tokens) {
    const a = set.tokens.offsets[it];
    const b = set.tokens.offsets[it + 1];
    if (b > a) {
      let s = 0;
      for (let k = a; k < b; k++) s += p.lexical[set.tokens.index[k] * C + c];
      z += s / (b - a);
    }
  }
  return z;
}

/** Gradient buffers; the lexical one is dense, with a list of the entries a batch touched. */
export interface Grads {
  weight: Float64Array;
  bias: Float64Array;
  lexical: Float64Array | null;
  touched: Int32Array;
  touchedCount: number;
  mark: Uint8Array | null;
}

export function newGrads(set: TrainSet, lexicalSize: number): Grads {
  const C = set.numLabels;
  return {
    weight: new Float64Array(C * set.dim),
    bias: new Float64Array(C),
    lexical: lexicalSize > 0 ? new Float64Array(lexicalSize) : null,
    touched: new Int32Array(lexicalSize > 0 ? 1024 : 0),
    touchedCount: 0,
    mark: lexicalSize > 0 ? new Uint8Array(lexicalSize) : null,
  };
}

function clearGrads(g: Grads): void {
  g.weight.fill(0);
  g.bias.fill(0);
  if (g.lexical && g.mark) {
    for (let k = 0; k < g.touchedCount; k++) {
      const e = g.touched[k];
      g.lexical[e] = 0;
      g.mark[e] = 0;
    }
  }
  g.touchedCount = 0;
}

function touch(g: Grads, e: number): void {
  if (g.mark![e]) return;
  g.mark![e] = 1;
  if (g.touchedCount === g.touched.length) {
    const grown = new Int32Array(g.touched.length * 2);
    grown.set(g.touched);
    g.touched = grown;
  }
  g.touched[g.touchedCount++] = e;
}

export interface BatchResult {
  /** Weighted mean DPO loss of the batch's cells. */
  loss: number;
  nll: number;
  /** The two L2-SP terms, as added to the objective. */
  l2: number;
  rewardsChosen: number;
  rewardsRejected: number;
  accuracy: number;
}

/**
 * Objective and gradient on one mini-batch (J(batch) above), gradients added into `g` (cleared first).
 * Exported so tests can check every term's analytic gradient against finite differences.
 */
export function batchObjective(p: Params, ref: Params, set: TrainSet, idx: ArrayLike<number>, obj: Objective, g: Grads): BatchResult {
  clearGrads(g);
  const D = set.dim;
  const C = set.numLabels;
  const beta = obj.loss.beta;
  const B = idx.length;
  let W = 0;
  for (let k = 0; k < B; k++) W += set.weight[idx[k]];
  const lex = p.lexical && set.tokens && g.lexical ? p.lexical : null;
  let loss = 0;
  let nll = 0;
  let chosen = 0;
  let rejected = 0;
  let correct = 0;
  for (let k = 0; k < B; k++) {
    const i = idx[k];
    const c = set.row[i];
    const s = set.sign[i];
    const w = set.weight[i];
    const z = cellLogit(p, set, i);
    const h = s * (z - set.zRef[i]);
    loss += w * pairLoss(h, obj.loss);
    const r = pairRewards(z, set.zRef[i], s, beta);
    chosen += r.chosen;
    rejected += r.rejected;
    if (r.chosen > r.rejected) correct++;
    let dz = pairLossGrad(h, obj.loss) * s;
    if (obj.rpoAlpha > 0) {
      nll += w * obj.rpoAlpha * nllLoss(s * z);
      dz += obj.rpoAlpha * nllGrad(s * z) * s;
    }
    dz *= w / W;
    if (lex) {
      // Every (token, row) entry of the cell is touched, whether or not its loss gradient is 0: the
      // penalty and the lazy Adam step apply to all of them.
      const a = set.tokens!.offsets[set.item[i]];
      const b = set.tokens!.offsets[set.item[i] + 1];
      const per = dz / (b - a);
      for (let t = a; t < b; t++) {
        const e = set.tokens!.index[t] * C + c;
        if (!g.mark![e]) touch(g, e);
        g.lexical![e] += per;
      }
    }
    if (dz === 0) continue;
    const wo = c * D;
    const fo = set.item[i] * D;
    for (let j = 0; j < D; j++) g.weight[wo + j] += dz * set.features[fo + j];
    g.bias[c] += dz;
  }
  let l2 = 0;
  if (obj.l2 > 0) {
    for (let q = 0; q < p.weight.length; q++) {
      const d = p.weight[q] - ref.weight[q];
      l2 += obj.l2 * d * d;
      g.weight[q] += 2 * obj.l2 * d;
    }
  }
  if (lex && obj.lexicalL2 > 0) {
    for (let k = 0; k < g.touchedCount; k++) {
      const e = g.touched[k];
      const d = lex[e] - ref.lexical![e];
      l2 += obj.lexicalL2 * d * d;
      g.lexical![e] += 2 * obj.lexicalL2 * d;
    }
  }
  return {
    loss: W ? loss / W : 0,
    nll: W ? nll / W : 0,
    l2,
    rewardsChosen: B ? chosen / B : 0,
    rewardsRejected: B ? rejected / B : 0,
    accuracy: B ? correct / B : 0,
  };
}

/** 1 − β₁ᵗ and 1 − β₂ᵗ by step count, computed once per t (lazy Adam asks for them per entry). */
function biasCorrections(): { first: (t: number) => number; second: (t: number) => number } {
  let c1 = new Float64Array(1024);
  let c2 = new Float64Array(1024);
  let known = 0;
  const grow = (t: number) => {
    if (t >= c1.length) {
      const n = Math.max(t + 1, c1.length * 2);
      const a = new Float64Array(n);
      const b = new Float64Array(n);
      a.set(c1);
      b.set(c2);
      c1 = a;
      c2 = b;
    }
    for (let k = known + 1; k <= t; k++) {
      c1[k] = 1 - ADAM_B1 ** k;
      c2[k] = 1 - ADAM_B2 ** k;
    }
    known = Math.max(known, t);
  };
  return {
    first: (t) => {
      if (t > known) grow(t);
      return c1[t];
    },
    second: (t) => {
      if (t > known) grow(t);
      return c2[t];
    },
  };
}

function adam(x: Float64Array, m: Float64Array, v: Float64Array, q: number, g: number, lr: number, c1: number, c2: number): void {
  m[q] = ADAM_B1 * m[q] + (1 - ADAM_B1) * g;
  v[q] = ADAM_B2 * v[q] + (1 - ADAM_B2) * g * g;
  x[q] -= (lr * (m[q] / c1)) / (Math.sqrt(v[q] / c2) + ADAM_EPS);
}

/** Mean ‖f‖₁ over the items (1 when there are none or all are zero). */
function meanL1(features: Float32Array, dim: number): number {
  const n = features.length / dim;
  let s = 0;
  for (let i = 0; i < features.length; i++) s += Math.abs(features[i]);
  return n > 0 && s > 0 ? s / n : 1;
}

export function trainDpo(reference: Params, set: TrainSet, opts: TrainOptions): TrainResult {
  const n = set.row.length;
  const C = set.numLabels;
  const D = set.dim;
  if (set.features.length % D !== 0) throw new Error('features are not a whole number of items × dim');
  if (set.item.length !== n || set.sign.length !== n || set.weight.length !== n || set.zRef.length !== n) throw new Error('cell arrays differ in length');
  if (reference.weight.length !== C * D || reference.bias.length !== C) throw new Error('the reference does not match numLabels × dim');
  const lexSize = reference.lexical && set.tokens ? reference.lexical.length : 0;
  // The policy starts as an exact copy of the frozen reference (so step 1 has h = 0 everywhere).
  const p = copyParams({ ...reference, lexical: lexSize ? reference.lexical : null });
  const ref = p.lexical ? reference : { ...reference, lexical: null };
  const g = newGrads(set, lexSize);
  const mW = new Float64Array(C * D);
  const vW = new Float64Array(C * D);
  const mB = new Float64Array(C);
  const vB = new Float64Array(C);
  const mV = new Float64Array(lexSize);
  const vV = new Float64Array(lexSize);
  // Lazy Adam: each lexical entry keeps its own step count, so bias correction stays right for entries
  // that only some batches touch.
  const tV = new Int32Array(lexSize);
  const correction = biasCorrections();

  const rng = mulberry32(opts.seed);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const bs = Math.max(1, Math.min(opts.batchSize, n));
  const stepsPerEpoch = Math.ceil(n / bs);
  const totalSteps = stepsPerEpoch * opts.epochs;
  const logEvery = opts.logEvery ?? Math.max(1, Math.ceil(totalSteps / 200));
  const steps: StepMetrics[] = [];
  const epochs: EpochMetrics[] = [];
  // Adam moves each parameter by about its learning rate per step whatever the gradient's scale. The
  // rates are set so that `learningRate` bounds how far one step moves a logit, for each group: the bias,
  // the linear weights (a step moves z by up to lr·‖f‖₁, so they take lr divided by the mean ‖f‖₁ of the
  // items) and the lexical weights (a mean over tokens: up to lr). One learning rate then suits every
  // backbone's feature scale and both parts of the head.
  const lr = opts.learningRate;
  const lrW = lr / meanL1(set.features, set.dim);
  let step = 0;
  let stopped = false;
  let best: { score: number; epoch: number; params: Params } | null = null;
  const patience = opts.patience ?? Infinity;

  outer: for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    shuffleInPlace(order, rng);
    const acc = { loss: 0, nll: 0, l2: 0, chosen: 0, rejected: 0, accuracy: 0, grad: 0, count: 0, steps: 0 };
    for (let start = 0; start < n; start += bs) {
      if (opts.shouldStop?.()) {
        stopped = true;
        break outer;
      }
      const idx = order.subarray(start, Math.min(n, start + bs));
      const r = batchObjective(p, ref, set, idx, opts.objective, g);
      let g2 = 0;
      for (let q = 0; q < g.weight.length; q++) g2 += g.weight[q] * g.weight[q];
      for (let q = 0; q < C; q++) g2 += g.bias[q] * g.bias[q];
      for (let k = 0; k < g.touchedCount; k++) g2 += g.lexical![g.touched[k]] ** 2;
      const gradNorm = Math.sqrt(g2);

      step++;
      const c1 = 1 - ADAM_B1 ** step;
      const c2 = 1 - ADAM_B2 ** step;
      for (let q = 0; q < p.weight.length; q++) adam(p.weight, mW, vW, q, g.weight[q], lrW, c1, c2);
      for (let q = 0; q < C; q++) adam(p.bias, mB, vB, q, g.bias[q], lr, c1, c2);
      for (let k = 0; k < g.touchedCount; k++) {
        const e = g.touched[k];
        const t = ++tV[e];
        adam(p.lexical!, mV, vV, e, g.lexical![e], lr, correction.first(t), correction.second(t));
      }

      const m: StepMetrics = {
        step,
        epoch,
        loss: r.loss,
        'rewards/chosen': r.rewardsChosen,
        'rewards/rejected': r.rewardsRejected,
        'rewards/margins': r.rewardsChosen - r.rewardsRejected,
        'rewards/accuracies': r.accuracy,
        grad_norm: gradNorm,
        ...(opts.objective.rpoAlpha > 0 ? { nll_loss: r.nll } : {}),
        ...(opts.objective.l2 > 0 || opts.objective.lexicalL2 > 0 ? { l2_loss: r.l2 } : {}),
      };
      const w = idx.length;
      acc.loss += r.loss * w;
      acc.nll += r.nll * w;
      acc.l2 += r.l2 * w;
      acc.chosen += r.rewardsChosen * w;
      acc.rejected += r.rewardsRejected * w;
      acc.accuracy += r.accuracy * w;
      acc.grad += gradNorm;
      acc.count += w;
      acc.steps++;
      const lastOfEpoch = start + bs >= n;
      if (step === 1 || step % logEvery === 0 || lastOfEpoch) steps.push(m);
      opts.onStep?.(m);
    }
    const e: EpochMetrics = {
      epoch,
      steps: acc.steps,
      loss: acc.loss / acc.count,
      'rewards/chosen': acc.chosen / acc.count,
      'rewards/rejected': acc.rejected / acc.count,
      'rewards/margins': (acc.chosen - acc.rejected) / acc.count,
      'rewards/accuracies': acc.accuracy / acc.count,
      grad_norm_mean: acc.grad / acc.steps,
      ...(opts.objective.rpoAlpha > 0 ? { nll_loss: acc.nll / acc.count } : {}),
      ...(opts.objective.l2 > 0 || opts.objective.lexicalL2 > 0 ? { l2_loss: acc.l2 / acc.count } : {}),
    };
    epochs.push(e);
    let stop = false;
    if (opts.validate) {
      const score = opts.validate(p);
      e.validation = score;
      if (!best || score > best.score) best = { score, epoch, params: copyParams(p) };
      else stop = epoch - best.epoch >= patience;
    }
    opts.onEpoch?.(e);
    if (stop) break;
  }
  return {
    params: best ? best.params : p,
    steps,
    epochs,
    bestEpoch: best ? best.epoch : epochs.length,
    stopped,
  };
}
