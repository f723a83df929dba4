/**
 * Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", 2nd ed., algorithms 7.4 and 7.5)
 * with a backtracking line search on the Armijo condition. Pure and deterministic: the same objective
 * and start give the same iterates bit for bit.
 *
 * A head's objective per category (DPO + NLL + L2, see objective.ts) is smooth and convex for the
 * paper's sigmoid loss, so a quasi-Newton method reaches its optimum in tens to a few hundred full-data
 * iterations, with nothing to tune: no learning rate, no epochs, no batch order.
 */

export interface LbfgsOptions {
  maxIterations: number;
  /** Stop when ‖∇f‖∞ ≤ gradientTolerance. */
  gradientTolerance: number;
  /** Stop when an iteration lowers f by less than functionTolerance · max(1, |f|). */
  functionTolerance: number;
  /** Correction pairs kept. */
  memory: number;
  /** After each iteration; returning true stops (shutdown). */
  onIteration?: (it: { iteration: number; f: number; gradientNorm: number; x: Float64Array }) => boolean | void;
}

export const DEFAULT_LBFGS: LbfgsOptions = { maxIterations: 500, gradientTolerance: 1e-6, functionTolerance: 1e-10, memory: 10 };

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  /** Why it stopped. */
  reason: 'gradient' | 'function' | 'iterations' | 'line_search' | 'stopped';
  evaluations: number;
}

/** `fg(x, g)` returns f(x) and writes ∇f(x) into g. */
export type Objective = (x: Float64Array, g: Float64Array) => number;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function minimize(fg: Objective, x0: Float64Array, options: Partial<LbfgsOptions> = {}): LbfgsResult {
  const o = { ...DEFAULT_LBFGS, ...options };
  const n = x0.length;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  if (!Number.isFinite(f)) throw new Error('the objective is not finite at the starting point');
  // Ring buffers of correction pairs: slot (first + k) % memory holds the k-th oldest.
  const S = Array.from({ length: o.memory }, () => new Float64Array(n));
  const Y = Array.from({ length: o.memory }, () => new Float64Array(n));
  const rho = new Float64Array(o.memory);
  let first = 0;
  let m = 0;
  const slot = (k: number) => (first + k) % o.memory;
  const d = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  const alpha = new Float64Array(o.memory);
  if (maxAbs(g) <= o.gradientTolerance) return { x, f, iterations: 0, reason: 'gradient', evaluations };

  for (let iter = 1; iter <= o.maxIterations; iter++) {
    // Two-loop recursion: d = −H·g.
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let k = m - 1; k >= 0; k--) {
      const q = slot(k);
      alpha[k] = rho[q] * dot(S[q], d);
      const y = Y[q];
      for (let i = 0; i < n; i++) d[i] -= alpha[k] * y[i];
    }
    const last = slot(m - 1);
    const gamma = m > 0 ? dot(S[last], Y[last]) / dot(Y[last], Y[last]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let i = 0; i < n; i++) d[i] *= gamma;
    for (let k = 0; k < m; k++) {
      const q = slot(k);
      const beta = rho[q] * dot(Y[q], d);
      const s = S[q];
      for (let i = 0; i < n; i++) d[i] += (alpha[k] - beta) * s[i];
    }
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      m = 0;
      const scale = 1 / Math.max(1, Math.sqrt(dot(g, g)));
      for (let i = 0; i < n; i++) d[i] = -g[i] * scale;
      slope = dot(g, d);
    }
    // Backtracking (Armijo, c1 = 1e-4), halving; the quasi-Newton step 1 is accepted most of the time.
    let step = 1;
    let fNew = NaN;
    let accepted = false;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + step * d[i];
      fNew = fg(xNew, gNew);
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) return { x, f, iterations: iter - 1, reason: 'line_search', evaluations };
    // The next pair goes into the oldest slot (or a free one); it is kept only where curvature is
    // positive (always, for a strictly convex objective).
    const q = m < o.memory ? slot(m) : first;
    const s = S[q];
    const y = Y[q];
    let sy = 0;
    let ss = 0;
    let yy = 0;
    for (let i = 0; i < n; i++) {
      const si = xNew[i] - x[i];
      const yi = gNew[i] - g[i];
      s[i] = si;
      y[i] = yi;
      sy += si * yi;
      ss += si * si;
      yy += yi * yi;
    }
    if (sy > 1e-12 * Math.sqrt(ss * yy)) {
      rho[q] = 1 / sy;
      if (m < o.memory) m++;
      else first = (first + 1) % o.memory;
    } else if (m === o.memory) {
      // The oldest pair was overwritten by one that is not kept: drop it.
      first = (first + 1) % o.memory;
      m--;
    }
    const decrease = f - fNew;
    x.set(xNew);
    g.set(gNew);
    f = fNew;
    const gmax = maxAbs(g);
    if (o.onIteration?.({ iteration: iter, f, gradientNorm: Math.sqrt(dot(g, g)), x })) return { x, f, iterations: iter, reason: 'stopped', evaluations };
    if (gmax <= o.gradientTolerance) return { x, f, iterations: iter, reason: 'gradient', evaluations };
    if (decrease <= o.functionTolerance * Math.max(1, Math.abs(f))) return { x, f, iterations: iter, reason: 'function', evaluations };
  }
  return { x, f, iterations: o.maxIterations, reason: 'iterations', evaluations };
}
