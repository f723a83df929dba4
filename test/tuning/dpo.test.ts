import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logSigmoid, pairLoss, pairLossGrad, pairRewards, type LossParams, type LossType } from '../../src/tuning/dpo.js';
import { batchObjective, trainDpo, type AnchorSet, type PairSet } from '../../src/tuning/trainer.js';
import { mulberry32 } from '../../src/random.js';

const LOSSES: LossType[] = ['sigmoid', 'ipo', 'hinge', 'robust'];
const params = (type: LossType, beta = 0.5, labelSmoothing = 0.1): LossParams => ({ type, beta, labelSmoothing });
const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('hand-computed loss and gradient per loss type', () => {
  // sigmoid, β = 0.5, h = 2: L = −log σ(1) = log(1 + e^−1); dL/dh = −β σ(−1).
  close(pairLoss(2, params('sigmoid')), 0.31326168751822286, 1e-15, 'sigmoid loss');
  close(pairLossGrad(2, params('sigmoid')), -0.5 * 0.2689414213699951, 1e-15, 'sigmoid grad');
  // ipo, β = 0.5: 1/(2β) = 1, h = 3: L = (3 − 1)² = 4, dL/dh = 2·2 = 4.
  assert.equal(pairLoss(3, params('ipo')), 4);
  assert.equal(pairLossGrad(3, params('ipo')), 4);
  // hinge, β = 0.5: h = 1 → 1 − 0.5 = 0.5, slope −β; h = 3 → 0, slope 0.
  assert.equal(pairLoss(1, params('hinge')), 0.5);
  assert.equal(pairLossGrad(1, params('hinge')), -0.5);
  assert.equal(pairLoss(3, params('hinge')), 0);
  assert.equal(pairLossGrad(3, params('hinge')), 0);
  // robust, ε = 0.1, β = 0.5, h = 2: [0.9·log(1+e^−1) − 0.1·log(1+e)] / 0.8.
  close(pairLoss(2, params('robust')), (0.9 * 0.31326168751822286 - 0.1 * 1.3132616875182228) / 0.8, 1e-15, 'robust loss');
  close(pairLoss(2, params('robust')), 0.18826168751822286, 1e-15, 'robust loss (value)');
});

test('at policy = reference (h = 0): sigmoid and robust losses are ln 2, rewards are 0', () => {
  close(pairLoss(0, params('sigmoid')), Math.LN2, 1e-15, 'sigmoid');
  close(pairLoss(0, params('robust', 0.1, 0.2)), Math.LN2, 1e-15, 'robust');
  assert.equal(pairLoss(0, params('hinge')), 1);
  assert.equal(pairLoss(0, params('ipo', 0.5)), 1);
  for (const s of [1, -1]) {
    const r = pairRewards(0.7, 0.7, s, 0.1);
    assert.equal(r.chosen, 0);
    assert.equal(r.rejected, 0);
  }
});

test('rewards: chosen − rejected = β·h (the margin)', () => {
  for (const [z, zr, s] of [
    [1.3, 0.2, 1],
    [-0.4, 0.9, -1],
    [2, -3, 1],
  ]) {
    const r = pairRewards(z, zr, s, 0.3);
    close(r.chosen - r.rejected, 0.3 * s * (z - zr), 1e-12, `margin for z=${z}`);
    close(r.chosen, 0.3 * (logSigmoid(s * z) - logSigmoid(s * zr)), 1e-15, 'chosen');
  }
});

test('pair loss gradients match finite differences for every loss type', () => {
  for (const type of LOSSES) {
    for (const h of [-3, -0.7, 0.3, 1.1, 5]) {
      const p = params(type, 0.7, 0.15);
      if (type === 'hinge' && Math.abs(1 - p.beta * h) < 1e-3) continue;
      const eps = 1e-6;
      const fd = (pairLoss(h + eps, p) - pairLoss(h - eps, p)) / (2 * eps);
      close(pairLossGrad(h, p), fd, 1e-6, `${type} at h=${h}`);
    }
  }
});

function problem(seed: number) {
  const rng = mulberry32(seed);
  const C = 3;
  const D = 4;
  const n = 12;
  const r = () => rng() * 2 - 1;
  const ref = { numLabels: C, dim: D, weight: Float32Array.from({ length: C * D }, r), bias: Float32Array.from({ length: C }, r) };
  const pairs: PairSet = {
    features: Float32Array.from({ length: n * D }, r),
    label: Int32Array.from({ length: n }, (_, i) => i % C),
    sign: Int8Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -1)),
  };
  const anchors: AnchorSet = { features: Float32Array.from({ length: 5 * D }, r), label: Int32Array.from({ length: 5 }, (_, i) => i % C) };
  // A policy head away from the reference, so margins are non-zero.
  const policy = { numLabels: C, dim: D, weight: Float64Array.from(ref.weight, (w) => w + r() * 0.5), bias: Float64Array.from(ref.bias, (b) => b + r() * 0.5) };
  const z = (h: { weight: ArrayLike<number>; bias: ArrayLike<number> }, f: Float32Array, label: Int32Array) =>
    Float64Array.from(label, (c, i) => {
      let s = h.bias[c];
      for (let j = 0; j < D; j++) s += h.weight[c * D + j] * f[i * D + j];
      return s;
    });
  return { ref, pairs, anchors, policy, zRef: z(ref, pairs.features, pairs.label), aRef: z(ref, anchors.features, anchors.label), n };
}

test('batch objective: analytic gradients (W and b, with the anchor term) match finite differences for every loss type', () => {
  const { pairs, anchors, policy, zRef, aRef, n } = problem(7);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const aIdx = Int32Array.from({ length: 5 }, (_, i) => i);
  for (const type of LOSSES) {
    const opts = { loss: params(type, 0.8, 0.1), anchorWeight: 0.3 };
    const f = () => {
      const r = batchObjective(policy, pairs, zRef, idx, anchors, aRef, aIdx, opts);
      return r.loss + r.anchorLoss;
    };
    const g = batchObjective(policy, pairs, zRef, idx, anchors, aRef, aIdx, opts);
    const eps = 1e-6;
    const check = (arr: Float64Array, grad: Float64Array, name: string) => {
      for (let i = 0; i < arr.length; i++) {
        const keep = arr[i];
        arr[i] = keep + eps;
        const up = f();
        arr[i] = keep - eps;
        const down = f();
        arr[i] = keep;
        close(grad[i], (up - down) / (2 * eps), 1e-6, `${type} ${name}[${i}]`);
      }
    };
    check(policy.weight, g.gradW, 'W');
    check(policy.bias, g.gradB, 'b');
  }
});

test('training: the first step has loss ln 2 and accuracy 0; a seed makes it reproducible', () => {
  const { ref, pairs } = problem(3);
  const opts = { loss: params('sigmoid', 0.5), learningRate: 0.05, weightDecay: 0.01, epochs: 3, batchSize: 4, anchorWeight: 0, seed: 11 };
  const a = trainDpo(ref, pairs, null, opts);
  close(a.steps[0].loss, Math.LN2, 1e-12, 'first step loss');
  assert.equal(a.steps[0]['rewards/accuracies'], 0);
  assert.equal(a.steps[0]['rewards/margins'], 0);
  assert.equal(a.steps[0].step, 1);
  assert.equal(a.epochs.length, 3);
  assert.equal(a.epochs[0].steps, 3);
  const b = trainDpo(ref, pairs, null, opts);
  assert.deepEqual([...b.head.weight], [...a.head.weight], 'same seed, same head');
  const c = trainDpo(ref, pairs, null, { ...opts, seed: 12 });
  assert.notDeepEqual([...c.head.weight], [...a.head.weight], 'another seed shuffles differently');
  assert.deepEqual([...ref.weight], [...problem(3).ref.weight], 'the reference is never modified');
});

test('training learns consistent preferences: margins grow, loss falls below ln 2', () => {
  // Pairs whose chosen label is the sign of a hidden direction: a learnable preference.
  const rng = mulberry32(5);
  const D = 6;
  const n = 400;
  const hidden = Float64Array.from({ length: D }, () => rng() * 2 - 1);
  const features = Float32Array.from({ length: n * D }, () => rng() * 2 - 1);
  const sign = Int8Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < D; j++) s += hidden[j] * features[i * D + j];
    return s >= 0 ? 1 : -1;
  });
  const ref = { numLabels: 1, dim: D, weight: new Float32Array(D), bias: new Float32Array(1) };
  const out = trainDpo(ref, { features, label: new Int32Array(n), sign }, null, {
    loss: params('sigmoid', 1),
    learningRate: 0.05,
    weightDecay: 0,
    epochs: 20,
    batchSize: 32,
    anchorWeight: 0,
    seed: 1,
  });
  const last = out.epochs[out.epochs.length - 1];
  assert.ok(last.loss < 0.3, `final loss ${last.loss}`);
  assert.ok(last['rewards/accuracies'] > 0.95, `accuracy ${last['rewards/accuracies']}`);
  assert.ok(last['rewards/margins'] > out.epochs[0]['rewards/margins']);
  let agree = 0;
  for (let i = 0; i < n; i++) {
    let z = out.head.bias[0];
    for (let j = 0; j < D; j++) z += out.head.weight[j] * features[i * D + j];
    if ((z >= 0 ? 1 : -1) === sign[i]) agree++;
  }
  assert.ok(agree / n > 0.95, `the tuned head follows the preferences on ${agree}/${n}`);
});

test('the anchor term keeps agreed items near the reference', () => {
  const { ref, pairs, anchors } = problem(9);
  const opts = { loss: params('sigmoid', 1), learningRate: 0.1, weightDecay: 0, epochs: 30, batchSize: 6, seed: 2 };
  const drift = (anchorWeight: number) => {
    const out = trainDpo(ref, pairs, anchors, { ...opts, anchorWeight });
    let d = 0;
    for (let i = 0; i < anchors.label.length; i++) {
      const c = anchors.label[i];
      let a = out.head.bias[c] - ref.bias[c];
      for (let j = 0; j < ref.dim; j++) a += (out.head.weight[c * ref.dim + j] - ref.weight[c * ref.dim + j]) * anchors.features[i * ref.dim + j];
      d += a * a;
    }
    return d;
  };
  assert.ok(drift(5) < drift(0) / 2, `anchored drift ${drift(5)} vs free ${drift(0)}`);
});

test('shouldStop ends training between mini-batches', () => {
  const { ref, pairs } = problem(4);
  let calls = 0;
  const out = trainDpo(ref, pairs, null, {
    loss: params('sigmoid'),
    learningRate: 0.01,
    weightDecay: 0,
    epochs: 5,
    batchSize: 2,
    anchorWeight: 0,
    seed: 1,
    shouldStop: () => ++calls > 3,
  });
  assert.equal(out.stopped, true);
  assert.equal(out.steps.at(-1)!.step, 3);
});
