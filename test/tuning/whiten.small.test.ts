import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../src/random.js';
import { choleskyFactor as cholesky } from '../../src/tuning/math/cholesky.js';
import { fitScaling, fitWhitening, unwhiten, whitenRows } from '../../src/tuning/math/whiten.js';

test('Cholesky: L Lᵀ reproduces the matrix', () => {
  const A = Float64Array.from([4, 0, 0, 2, 5, 0, -2, 1, 6]); // lower triangle of a symmetric positive definite matrix
  const full = [4, 2, -2, 2, 5, 1, -2, 1, 6];
  const L = cholesky(A, 3);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    let s = 0;
    for (let k = 0; k < 3; k++) s += L[i * 3 + k] * L[j * 3 + k];
    assert.ok(Math.abs(s - full[i * 3 + j]) < 1e-12);
  }
  assert.throws(() => cholesky(Float64Array.from([1, 0, 2, 1]), 2), /not positive definite/);
});

test('whitened features are centred with identity covariance (up to the ridge ε); weights fold back so the logit is unchanged', () => {
  const rng = mulberry32(5);
  const n = 400;
  const dim = 4;
  // Correlated features: a shared direction plus noise, on different scales.
  const f = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const t = rng() * 2 - 1;
    for (let j = 0; j < dim; j++) f[i * dim + j] = (j + 1) * (3 * t + 2 * (rng() - 0.5)) + j;
  }
  const w = fitWhitening(f, n, dim);
  const x = whitenRows(w, f, n);
  for (let a = 0; a < dim; a++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[i * dim + a] / n;
    assert.ok(Math.abs(mean) < 1e-9, `mean ${mean}`);
    for (let b = 0; b < dim; b++) {
      let c = 0;
      for (let i = 0; i < n; i++) c += (x[i * dim + a] * x[i * dim + b]) / n;
      // Σ̃ = I − ε L⁻¹L⁻ᵀ: slightly below the identity in the directions of least variance.
      if (a === b) assert.ok(c > 0.9 && c <= 1 + 1e-9, `var[${a}] = ${c}`);
      else assert.ok(Math.abs(c) < 0.05, `cov[${a},${b}] = ${c}`);
    }
  }
  const wt = Float64Array.from([0.3, -1.2, 0.5, 2]);
  const raw = unwhiten(w, wt, 0.7);
  for (let i = 0; i < 5; i++) {
    let zw = 0.7;
    let zr = raw.bias;
    for (let j = 0; j < dim; j++) {
      zw += wt[j] * x[i * dim + j];
      zr += raw.weight[j] * f[i * dim + j];
    }
    assert.ok(Math.abs(zw - zr) < 1e-5, `${zw} vs ${zr}`);
  }
});

test('scaling z-scores each feature and keeps their correlations; weights fold back so the logit is unchanged', () => {
  const rng = mulberry32(7);
  const n = 500;
  const dim = 3;
  const f = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const t = rng() * 2 - 1;
    f[i * dim] = 10 * t + 5; // large scale, offset
    f[i * dim + 1] = 0.01 * (t + 0.5 * (rng() - 0.5)); // tiny scale, correlated with the first
    f[i * dim + 2] = rng() - 0.5; // independent
  }
  const s = fitScaling(f, n, dim);
  for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) if (a !== b) assert.equal(s.chol[a * dim + b], 0);
  const x = whitenRows(s, f, n);
  const stat = (a: number, b: number) => {
    let c = 0;
    for (let i = 0; i < n; i++) c += (x[i * dim + a] * x[i * dim + b]) / n;
    return c;
  };
  for (let a = 0; a < dim; a++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[i * dim + a] / n;
    assert.ok(Math.abs(mean) < 1e-9, `mean ${mean}`);
    const v = stat(a, a);
    assert.ok(v > 0.95 && v <= 1 + 1e-9, `var[${a}] = ${v}`);
  }
  // The first two stay strongly correlated (whitening would make them uncorrelated); the third does not.
  assert.ok(stat(0, 1) > 0.8, `corr(0,1) = ${stat(0, 1)}`);
  assert.ok(Math.abs(stat(0, 2)) < 0.1, `corr(0,2) = ${stat(0, 2)}`);
  const wt = Float64Array.from([0.4, -2, 1.5]);
  const raw = unwhiten(s, wt, -0.3);
  for (let i = 0; i < 5; i++) {
    let zw = -0.3;
    let zr = raw.bias;
    for (let j = 0; j < dim; j++) {
      zw += wt[j] * x[i * dim + j];
      zr += raw.weight[j] * f[i * dim + j];
    }
    assert.ok(Math.abs(zw - zr) < 1e-5, `${zw} vs ${zr}`);
  }
});
