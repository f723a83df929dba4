import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logSigmoid, nllGrad, nllLoss, pairLoss, pairLossGrad, pairRewards, type LossParams, type LossType } from '../../src/tuning/math/dpo.js';
import { cellLoss, ngramPenalty, objective, parameterCount, rewards, type CategoryObjective, type CategoryProblem } from '../../src/tuning/math/objective.js';
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

/** A small problem: 7 items, 3 dense features, 5 n-gram columns (item 2 has none), mixed labels and weights. */
function problem(seed: number): CategoryProblem {
  const rng = mulberry32(seed);
  const r = () => rng() * 2 - 1;
  const n = 7;
  const offsets = Int32Array.from([0, 2, 3, 3, 6, 7, 9, 10]);
  return {
    n,
    dim: 3,
    dense: Float64Array.from({ length: n * 3 }, r),
    sparse: { offsets, index: Int32Array.from({ length: 10 }, (_, k) => (k * 3 + seed) % 5), value: Float32Array.from({ length: 10 }, () => 0.2 + rng()) },
    sparseSize: 5,
    sign: Int8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : -1)),
    weight: Float64Array.from({ length: n }, (_, i) => 0.5 + (i % 3) * 0.5),
    zRef: Float64Array.from({ length: n }, () => 2 * r()),
  };
}

const objectiveOf = (type: LossType | null, beta: number, rpoAlpha: number, l2 = 0.03, rare = 2): CategoryObjective => ({
  beta,
  loss: type ? params(type, beta, 0.15) : null,
  rpoAlpha,
  denseL2: l2,
  sparseL2: ngramPenalty(Int32Array.from([1, 4, 2, 9, 1]), l2, rare),
});

function finiteDifferences(p: CategoryProblem, o: CategoryObjective, x: Float64Array): { analytic: Float64Array; numeric: Float64Array } {
  const analytic = new Float64Array(x.length);
  objective(p, o, x, analytic);
  const numeric = new Float64Array(x.length);
  const g = new Float64Array(x.length);
  const eps = 1e-6;
  for (let q = 0; q < x.length; q++) {
    const up = Float64Array.from(x);
    const down = Float64Array.from(x);
    up[q] += eps;
    down[q] -= eps;
    numeric[q] = (objective(p, o, up, g) - objective(p, o, down, g)) / (2 * eps);
  }
  return { analytic, numeric };
}

test('reward-space objective: the gradient of every term (each DPO loss, the NLL, dense L2-SP, per-n-gram L2) matches finite differences', () => {
  const p = problem(3);
  const rng = mulberry32(11);
  const x = Float64Array.from({ length: parameterCount(p) }, () => rng() - 0.5);
  const cases: [string, CategoryObjective][] = [
    ...LOSSES.map((t) => [`${t} alone`, objectiveOf(t, 0.7, 0, 0)] as [string, CategoryObjective]),
    ['NLL alone (rpo_alpha, no DPO term)', objectiveOf(null, 0.4, 1, 0)],
    ['sigmoid + NLL', objectiveOf('sigmoid', 0.4, 0.8, 0)],
    ['L2-SP on dense and n-gram weights, rare n-grams held harder', { ...objectiveOf(null, 1, 0, 0.05, 3) }],
    ['everything at once', objectiveOf('robust', 0.25, 0.5, 0.02, 1)],
  ];
  for (const [what, o] of cases) {
    const { analytic, numeric } = finiteDifferences(p, o, x);
    for (let q = 0; q < x.length; q++) {
      if (o.loss?.type === 'hinge') {
        // Skip parameters whose nudge crosses a hinge kink (the subgradient is one-sided there).
        const u = rewards(p, x);
        if ([...u].some((ui, i) => Math.abs(1 - p.sign[i] * ui) < 1e-4)) continue;
      }
      close(analytic[q], numeric[q], 2e-6, `${what}, parameter ${q}`);
    }
  }
});

test('at the reference (u = 0) every pair’s sigmoid DPO loss is ln 2 and the objective is ln 2 plus α times the reference’s NLL', () => {
  const p = problem(5);
  const x = new Float64Array(parameterCount(p));
  const g = new Float64Array(x.length);
  close(objective(p, objectiveOf('sigmoid', 0.1, 0, 0.5), x, g), Math.LN2, 1e-15, 'plain DPO');
  const W = p.weight.reduce((a, b) => a + b, 0);
  const refNll = p.weight.reduce((a, w, i) => a + (w * nllLoss(p.sign[i] * p.zRef[i])) / W, 0);
  close(objective(p, objectiveOf('sigmoid', 0.1, 0.7, 0.5), x, g), Math.LN2 + 0.7 * refNll, 1e-12, 'DPO + NLL');
});

test('in reward space the sigmoid DPO loss does not depend on β (one fit serves every β); with the NLL term it does', () => {
  const p = problem(7);
  const rng = mulberry32(2);
  const x = Float64Array.from({ length: parameterCount(p) }, () => rng() - 0.5);
  const g = new Float64Array(x.length);
  const at = (beta: number, alpha: number) => objective(p, objectiveOf('sigmoid', beta, alpha), x, g);
  close(at(0.05, 0), at(3, 0), 1e-12, 'sigmoid, β 0.05 vs 3');
  assert.ok(Math.abs(at(0.05, 1) - at(3, 1)) > 1e-3, 'the NLL term sees z = z_ref + u/β');
  // The margin the loss sees is h = s·u/β, and the head is z_ref + u/β: −log σ(βh) = −log σ(s·u).
  const c = cellLoss(0.8, -1, 0.3, objectiveOf('sigmoid', 0.2, 0));
  close(c.dpo, -logSigmoid(-0.8), 1e-15, 'one cell');
});

test('items left out (include = 0) add nothing: a fold’s objective is the objective on its own cells', () => {
  const p = problem(9);
  const rng = mulberry32(4);
  const x = Float64Array.from({ length: parameterCount(p) }, () => rng() - 0.5);
  const include = Uint8Array.from({ length: p.n }, (_, i) => (i % 2 === 0 ? 1 : 0));
  const keep = [...include.keys()].filter((i) => include[i]);
  const offsets = [0];
  const index: number[] = [];
  const value: number[] = [];
  for (const i of keep) {
    for (let k = p.sparse!.offsets[i]; k < p.sparse!.offsets[i + 1]; k++) {
      index.push(p.sparse!.index[k]);
      value.push(p.sparse!.value[k]);
    }
    offsets.push(index.length);
  }
  const sub: CategoryProblem = {
    ...p,
    n: keep.length,
    dense: Float64Array.from(keep.flatMap((i) => [...p.dense.subarray(i * 3, i * 3 + 3)])),
    sparse: { offsets: Int32Array.from(offsets), index: Int32Array.from(index), value: Float32Array.from(value) },
    sign: Int8Array.from(keep, (i) => p.sign[i]),
    weight: Float64Array.from(keep, (i) => p.weight[i]),
    zRef: Float64Array.from(keep, (i) => p.zRef[i]),
  };
  const o = objectiveOf('sigmoid', 0.5, 0.3);
  const g1 = new Float64Array(x.length);
  const g2 = new Float64Array(x.length);
  close(objective(p, o, x, g1, include), objective(sub, o, x, g2), 1e-14, 'value');
  for (let q = 0; q < x.length; q++) close(g1[q], g2[q], 1e-14, `gradient ${q}`);
});

test('per-n-gram L2: an n-gram seen in one item is held (1 + c) times as hard as one seen in very many', () => {
  const lam = ngramPenalty(Int32Array.from([1, 2, 1000]), 0.1, 3);
  close(lam[0], 0.4, 1e-15, 'df 1');
  close(lam[1], 0.25, 1e-15, 'df 2');
  close(lam[2], 0.1003, 1e-12, 'df 1000');
  assert.deepEqual([...ngramPenalty(Int32Array.from([1, 50]), 0.2, 0)], [0.2, 0.2], 'c = 0 is plain L2');
});
