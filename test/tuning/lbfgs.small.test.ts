import assert from 'node:assert/strict';
import { test } from 'node:test';
import { minimize } from '../../src/tuning/math/lbfgs.js';

test('L-BFGS: an ill-conditioned quadratic reaches its minimiser (condition number 10^4)', () => {
  const n = 20;
  const a = Float64Array.from({ length: n }, (_, i) => 10 ** ((4 * i) / (n - 1)));
  const target = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
  const r = minimize(
    (x, g) => {
      let f = 0;
      for (let i = 0; i < n; i++) {
        const d = x[i] - target[i];
        f += 0.5 * a[i] * d * d;
        g[i] = a[i] * d;
      }
      return f;
    },
    new Float64Array(n),
    { gradientTolerance: 1e-9, functionTolerance: 0, maxIterations: 1000 },
  );
  assert.equal(r.reason, 'gradient');
  for (let i = 0; i < n; i++) assert.ok(Math.abs(r.x[i] - target[i]) < 1e-8, `x[${i}] = ${r.x[i]}`);
});

test('L-BFGS: the Rosenbrock valley, deterministically (two runs, the same iterates)', () => {
  const rosen = (x: Float64Array, g: Float64Array) => {
    const [a, b] = [x[0], x[1]];
    g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
    g[1] = 200 * (b - a * a);
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
  };
  const one = minimize(rosen, Float64Array.from([-1.2, 1]), { gradientTolerance: 1e-10, functionTolerance: 0, maxIterations: 500 });
  const two = minimize(rosen, Float64Array.from([-1.2, 1]), { gradientTolerance: 1e-10, functionTolerance: 0, maxIterations: 500 });
  assert.ok(Math.abs(one.x[0] - 1) < 1e-6 && Math.abs(one.x[1] - 1) < 1e-6, `${one.x}`);
  assert.deepEqual([...one.x], [...two.x]);
  assert.equal(one.iterations, two.iterations);
});

test('L-BFGS: onIteration can stop it, and a start at the optimum returns at once', () => {
  const f = (x: Float64Array, g: Float64Array) => {
    g[0] = 2 * (x[0] - 3);
    return (x[0] - 3) ** 2;
  };
  const stopped = minimize(f, Float64Array.from([0]), { onIteration: (it) => it.iteration === 1 });
  assert.equal(stopped.reason, 'stopped');
  assert.equal(stopped.iterations, 1);
  const there = minimize(f, Float64Array.from([3]));
  assert.equal(there.iterations, 0);
  assert.equal(there.reason, 'gradient');
});
