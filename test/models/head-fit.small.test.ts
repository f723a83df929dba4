import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { choleskyFactor, choleskySolve } from '../../src/tuning/math/cholesky.js';
import {
  fitLogistic,
  fitOneVsRest,
  logisticGradient,
  logisticLoss,
  sigmoid,
} from '../../src/starter/head-fit.js';
import { mulberry32 } from '../../src/random.js';

function close(actual: number, expected: number, tol: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} is not within ${tol} of ${expected}`);
}

function randomProblem(seed: number, n: number, dim: number) {
  const rand = mulberry32(seed);
  const x = Float64Array.from({ length: n * dim }, () => rand() * 2 - 1);
  const truth = Float64Array.from({ length: dim }, () => rand() * 4 - 2);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0.3;
    for (let d = 0; d < dim; d++) z += truth[d] * x[i * dim + d];
    y[i] = rand() < sigmoid(z) ? 1 : 0;
  }
  return { design: { x, n, dim }, y };
}

describe('logistic regression fit', () => {
  it('matches a hand-solved case: x = ±1, y = 1/0, λ = 0.25/ln 3 gives w = ln 3, b = 0', () => {
    // Mean loss ½[softplus(w+b) − (w+b) + softplus(b−w)] + (λ/2)w². By symmetry b = 0, and
    // ∂/∂w = σ(w) − 1 + λw = 0; at w = ln 3, σ(w) = 3/4, so λ = 0.25 / ln 3.
    const fit = fitLogistic({ x: Float64Array.of(1, -1), n: 2, dim: 1 }, [1, 0], { l2: 0.25 / Math.log(3), tolerance: 1e-13 });
    assert.ok(fit.converged);
    close(fit.weight[0], Math.log(3), 1e-9, 'w');
    close(fit.bias, 0, 1e-9, 'b');
    close(fit.loss, -Math.log(0.75) + (0.5 * 0.25 * Math.log(3) ** 2) / Math.log(3), 1e-12, 'loss');
  });

  it('honours sample weights: with no features the bias is the log-odds of the weighted positive rate', () => {
    // Weights 3 (positive) and 1 (negative): σ(b) = 3/4, b = ln 3.
    const fit = fitLogistic({ x: Float64Array.of(0, 0), n: 2, dim: 1 }, [1, 0], { l2: 1 }, [3, 1]);
    close(fit.bias, Math.log(3), 1e-9, 'b');
    assert.equal(fit.weight[0], 0);
  });

  it('has a gradient that agrees with finite differences of the loss', () => {
    const { design, y } = randomProblem(7, 40, 3);
    const weight = [0.4, -1.2, 0.7];
    const bias = -0.3;
    const sampleWeight = Array.from({ length: 40 }, (_, i) => 1 + (i % 3));
    const g = logisticGradient(design, y, weight, bias, 0.05, sampleWeight);
    const h = 1e-6;
    for (let k = 0; k <= 3; k++) {
      const plus = [...weight];
      const minus = [...weight];
      let bPlus = bias;
      let bMinus = bias;
      if (k < 3) {
        plus[k] += h;
        minus[k] -= h;
      } else {
        bPlus += h;
        bMinus -= h;
      }
      const numeric =
        (logisticLoss(design, y, plus, bPlus, 0.05, sampleWeight) - logisticLoss(design, y, minus, bMinus, 0.05, sampleWeight)) /
        (2 * h);
      close(g[k], numeric, 1e-8, `component ${k}`);
    }
  });

  it('converges to a stationary point where predictions are calibrated on average', () => {
    const { design, y } = randomProblem(11, 300, 5);
    const fit = fitLogistic(design, y, { l2: 1e-3 });
    assert.ok(fit.converged, `gradient ${fit.gradientMax}`);
    // ∂L/∂b = mean(p − y) = 0 at the optimum (the bias is not penalised).
    let sum = 0;
    for (let i = 0; i < design.n; i++) {
      let z = fit.bias;
      for (let d = 0; d < design.dim; d++) z += fit.weight[d] * design.x[i * design.dim + d];
      sum += sigmoid(z) - y[i];
    }
    close(sum / design.n, 0, 1e-8, 'mean residual');
    // Any small move makes the loss worse.
    const moved = Float64Array.from(fit.weight, (w, d) => w + (d % 2 ? 1e-3 : -1e-3));
    assert.ok(logisticLoss(design, y, moved, fit.bias, 1e-3) > fit.loss);
  });

  it('is deterministic', () => {
    const { design, y } = randomProblem(3, 200, 4);
    const a = fitLogistic(design, y, { l2: 1e-2 });
    const b = fitLogistic(design, y, { l2: 1e-2 });
    assert.deepEqual(a.weight, b.weight);
    assert.equal(a.bias, b.bias);
  });

  it('stays finite on separable data thanks to the L2 penalty', () => {
    const fit = fitLogistic({ x: Float64Array.of(2, 1, -1, -2), n: 4, dim: 1 }, [1, 1, 0, 0], { l2: 1e-4 });
    assert.ok(fit.converged);
    assert.ok(Number.isFinite(fit.weight[0]) && fit.weight[0] > 0);
  });

  it('rejects bad input', () => {
    assert.throws(() => fitLogistic({ x: Float64Array.of(1), n: 2, dim: 1 }, [1, 0], { l2: 1 }), /n × dim/);
    assert.throws(() => fitLogistic({ x: Float64Array.of(1, 2), n: 2, dim: 1 }, [1, 0], { l2: 0 }), /l2/);
  });
});

describe('one-vs-rest', () => {
  it('fits each label on its own column and lays the weights out [labels, dim]', () => {
    const { design, y } = randomProblem(5, 120, 3);
    const labels = new Uint8Array(120 * 2);
    for (let i = 0; i < 120; i++) {
      labels[i * 2] = y[i];
      labels[i * 2 + 1] = 1 - y[i];
    }
    const fit = fitOneVsRest(design, labels, 2, { l2: 1e-2 });
    const single = fitLogistic(design, y, { l2: 1e-2 });
    assert.deepEqual(fit.weight.slice(0, 3), single.weight);
    // The complementary label is the mirror image.
    for (let d = 0; d < 3; d++) close(fit.weight[3 + d], -single.weight[d], 1e-7, `w${d}`);
    close(fit.bias[1], -single.bias, 1e-7, 'b');
  });

  it('gives the positives the requested share of the weight', () => {
    // 1 positive among 4 examples with no features: the bias is logit(positiveShare).
    const design = { x: new Float64Array(4), n: 4, dim: 1 };
    const fit = fitOneVsRest(design, Uint8Array.of(1, 0, 0, 0), 1, { l2: 1, positiveShare: 0.4 });
    close(sigmoid(fit.bias[0]), 0.4, 1e-9, 'p');
  });
});

describe('cholesky', () => {
  it('solves a 2×2 system', () => {
    // [[4, 2], [2, 3]] x = [2, 1] → x = [0.5, 0].
    const l = choleskyFactor(Float64Array.of(4, 0, 2, 3), 2);
    const x = choleskySolve(l, 2, Float64Array.of(2, 1));
    close(x[0], 0.5, 1e-15);
    close(x[1], 0, 1e-15);
  });

  it('refuses a matrix that is not positive definite', () => {
    assert.throws(() => choleskyFactor(Float64Array.of(1, 0, 2, 1), 2), /positive definite/);
  });
});
