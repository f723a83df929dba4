import { checkNgramConfig, type NgramConfig, type SparseRows } from './ngrams.js';

/**
 * The classification head in TypeScript: logits = W·f + b over features from the ONNX backbone, plus an
 * optional lexical part, (1/L) Σ_t V[t] over the item's L token ids. Pure functions; the hot path of
 * scoring, so plain loops over typed arrays.
 */

export interface HeadWeights {
  numLabels: number;
  dim: number;
  /** Row-major [numLabels, dim]. */
  weight: Float32Array;
  bias: Float32Array;
}

/**
 * Per-label weights over the backbone's token ids, stored sparsely: only tokens some training item had.
 * A text's lexical logits are the mean of its tokens' rows (every attended token counts, unknown ones
 * with weight 0), which is what the exported graph computes with Gather → masked mean.
 */
export interface LexicalHead {
  /** Token ids, strictly ascending. */
  tokens: Int32Array;
  /** Row-major [tokens.length, numLabels]. */
  weight: Float32Array;
}

/**
 * Per-label weights over hashed n-gram buckets of the text (see ngrams.ts), stored sparsely: only
 * buckets some training item had, only the head rows that were trained. A text's n-gram logits are
 * Σ_k x_k · V[k] over its (L2-normalised) n-gram features x.
 */
export interface NgramHead {
  /** How the texts' features are computed: part of the head, so serving matches training. */
  config: NgramConfig;
  /** Head rows (label indices) the weights feed, strictly ascending. */
  rows: Int32Array;
  /** Bucket ids, strictly ascending. */
  buckets: Int32Array;
  /** Row-major [buckets.length, rows.length]. */
  weight: Float32Array;
}

/** A head as the database stores it and every scorer applies it. */
export interface Head extends HeadWeights {
  lexical: LexicalHead | null;
  ngrams?: NgramHead | null;
}

/** Token ids per row (CSR): row r's ids are ids[offsets[r] .. offsets[r + 1]]. */
export interface TokenRows {
  ids: Int32Array;
  offsets: Int32Array;
}

export function tokenRows(rows: ArrayLike<number>[]): TokenRows {
  const offsets = new Int32Array(rows.length + 1);
  let total = 0;
  rows.forEach((r, i) => {
    total += r.length;
    offsets[i + 1] = total;
  });
  const ids = new Int32Array(total);
  rows.forEach((r, i) => ids.set(r, offsets[i]));
  return { ids, offsets };
}

export function checkLexicalShape(lex: LexicalHead, numLabels: number): void {
  if (lex.weight.length !== lex.tokens.length * numLabels) {
    throw new Error(`lexical head has ${lex.weight.length} weights, expected ${lex.tokens.length} tokens × ${numLabels} labels`);
  }
  for (let i = 1; i < lex.tokens.length; i++) {
    if (!(lex.tokens[i] > lex.tokens[i - 1])) throw new Error('lexical head token ids must be strictly ascending');
  }
  if (lex.tokens.length > 0 && lex.tokens[0] < 0) throw new Error('lexical head token ids must not be negative');
}

/** Index of `id` in the ascending `tokens`, or −1. */
export function lexicalIndex(tokens: Int32Array, id: number): number {
  let lo = 0;
  let hi = tokens.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const t = tokens[mid];
    if (t === id) return mid;
    if (t < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Adds each row's lexical logits (the mean of its tokens' weights) into `out` ([n, numLabels]). */
export function addLexicalLogits(lex: LexicalHead, numLabels: number, tokens: TokenRows, n: number, out: Float64Array): void {
  const C = numLabels;
  if (tokens.offsets.length < n + 1) throw new Error(`token rows hold ${tokens.offsets.length - 1} rows, need ${n}`);
  const acc = new Float64Array(C);
  for (let r = 0; r < n; r++) {
    const a = tokens.offsets[r];
    const b = tokens.offsets[r + 1];
    if (b <= a) continue;
    acc.fill(0);
    for (let k = a; k < b; k++) {
      const i = lexicalIndex(lex.tokens, tokens.ids[k]);
      if (i < 0) continue;
      const wo = i * C;
      for (let c = 0; c < C; c++) acc[c] += lex.weight[wo + c];
    }
    const inv = 1 / (b - a);
    for (let c = 0; c < C; c++) out[r * C + c] += acc[c] * inv;
  }
}

export function checkNgramShape(g: NgramHead, numLabels: number): void {
  checkNgramConfig(g.config);
  if (g.weight.length !== g.buckets.length * g.rows.length) {
    throw new Error(`n-gram head has ${g.weight.length} weights, expected ${g.buckets.length} buckets × ${g.rows.length} rows`);
  }
  for (let i = 0; i < g.rows.length; i++) {
    if (!(g.rows[i] >= 0 && g.rows[i] < numLabels) || (i > 0 && !(g.rows[i] > g.rows[i - 1]))) {
      throw new Error(`n-gram head rows must be strictly ascending label indices below ${numLabels}`);
    }
  }
  for (let i = 0; i < g.buckets.length; i++) {
    if (!(g.buckets[i] >= 0 && g.buckets[i] < g.config.buckets) || (i > 0 && !(g.buckets[i] > g.buckets[i - 1]))) {
      throw new Error(`n-gram head buckets must be strictly ascending ids below ${g.config.buckets}`);
    }
  }
}

/** Adds each row's n-gram logits into `out` ([n, numLabels]): a merge of the text's sorted buckets with the head's. */
export function addNgramLogits(g: NgramHead, numLabels: number, rows: SparseRows, n: number, out: Float64Array): void {
  if (rows.offsets.length < n + 1) throw new Error(`n-gram rows hold ${rows.offsets.length - 1} rows, need ${n}`);
  const R = g.rows.length;
  const B = g.buckets;
  for (let r = 0; r < n; r++) {
    let lo = 0;
    for (let k = rows.offsets[r]; k < rows.offsets[r + 1]; k++) {
      const b = rows.index[k];
      // The text's buckets ascend, so each search starts where the last one ended.
      let hi = B.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (B[mid] < b) lo = mid + 1;
        else hi = mid - 1;
      }
      if (lo < B.length && B[lo] === b) {
        const x = rows.value[k];
        const wo = lo * R;
        for (let q = 0; q < R; q++) out[r * numLabels + g.rows[q]] += x * g.weight[wo + q];
      }
    }
  }
}

export function checkHeadShape(h: HeadWeights & { lexical?: LexicalHead | null; ngrams?: NgramHead | null }): void {
  if (h.weight.length !== h.numLabels * h.dim) {
    throw new Error(`head weight has ${h.weight.length} values, expected ${h.numLabels} × ${h.dim}`);
  }
  if (h.bias.length !== h.numLabels) throw new Error(`head bias has ${h.bias.length} values, expected ${h.numLabels}`);
  if (h.lexical) checkLexicalShape(h.lexical, h.numLabels);
  if (h.ngrams) checkNgramShape(h.ngrams, h.numLabels);
}

/**
 * Logits for `n` feature rows stored row-major in `features` ([n, dim]); returns [n, numLabels]. A head
 * with a lexical part needs the rows' token ids too, one with an n-gram part their n-gram rows (computed
 * with the head's own config).
 */
export function applyHead(
  h: HeadWeights & { lexical?: LexicalHead | null; ngrams?: NgramHead | null },
  features: Float32Array,
  n = features.length / h.dim,
  tokens?: TokenRows | null,
  ngrams?: SparseRows | null,
): Float64Array {
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
  if (h.lexical) {
    if (!tokens) throw new Error('this head has a lexical part: scoring it needs the token ids');
    addLexicalLogits(h.lexical, C, tokens, n, out);
  }
  if (h.ngrams) {
    if (!ngrams) throw new Error('this head has an n-gram part: scoring it needs the texts\' n-gram features');
    addNgramLogits(h.ngrams, C, ngrams, n, out);
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

/** Int32 little-endian bytes ↔ arrays (token ids as stored in bytea columns). */
export function int32ToBytes(a: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setInt32(i * 4, a[i], true);
  return out;
}

export function bytesToInt32(b: Uint8Array): Int32Array {
  if (b.byteLength % 4 !== 0) throw new Error(`${b.byteLength} bytes is not a whole number of int32 values`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Int32Array(b.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, true);
  return out;
}
