import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logSigmoid, nllGrad, nllLoss, pairLoss, pairLossGrad, pairRewards, type LossParams, type LossType } from '../../src/tuning/dpo.js';
import { batchObjective, cellLogit, copyParams, newGrads, trainDpo, type Objective, type Params, type TrainSet } from '../../src/tuning/trainer.js';
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

test('the chosen label’s NLL (rpo_alpha): hand-computed values and finite differences', () => {
  // x = s·z = 0: −log σ(0) = ln 2; x = 2: log(1 + e^−2); slope −σ(−x).
  close(nllLoss(0), Math.LN2, 1e-15, 'nll at 0');
  close(nllLoss(2), Math.log1p(Math.exp(-2)), 1e-15, 'nll at 2');
  close(nllGrad(0), -0.5, 1e-15, 'slope at 0');
  for (const x of [-4, -1, 0.2, 3]) close(nllGrad(x), (nllLoss(x + 1e-6) - nllLoss(x - 1e-6)) / 2e-6, 1e-7, `slope at ${x}`);
  assert.ok(Number.isFinite(nllLoss(-800)) && Number.isFinite(nllLoss(800)), 'no overflow');
});

/** A small problem: 3 labels, 4 features, 6 items with tokens from a 5-token vocabulary, 12 cells. */
function problem(seed: number): { set: TrainSet; ref: Params; policy: Params } {
  const rng = mulberry32(seed);
  const r = () => rng() * 2 - 1;
  const C = 3;
  const D = 4;
  const T = 5;
  const items = 6;
  const n = 12;
  const ref: Params = {
    weight: Float64Array.from({ length: C * D }, r),
    bias: Float64Array.from({ length: C }, r),
    lexical: Float64Array.from({ length: T * C }, r),
  };
  const offsets = Int32Array.from([0, 3, 5, 5, 9, 10, 13]); // item 2 has no tokens
  const index = Int32Array.from({ length: 13 }, (_, k) => (k * 3 + seed) % T);
  const set: TrainSet = {
    dim: D,
    numLabels: C,
    features: Float32Array.from({ length: items * D }, r),
    tokens: { offsets, index },
    item: Int32Array.from({ length: n }, (_, i) => i % items),
    row: Int32Array.from({ length: n }, (_, i) => i % C),
    sign: Int8Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -1)),
    weight: Float32Array.from({ length: n }, (_, i) => 0.5 + (i % 3) * 0.5),
    zRef: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) set.zRef[i] = cellLogit(ref, set, i);
  // A policy away from the reference, so margins, NLL and L2 terms are all non-zero.
  const policy = copyParams(ref);
  for (const a of [policy.weight, policy.bias, policy.lexical!]) for (let i = 0; i < a.length; i++) a[i] += r() * 0.5;
  return { set, ref, policy };
}

test('cellLogit: linear part plus the mean of the item’s tokens’ lexical weights (hand-checked)', () => {
  const set: TrainSet = {
    dim: 2,
    numLabels: 2,
    features: Float32Array.from([1, 2]),
    tokens: { offsets: Int32Array.from([0, 3]), index: Int32Array.from([0, 1, 1]) },
    item: Int32Array.from([0, 0]),
    row: Int32Array.from([0, 1]),
    sign: Int8Array.from([1, 1]),
    weight: Float32Array.from([1, 1]),
    zRef: new Float64Array(2),
  };
  // W = [[1, 0], [0, 1]], b = [0.5, −1]; V rows: token 0 → [3, 0], token 1 → [6, 3].
  const p: Params = { weight: Float64Array.from([1, 0, 0, 1]), bias: Float64Array.from([0.5, -1]), lexical: Float64Array.from([3, 0, 6, 3]) };
  // row 0: 0.5 + 1 + (3 + 6 + 6)/3 = 6.5; row 1: −1 + 2 + (0 + 3 + 3)/3 = 3.
  assert.equal(cellLogit(p, set, 0), 6.5);
  assert.equal(cellLogit(p, set, 1), 3);
  assert.equal(cellLogit({ ...p, lexical: null }, set, 0), 1.5, 'without a lexical part');
});

test('batch objective: analytic gradients of every term (DPO loss, NLL, L2-SP, lexical, class weights) match finite differences', () => {
  const { set, ref, policy } = problem(7);
  const idx = Int32Array.from({ length: set.row.length }, (_, i) => i);
  for (const type of LOSSES) {
    const obj: Objective = { loss: params(type, 0.8, 0.1), rpoAlpha: 0.7, l2: 0.3, lexicalL2: 0.2 };
    const g = newGrads(set, policy.lexical!.length);
    const f = () => {
      const r = batchObjective(policy, ref, set, idx, obj, newGrads(set, policy.lexical!.length));
      return r.loss + r.nll + r.l2;
    };
    const r = batchObjective(policy, ref, set, idx, obj, g);
    assert.ok(r.nll > 0 && r.l2 > 0, 'every term is active');
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
    check(policy.weight, g.weight, 'W');
    check(policy.bias, g.bias, 'b');
    check(policy.lexical!, g.lexical!, 'V');
  }
});

test('each term on its own: L2-SP pulls toward the reference weights, not toward zero', () => {
  const { set, ref, policy } = problem(3);
  const idx = Int32Array.from([0]);
  const g = newGrads(set, policy.lexical!.length);
  const r = batchObjective(policy, ref, set, idx, { loss: params('sigmoid'), rpoAlpha: 0, l2: 1, lexicalL2: 0 }, g);
  let expected = 0;
  for (let q = 0; q < ref.weight.length; q++) expected += (policy.weight[q] - ref.weight[q]) ** 2;
  close(r.l2, expected, 1e-12, 'λ‖W − W_ref‖²');
  const atRef = batchObjective(copyParams(ref), ref, set, idx, { loss: params('sigmoid'), rpoAlpha: 0, l2: 1, lexicalL2: 1 }, g);
  assert.equal(atRef.l2, 0, 'no penalty at the reference, however large its weights');
});

test('training: the first step has loss ln 2 and accuracy 0 (also with class weights and a lexical part); a seed makes it reproducible', () => {
  const { set, ref } = problem(3);
  const opts = { objective: { loss: params('sigmoid', 0.5), rpoAlpha: 0, l2: 0.01, lexicalL2: 0.01 }, learningRate: 0.05, epochs: 3, batchSize: 4, seed: 11 };
  const before = copyParams(ref);
  const a = trainDpo(ref, set, opts);
  close(a.steps[0].loss, Math.LN2, 1e-12, 'first step loss');
  assert.equal(a.steps[0]['rewards/accuracies'], 0);
  assert.equal(a.steps[0]['rewards/margins'], 0);
  assert.equal(a.steps[0].step, 1);
  assert.equal(a.epochs.length, 3);
  assert.equal(a.epochs[0].steps, 3);
  const b = trainDpo(ref, set, opts);
  assert.deepEqual([...b.params.weight], [...a.params.weight], 'same seed, same head');
  assert.deepEqual([...b.params.lexical!], [...a.params.lexical!]);
  const c = trainDpo(ref, set, { ...opts, seed: 12 });
  assert.notDeepEqual([...c.params.weight], [...a.params.weight], 'another seed shuffles differently');
  assert.deepEqual([...ref.weight], [...before.weight], 'the reference is never modified');
  assert.deepEqual([...ref.lexical!], [...before.lexical!]);
});

test('lazy Adam: lexical weights of tokens no training item has stay exactly at the reference', () => {
  const { set, ref } = problem(5);
  const used = new Set(set.tokens!.index);
  const bigger: Params = { ...ref, lexical: Float64Array.from({ length: (5 + 3) * 3 }, (_, i) => (i < ref.lexical!.length ? ref.lexical![i] : 0.25 * i)) };
  const out = trainDpo(bigger, set, { objective: { loss: params('sigmoid', 0.5), rpoAlpha: 1, l2: 0.01, lexicalL2: 0.01 }, learningRate: 0.1, epochs: 5, batchSize: 3, seed: 1 });
  for (let t = 0; t < 8; t++) {
    for (let c = 0; c < 3; c++) {
      const e = t * 3 + c;
      if (used.has(t)) continue;
      assert.equal(out.params.lexical![e], bigger.lexical![e], `token ${t} label ${c}`);
    }
  }
  assert.ok([...used].some((t) => out.params.lexical![t * 3] !== bigger.lexical![t * 3]), 'used tokens moved');
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
  const set: TrainSet = {
    dim: D,
    numLabels: 1,
    features,
    tokens: null,
    item: Int32Array.from({ length: n }, (_, i) => i),
    row: new Int32Array(n),
    sign,
    weight: new Float32Array(n).fill(1),
    zRef: new Float64Array(n),
  };
  const ref: Params = { weight: new Float64Array(D), bias: new Float64Array(1), lexical: null };
  const out = trainDpo(ref, set, { objective: { loss: params('sigmoid', 1), rpoAlpha: 0, l2: 0, lexicalL2: 0 }, learningRate: 0.05, epochs: 20, batchSize: 32, seed: 1 });
  const last = out.epochs[out.epochs.length - 1];
  assert.ok(last.loss < 0.3, `final loss ${last.loss}`);
  assert.ok(last['rewards/accuracies'] > 0.95, `accuracy ${last['rewards/accuracies']}`);
  assert.ok(last['rewards/margins'] > out.epochs[0]['rewards/margins']);
  let agree = 0;
  for (let i = 0; i < n; i++) if ((cellLogit(out.params, set, i) >= 0 ? 1 : -1) === sign[i]) agree++;
  assert.ok(agree / n > 0.95, `the tuned head follows the preferences on ${agree}/${n}`);
});

test('L2-SP: a larger λ keeps the weights closer to the reference', () => {
  const { set, ref } = problem(9);
  const drift = (l2: number) => {
    const out = trainDpo(ref, set, { objective: { loss: params('sigmoid', 1), rpoAlpha: 0, l2, lexicalL2: l2 }, learningRate: 0.1, epochs: 40, batchSize: 6, seed: 2 });
    let d = 0;
    for (let q = 0; q < ref.weight.length; q++) d += (out.params.weight[q] - ref.weight[q]) ** 2;
    return d;
  };
  assert.ok(drift(5) < drift(0) / 2, `anchored drift ${drift(5)} vs free ${drift(0)}`);
});

test('early stopping returns the best epoch’s parameters and stops after `patience` epochs without improvement', () => {
  const { set, ref } = problem(4);
  const scores = [0.1, 0.5, 0.4, 0.3, 0.2, 0.9];
  let calls = 0;
  const seen: Params[] = [];
  const out = trainDpo(ref, set, {
    objective: { loss: params('sigmoid'), rpoAlpha: 0, l2: 0, lexicalL2: 0 },
    learningRate: 0.05,
    epochs: 10,
    batchSize: 4,
    seed: 1,
    patience: 3,
    validate: (p) => {
      seen.push(copyParams(p));
      return scores[calls++];
    },
  });
  assert.equal(out.epochs.length, 5, 'epoch 2 was best; epochs 3–5 did not improve; stop');
  assert.equal(out.bestEpoch, 2);
  assert.deepEqual([...out.params.weight], [...seen[1].weight]);
  assert.deepEqual(
    out.epochs.map((e) => e.validation),
    [0.1, 0.5, 0.4, 0.3, 0.2],
  );
});

test('shouldStop ends training between mini-batches', () => {
  const { set, ref } = problem(4);
  let calls = 0;
  const out = trainDpo(ref, set, {
    objective: { loss: params('sigmoid'), rpoAlpha: 0, l2: 0, lexicalL2: 0 },
    learningRate: 0.01,
    epochs: 5,
    batchSize: 2,
    seed: 1,
    shouldStop: () => ++calls > 3,
  });
  assert.equal(out.stopped, true);
  assert.equal(out.steps.at(-1)!.step, 3);
});
