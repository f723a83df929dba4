/**
 * Cholesky factorisation and solve for symmetric positive definite systems (row-major, lower triangle):
 * the starter's Newton steps and the tuning's whitening use them.
 */
/** Cholesky factor L (row-major lower triangle) of a symmetric positive definite A given by its lower triangle. */
export function choleskyFactor(a: Float64Array, size: number): Float64Array {
  const l = new Float64Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * size + j];
      for (let k = 0; k < j; k++) s -= l[i * size + k] * l[j * size + k];
      if (i === j) {
        if (!(s > 0)) throw new Error('matrix is not positive definite');
        l[i * size + i] = Math.sqrt(s);
      } else {
        l[i * size + j] = s / l[j * size + j];
      }
    }
  }
  return l;
}

/** Solves L·Lᵀ·x = b given the factor from {@link choleskyFactor}. */
export function choleskySolve(l: Float64Array, size: number, b: Float64Array): Float64Array {
  const y = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * size + k] * y[k];
    y[i] = s / l[i * size + i];
  }
  const x = new Float64Array(size);
  for (let i = size - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < size; k++) s -= l[k * size + i] * x[k];
    x[i] = s / l[i * size + i];
  }
  return x;
}
