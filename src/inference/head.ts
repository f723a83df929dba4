/**
 * The classification head in TypeScript: logits = W·f + b over features from the ONNX backbone.
 * Pure functions; the hot path of scoring, so plain loops over typed arrays.
 */

export interface HeadWeights {
  numLabels: number;
  dim: number;
  /** Row-major [numLabels, dim]. */
  weight: Float32Array;
  bias: Float32Array;
}

export function checkHeadShape(h: HeadWeights): void {
  if (h.weight.length !== h.numLabels * h.dim) {
    throw new Error(`head weight has ${h.weight.length} values, expected ${h.numLabels} × ${h.dim}`);
  }
  if (h.bias.length !== h.numLabels) throw new Error(`head bias has ${h.bias.length} values, expected ${h.numLabels}`);
}

/** Logits for `n` feature rows stored row-major in `features` ([n, dim]); returns [n, numLabels]. */
export function applyHead(h: HeadWeights, features: Float32Array, n = features.length / h.dim): Float64Array {
  const { numLabels: C, dim: D, weight: W, bias: b } = h;
  if (features.length < n * D) throw new Error(`features hold ${features.length} values, need ${n} × ${D}`);
  const out = new Float64Array(n * C);
  for (let r = 0; r < n; r++) {
    const fo = r * D;
    for (let c = 0; c < C; c++) {
      const wo = c * D;
      let s = b[c];
      for (let j = 0; j < D; j++) s += W[wo + j] * features[fo + j];
      out[r * C + c] = s;
    }
  }
  return out;
}

export function sigmoid(z: number): number {
  // Split by sign so exp never overflows.
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Per-label probabilities for one row of logits: independent sigmoids or one softmax. */
export function probabilities(logits: ArrayLike<number>, offset: number, count: number, kind: 'sigmoid' | 'softmax'): Float64Array {
  const p = new Float64Array(count);
  if (kind === 'sigmoid') {
    for (let i = 0; i < count; i++) p[i] = sigmoid(logits[offset + i]);
    return p;
  }
  let max = -Infinity;
  for (let i = 0; i < count; i++) max = Math.max(max, logits[offset + i]);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += p[i] = Math.exp(logits[offset + i] - max);
  for (let i = 0; i < count; i++) p[i] /= sum;
  return p;
}

/** Largest |a_i − b_i| and where it is, for the load-time check that head(features) = graph logits. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { value: number; index: number } {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} values with ${b.length}`);
  let value = 0;
  let index = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= value)) {
      value = d;
      index = i;
    }
  }
  return { value, index };
}

/** Float32 little-endian bytes ↔ arrays, as stored in bytea columns. */
export function float32ToBytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i], true);
  return out;
}

export function bytesToFloat32(b: Uint8Array): Float32Array {
  if (b.byteLength % 4 !== 0) throw new Error(`${b.byteLength} bytes is not a whole number of float32 values`);
  // Copy: pg hands back Buffers that are views into a larger pool at arbitrary offsets.
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Float32Array(b.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
