import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../src/random.js';
import { fitLogistic, plattTargets } from '../../src/tuning/math/calibration.js';
import { sigmoid } from '../../src/tuning/math/dpo.js';

function draw(n: number, seed: number, f: (x: number, y: number) => number) {
  const rng = mulberry32(seed);
  const u: number[] = [];
  const z: number[] = [];
  const truth: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const a = rng() * 6 - 3;
    const b = rng() * 6 - 3;
    u.push(a);
    z.push(b);
    truth.push(rng() < sigmoid(f(a, b)));
  }
  return { u, z, truth };
}

test('Platt targets: (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2)', () => {
  assert.deepEqual([...plattTargets([true, false, false])], [2 / 3, 1 / 4, 1 / 4]);
});

test('the fit recovers the coefficients that generated the labels', () => {
  const { u, z, truth } = draw(20000, 1, (a, b) => 1.5 * a + 0.5 * b - 1);
  const f = fitLogistic([u, z], truth, [0, 1]);
  assert.ok(Math.abs(f.coef[0] - 1.5) < 0.08, String(f.coef));
  assert.ok(Math.abs(f.coef[1] - 0.5) < 0.05, String(f.coef));
  assert.ok(Math.abs(f.intercept + 1) < 0.08, String(f.intercept));
});

test('non-negative coefficients: an input that predicts the opposite gets 0, not a negative weight', () => {
  // The second input is anti-informative: unconstrained it would get a negative coefficient.
  const { u, z, truth } = draw(5000, 2, (a, b) => 2 * a - 1 * b);
  const free = fitLogistic([u, z], truth);
  assert.ok(free.coef[1] < -0.5, String(free.coef));
  const constrained = fitLogistic([u, z], truth, [0, 1]);
  assert.equal(constrained.coef[1], 0);
  assert.ok(constrained.coef[0] > 1, String(constrained.coef));
  assert.ok(constrained.loss >= free.loss);
});

test('calibration: scores that rank right but are 4× too confident come out with predicted ≈ observed rates', () => {
  const { u, truth } = draw(20000, 3, (a) => a);
  const overconfident = u.map((x) => 4 * x);
  const f = fitLogistic([overconfident], truth, [0]);
  // Bins by calibrated probability: predicted and observed rates agree.
  const bins = Array.from({ length: 5 }, () => ({ p: 0, y: 0, n: 0 }));
  overconfident.forEach((x, i) => {
    const p = sigmoid(f.coef[0] * x + f.intercept);
    const b = bins[Math.min(4, Math.floor(p * 5))];
    b.p += p;
    b.y += truth[i] ? 1 : 0;
    b.n++;
  });
  for (const b of bins.filter((x) => x.n > 200)) assert.ok(Math.abs(b.p / b.n - b.y / b.n) < 0.03, JSON.stringify(b));
  assert.ok(Math.abs(f.coef[0] - 0.25) < 0.02, String(f.coef[0]));
});
