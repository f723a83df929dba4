/**
 * The DPO training loop for a linear head: seeded shuffling, mini-batches, analytic gradients, AdamW,
 * the optional anchor term, and TRL's metrics per step and per epoch. Pure: no I/O, no clock, no
 * Math.random, so a seed and the same data give the same head bit for bit.
 *
 * Hot loop notes: features are one packed Float32Array; every pair touches one row of W, so the cost per
 * pair is two dot-products of length d (forward and gradient). AdamW then updates all C×d parameters
 * once per mini-batch.
 */
import type { HeadWeights } from '../inference/head.js';
import { pairLoss, pairLossGrad, pairRewards, type LossParams } from './dpo.js';
import { mulberry32, shuffleInPlace } from '../random.js';

export interface PairSet {
  /** Row-major [n, dim]. */
  features: Float32Array;
  /** Head row (label index) each pair is about. */
  label: Int32Array;
  /** +1 when the moderators' (chosen) label is "flag", −1 when it is "no flag". */
  sign: Int8Array;
}

export interface AnchorSet {
  /** Row-major [n, dim]: items where moderators agreed with the model, per label in `label`. */
  features: Float32Array;
  label: Int32Array;
}

export interface TrainOptions {
  loss: LossParams;
  learningRate: number;
  weightDecay: number;
  epochs: number;
  batchSize: number;
  /** Weight of the anchor term λ·mean((z − z_ref)²) over agreed items; 0 turns it off. */
  anchorWeight: number;
  seed: number;
  /** Keep every k-th step's metrics (the first and each epoch's last are always kept). */
  logEvery?: number;
  onStep?: (m: StepMetrics) => void;
  /** Polled between mini-batches; true stops training early (shutdown). */
  shouldStop?: () => boolean;
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
  anchor_loss?: number;
}

export interface EpochMetrics extends Omit<StepMetrics, 'step' | 'grad_norm'> {
  steps: number;
  grad_norm_mean: number;
}

export interface TrainResult {
  head: HeadWeights;
  steps: StepMetrics[];
  epochs: EpochMetrics[];
  stopped: boolean;
}

const ADAM_B1 = 0.9;
const ADAM_B2 = 0.999;
const ADAM_EPS = 1e-8;

function rowLogits(h: HeadWeights, features: Float32Array, label: Int32Array): Float64Array {
  const n = label.length;
  const D = h.dim;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = label[i];
    const wo = c * D;
    const fo = i * D;
    let z = h.bias[c];
    for (let j = 0; j < D; j++) z += h.weight[wo + j] * features[fo + j];
    out[i] = z;
  }
  return out;
}

export interface BatchResult {
  loss: number;
  anchorLoss: number;
  rewardsChosen: number;
  rewardsRejected: number;
  accuracy: number;
  /** Gradient of the batch objective: [numLabels × dim] then [numLabels]. */
  gradW: Float64Array;
  gradB: Float64Array;
}

/**
 * Objective and gradient on one mini-batch: mean DPO loss over `idx` pairs plus λ·mean((z − z_ref)²) over
 * `anchorIdx` anchors. Exported so tests can check the analytic gradient against finite differences.
 */
export function batchObjective(
  head: { weight: ArrayLike<number>; bias: ArrayLike<number>; dim: number; numLabels: number },
  pairs: PairSet,
  zRef: Float64Array,
  idx: ArrayLike<number>,
  anchors: AnchorSet | null,
  anchorRef: Float64Array | null,
  anchorIdx: ArrayLike<number>,
  opts: Pick<TrainOptions, 'loss' | 'anchorWeight'>,
  out?: { gradW: Float64Array; gradB: Float64Array },
): BatchResult {
  const D = head.dim;
  const gradW = out?.gradW ?? new Float64Array(head.numLabels * D);
  const gradB = out?.gradB ?? new Float64Array(head.numLabels);
  const W = head.weight;
  const b = head.bias;
  const beta = opts.loss.beta;
  const B = idx.length;
  let loss = 0;
  let chosen = 0;
  let rejected = 0;
  let correct = 0;
  for (let k = 0; k < B; k++) {
    const i = idx[k];
    const c = pairs.label[i];
    const s = pairs.sign[i];
    const wo = c * D;
    const fo = i * D;
    let z = b[c];
    for (let j = 0; j < D; j++) z += W[wo + j] * pairs.features[fo + j];
    const h = s * (z - zRef[i]);
    loss += pairLoss(h, opts.loss);
    const r = pairRewards(z, zRef[i], s, beta);
    chosen += r.chosen;
    rejected += r.rejected;
    if (r.chosen > r.rejected) correct++;
    const dz = (pairLossGrad(h, opts.loss) * s) / B;
    if (dz !== 0) {
      for (let j = 0; j < D; j++) gradW[wo + j] += dz * pairs.features[fo + j];
      gradB[c] += dz;
    }
  }
  let anchorLoss = 0;
  const A = anchorIdx.length;
  if (anchors && anchorRef && A > 0 && opts.anchorWeight > 0) {
    const lam = opts.anchorWeight;
    for (let k = 0; k < A; k++) {
      const i = anchorIdx[k];
      const c = anchors.label[i];
      const wo = c * D;
      const fo = i * D;
      let z = b[c];
      for (let j = 0; j < D; j++) z += W[wo + j] * anchors.features[fo + j];
      const d = z - anchorRef[i];
      anchorLoss += d * d;
      const dz = (2 * lam * d) / A;
      if (dz !== 0) {
        for (let j = 0; j < D; j++) gradW[wo + j] += dz * anchors.features[fo + j];
        gradB[c] += dz;
      }
    }
    anchorLoss = (lam * anchorLoss) / A;
  }
  return {
    loss: B ? loss / B : 0,
    anchorLoss,
    rewardsChosen: B ? chosen / B : 0,
    rewardsRejected: B ? rejected / B : 0,
    accuracy: B ? correct / B : 0,
    gradW,
    gradB,
  };
}

export function trainDpo(reference: HeadWeights, pairs: PairSet, anchors: AnchorSet | null, opts: TrainOptions): TrainResult {
  const n = pairs.label.length;
  const C = reference.numLabels;
  const D = reference.dim;
  if (pairs.features.length !== n * D || pairs.sign.length !== n) throw new Error('pair arrays do not match n × dim');
  if (anchors && anchors.features.length !== anchors.label.length * D) throw new Error('anchor arrays do not match n × dim');
  // The policy starts as an exact copy of the frozen reference (so step 1 has h = 0 everywhere).
  const W = Float64Array.from(reference.weight);
  const bias = Float64Array.from(reference.bias);
  const head = { weight: W, bias, dim: D, numLabels: C };
  const zRef = rowLogits(reference, pairs.features, pairs.label);
  const anchorRef = anchors && opts.anchorWeight > 0 ? rowLogits(reference, anchors.features, anchors.label) : null;

  const mW = new Float64Array(C * D);
  const vW = new Float64Array(C * D);
  const mB = new Float64Array(C);
  const vB = new Float64Array(C);
  const gradW = new Float64Array(C * D);
  const gradB = new Float64Array(C);

  const rng = mulberry32(opts.seed);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const anchorCount = anchorRef ? anchors!.label.length : 0;
  const anchorOrder = Int32Array.from({ length: anchorCount }, (_, i) => i);
  let anchorPos = anchorCount;
  const bs = Math.max(1, Math.min(opts.batchSize, n));
  const stepsPerEpoch = Math.ceil(n / bs);
  const totalSteps = stepsPerEpoch * opts.epochs;
  const logEvery = opts.logEvery ?? Math.max(1, Math.ceil(totalSteps / 200));
  const steps: StepMetrics[] = [];
  const epochs: EpochMetrics[] = [];
  let step = 0;
  let stopped = false;
  const anchorBatch = new Int32Array(bs);

  outer: for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    shuffleInPlace(order, rng);
    const acc = { loss: 0, anchor: 0, chosen: 0, rejected: 0, accuracy: 0, grad: 0, count: 0, steps: 0 };
    for (let start = 0; start < n; start += bs) {
      if (opts.shouldStop?.()) {
        stopped = true;
        break outer;
      }
      const idx = order.subarray(start, Math.min(n, start + bs));
      let aIdx: Int32Array = anchorBatch.subarray(0, 0);
      if (anchorCount > 0) {
        const take = Math.min(idx.length, anchorCount);
        for (let k = 0; k < take; k++) {
          if (anchorPos >= anchorCount) {
            shuffleInPlace(anchorOrder, rng);
            anchorPos = 0;
          }
          anchorBatch[k] = anchorOrder[anchorPos++];
        }
        aIdx = anchorBatch.subarray(0, take);
      }
      gradW.fill(0);
      gradB.fill(0);
      const r = batchObjective(head, pairs, zRef, idx, anchors, anchorRef, aIdx, opts, { gradW, gradB });
      let g2 = 0;
      for (let i = 0; i < gradW.length; i++) g2 += gradW[i] * gradW[i];
      for (let i = 0; i < C; i++) g2 += gradB[i] * gradB[i];
      const gradNorm = Math.sqrt(g2);

      // AdamW: Adam on the gradient, weight decay applied to W directly (decoupled), not to the bias.
      step++;
      const lr = opts.learningRate;
      const c1 = 1 - ADAM_B1 ** step;
      const c2 = 1 - ADAM_B2 ** step;
      const decay = 1 - lr * opts.weightDecay;
      for (let i = 0; i < W.length; i++) {
        const g = gradW[i];
        mW[i] = ADAM_B1 * mW[i] + (1 - ADAM_B1) * g;
        vW[i] = ADAM_B2 * vW[i] + (1 - ADAM_B2) * g * g;
        W[i] = W[i] * decay - (lr * (mW[i] / c1)) / (Math.sqrt(vW[i] / c2) + ADAM_EPS);
      }
      for (let i = 0; i < C; i++) {
        const g = gradB[i];
        mB[i] = ADAM_B1 * mB[i] + (1 - ADAM_B1) * g;
        vB[i] = ADAM_B2 * vB[i] + (1 - ADAM_B2) * g * g;
        bias[i] -= (lr * (mB[i] / c1)) / (Math.sqrt(vB[i] / c2) + ADAM_EPS);
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
        ...(anchorRef ? { anchor_loss: r.anchorLoss } : {}),
      };
      const w = idx.length;
      acc.loss += r.loss * w;
      acc.anchor += r.anchorLoss * w;
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
    epochs.push({
      epoch,
      steps: acc.steps,
      loss: acc.loss / acc.count,
      'rewards/chosen': acc.chosen / acc.count,
      'rewards/rejected': acc.rejected / acc.count,
      'rewards/margins': (acc.chosen - acc.rejected) / acc.count,
      'rewards/accuracies': acc.accuracy / acc.count,
      grad_norm_mean: acc.grad / acc.steps,
      ...(anchorRef ? { anchor_loss: acc.anchor / acc.count } : {}),
    });
  }
  return {
    head: { numLabels: C, dim: D, weight: Float32Array.from(W), bias: Float32Array.from(bias) },
    steps,
    epochs,
    stopped,
  };
}
