/**
 * The starter model's embedding table and the features the graph computes from it (pure code).
 *
 * Rows are word vectors scaled by Smooth Inverse Frequency weights (Arora, Liang & Ma 2017,
 * "A simple but tough-to-beat baseline for sentence embeddings"): w = a / (a + p(word)). Baking the weight
 * into the table lets the ONNX graph stay a plain masked mean while stop words barely move the result.
 */
import type { GloveVectors } from './embeddings.js';
import { FIRST_WORD_ID } from './tokenizer-json.js';

/** SIF's smoothing constant; with Zipf probabilities, words past rank ~1000 keep almost all their weight. */
export const DEFAULT_SIF_A = 1e-3;

/**
 * SIF weight per word from its 1-based frequency rank. The corpus frequencies are not shipped, only the
 * rank order, so p is Zipf's law p(r) = (1/r) / H(total), normalised over every word in the source list
 * (not just the kept ones) so that the weights do not depend on the vocabulary size chosen.
 */
export function sifWeights(ranks: Int32Array, totalWords: number, a = DEFAULT_SIF_A): Float64Array {
  let harmonic = 0;
  for (let k = totalWords; k >= 1; k--) harmonic += 1 / k; // smallest terms first, for accuracy
  return Float64Array.from(ranks, (r) => a / (a + 1 / r / harmonic));
}

/**
 * The [FIRST_WORD_ID + words, dim] table: rows for [PAD] and [UNK] are zeros (padding is masked anyway;
 * an unknown word carries no evidence but still counts in the mean, as the graph counts it).
 */
export function buildEmbeddingTable(vectors: Float32Array, dim: number, weights: Float64Array): Float32Array {
  const words = weights.length;
  if (vectors.length !== words * dim) throw new Error('vectors size does not match weights × dim');
  const table = new Float32Array((FIRST_WORD_ID + words) * dim);
  for (let i = 0; i < words; i++) {
    const w = weights[i];
    const src = i * dim;
    const dst = (FIRST_WORD_ID + i) * dim;
    for (let d = 0; d < dim; d++) table[dst + d] = vectors[src + d] * w;
  }
  return table;
}

/** ε of the graph's feature normalisation (see `normalizeEpsilon` in graph.ts); pooled norms are ~1–5. */
export const FEATURE_EPSILON = 0.05;

/**
 * Weight of the context's mean relative to the text's mean (graph.ts, `contextWeight`). A thread's
 * earlier messages inform the score, but a threat followed by a paragraph of small talk must still read
 * as a threat, whatever the paragraph's length.
 */
export const CONTEXT_WEIGHT = 0.2;

/**
 * The graph's `features` for one unpadded sequence without a context: the masked mean of the ids' rows,
 * then dir(x) = x / sqrt(‖x‖² + ε²) applied twice (see graph.ts), in float32 like the graph so training
 * sees the numbers the runtime will see.
 */
export function poolFeatures(
  table: Float32Array,
  dim: number,
  ids: readonly number[],
  epsilon = FEATURE_EPSILON,
  extremes: { known: Float32Array } | null = null,
): Float32Array {
  // The graph normalises the text's mean, adds the (here absent) context's, and normalises the sum.
  const mean = direction(direction(meanPoolFeatures(table, dim, ids), epsilon), epsilon);
  if (!extremes) return mean;
  // mean-max-min pooling (graph.ts): then the maximum and minimum over the tokens that have a vector.
  const out = new Float32Array(3 * dim);
  out.set(mean);
  const kept = ids.filter((id) => extremes.known[id] > 0);
  for (let d = 0; d < dim; d++) {
    let hi = -Infinity;
    let lo = Infinity;
    for (const id of kept) {
      hi = Math.max(hi, table[id * dim + d]);
      lo = Math.min(lo, table[id * dim + d]);
    }
    out[dim + d] = kept.length ? hi : 0;
    out[2 * dim + d] = kept.length ? lo : 0;
  }
  return out;
}

/**
 * SIF's common component (Arora, Liang & Ma 2017): the direction every sentence vector shares. Without a
 * corpus it is taken as the top eigenvector of Σ_w p(w) e_w e_wᵀ over the (SIF-weighted) rows, p from
 * Zipf's law over the words' ranks (the expected second moment of a text's word vectors); each word row
 * then loses its projection on it, in place. Rows before `firstRow` (the special tokens) are left alone.
 */
export function removeCommonComponent(table: Float32Array, dim: number, ranks: Int32Array, totalWords: number, firstRow: number): Float64Array {
  let harmonic = 0;
  for (let k = totalWords; k >= 1; k--) harmonic += 1 / k;
  const m = new Float64Array(dim * dim);
  ranks.forEach((r, i) => {
    const p = 1 / r / harmonic;
    const o = (firstRow + i) * dim;
    for (let a = 0; a < dim; a++) {
      const pa = p * table[o + a];
      for (let b = 0; b < dim; b++) m[a * dim + b] += pa * table[o + b];
    }
  });
  // Power iteration from a fixed start: deterministic.
  let u = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  for (let it = 0; it < 500; it++) {
    const v = new Float64Array(dim);
    for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) v[a] += m[a * dim + b] * u[b];
    const norm = Math.hypot(...v);
    if (!(norm > 0)) break;
    const next = v.map((x) => x / norm);
    const moved = next.reduce((acc, x, k) => acc + Math.abs(x - u[k]), 0);
    u = next;
    if (moved < 1e-12) break;
  }
  const rows = table.length / dim;
  for (let r = firstRow; r < rows; r++) {
    let d = 0;
    for (let a = 0; a < dim; a++) d += table[r * dim + a] * u[a];
    for (let a = 0; a < dim; a++) table[r * dim + a] -= d * u[a];
  }
  return u;
}

/** x / sqrt(‖x‖² + ε²) in place, in float32 like the graph. */
function direction(f: Float32Array, epsilon: number): Float32Array {
  let squares = Math.fround(0);
  for (let d = 0; d < f.length; d++) squares = Math.fround(squares + Math.fround(f[d] * f[d]));
  const norm = Math.fround(Math.sqrt(Math.fround(squares + Math.fround(epsilon * epsilon))));
  for (let d = 0; d < f.length; d++) f[d] /= norm;
  return f;
}

/** The mean of the ids' rows (sum / max(count, 1)), accumulated in float32 like the graph. */
export function meanPoolFeatures(table: Float32Array, dim: number, ids: readonly number[]): Float32Array {
  const sum = new Float32Array(dim);
  for (const id of ids) {
    const off = id * dim;
    if (off + dim > table.length || id < 0) throw new Error(`token id ${id} is outside the embedding table`);
    for (let d = 0; d < dim; d++) sum[d] += table[off + d];
  }
  const count = Math.max(ids.length, 1);
  for (let d = 0; d < dim; d++) sum[d] /= count;
  return sum;
}

/**
 * The vocabulary (in id order after the special tokens) and its table. wink's list has no one-character
 * words or numbers; the letters and digits get ids anyway, with zero rows like [UNK], so that "I" encodes as
 * itself and token ids stay readable.
 */
export function assembleVocabulary(glove: GloveVectors, sifA = DEFAULT_SIF_A): { words: string[]; table: Float32Array } {
  const known = new Set(glove.words);
  const singles = [...'abcdefghijklmnopqrstuvwxyz0123456789'].filter((c) => !known.has(c));
  const words = [...glove.words, ...singles];
  const vectors = new Float32Array(words.length * glove.dim);
  vectors.set(glove.vectors);
  const weights = new Float64Array(words.length);
  weights.set(sifWeights(glove.ranks, glove.totalWords, sifA));
  return { words, table: buildEmbeddingTable(vectors, glove.dim, weights) };
}
