/**
 * Why a score: for each category, the logit of the model label that decided it, split into its parts, and
 * the words that moved it.
 *
 * What is exact: a head's logit is bias + w·features + (lexical part) + (n-gram part), and the parts are
 * reported as they are added. The n-gram part is a sum over the text's hashed n-grams, each bucket's value
 * times its weight; a bucket's share goes to the n-grams of this text that hashed to it (by how often
 * each occurred), a word n-gram's share to its words equally, a character n-gram's to the word it lies in:
 * so the words' n-gram contributions add up to the n-gram part exactly.
 *
 * What is approximate: the backbone's part, w·features, is not a sum over words for a transformer (every
 * feature depends on every token). It is attributed by occlusion: the drop in w·features when the word is
 * left out of the text (the caller embeds those texts); the drops do not add up to the part, and words
 * that only matter together are each credited with little.
 */
import { NgramFeaturizer, type NgramConfig, type SparseRow } from '../inference/ngrams.js';
import { applyHead, tokenRows, type Head } from '../inference/head.js';

export interface WordShare {
  word: string;
  /** Its contribution to the logit (positive: toward flagging). */
  contribution: number;
}

export interface CategoryExplanation {
  /** The model label whose probability is the category's score here (the highest of its labels). */
  label: string;
  logit: number;
  /** The logit's parts, exactly: bias + backbone + lexical + ngrams = logit. */
  parts: { bias: number; backbone: number; lexical: number; ngrams: number };
  /** Words by their n-gram contribution (exact), largest magnitude first. */
  words: WordShare[];
  /** Words by occlusion of the backbone's part (approximate), largest magnitude first; absent when not computed. */
  backbone_words?: WordShare[];
}

/** A text's n-gram row under a head's config, and which words each bucket's n-grams cover: computed once per text. */
export interface TextNgrams {
  row: SparseRow;
  hits: Map<number, string[][]>;
}

export function textNgrams(config: NgramConfig, text: string): TextNgrams {
  const hits = new Map<number, string[][]>();
  const row = new NgramFeaturizer(config).row(text, (bucket, ws) => {
    let list = hits.get(bucket);
    if (!list) hits.set(bucket, (list = []));
    list.push([...ws]);
  });
  return { row, hits };
}

/** Word → its exact share of the n-gram part of label `row`'s logit (`grams`: the text's, if already computed). */
export function ngramWordShares(head: Head, text: string, row: number, grams?: TextNgrams): { total: number; words: Map<string, number> } {
  const g = head.ngrams;
  const words = new Map<string, number>();
  if (!g) return { total: 0, words };
  const q = [...g.rows].indexOf(row);
  if (q < 0) return { total: 0, words };
  const { row: r, hits } = grams ?? textNgrams(g.config, text);
  let total = 0;
  for (let k = 0; k < r.index.length; k++) {
    const b = r.index[k];
    const i = binarySearch(g.buckets, b);
    if (i < 0) continue;
    const c = r.value[k] * g.weight[i * g.rows.length + q];
    total += c;
    const grams = hits.get(b) ?? [];
    for (const ws of grams) for (const w of ws) words.set(w, (words.get(w) ?? 0) + c / grams.length / ws.length);
  }
  return { total, words };
}

function binarySearch(a: Int32Array, x: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else if (a[mid] > x) hi = mid - 1;
    else return mid;
  }
  return -1;
}

/** The backbone's part of label `row`'s logit for features `f` (w·f, without the bias). */
export function backbonePart(head: Head, f: Float32Array, row: number): number {
  let s = 0;
  for (let j = 0; j < head.dim; j++) s += head.weight[row * head.dim + j] * f[j];
  return s;
}

/** The words of a text as occlusion removes them (whitespace-separated), at most `max`. */
export function occlusionWords(text: string, max = 32): string[] {
  return text.split(/\s+/).filter(Boolean).slice(0, max);
}

/** The text with word `i` (of occlusionWords) left out. */
export function withoutWord(text: string, i: number): string {
  const ws = text.split(/\s+/).filter(Boolean);
  return ws.filter((_, k) => k !== i).join(' ');
}

export const top = (m: Map<string, number>, k = 10): WordShare[] =>
  [...m.entries()]
    .filter(([, c]) => c !== 0)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]) || (a[0] < b[0] ? -1 : 1))
    .slice(0, k)
    .map(([word, contribution]) => ({ word, contribution: round(contribution) }));

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * One category's explanation on label `row`: `logit` is what the scorer computed (all parts; checked
 * against the sum of the parts), `features` the text's backbone features, `tokens` its token ids (for a
 * lexical part), and `occluded` the backbone features of the text without each occlusion word, if computed.
 */
export function explainCategory(
  head: Head,
  label: string,
  row: number,
  text: string,
  logit: number,
  features: Float32Array,
  tokens: ArrayLike<number> | null,
  occluded?: { word: string; features: Float32Array }[],
  grams?: TextNgrams,
): CategoryExplanation {
  const bias = head.bias[row];
  const backbone = backbonePart(head, features, row);
  const ng = ngramWordShares(head, text, row, grams);
  let lexical = 0;
  if (head.lexical && tokens) {
    const plain = { ...head, ngrams: null };
    lexical = applyHead(plain, features, 1, tokenRows([tokens]))[row] - applyHead({ ...plain, lexical: null }, features, 1)[row];
  }
  if (Math.abs(bias + backbone + lexical + ng.total - logit) > 1e-3 * Math.max(1, Math.abs(logit))) {
    throw new Error(`explanation parts add up to ${bias + backbone + lexical + ng.total}, the scorer's logit is ${logit}`);
  }
  const out: CategoryExplanation = {
    label,
    logit: round(logit),
    parts: { bias: round(bias), backbone: round(backbone), lexical: round(lexical), ngrams: round(ng.total) },
    words: top(ng.words),
  };
  if (occluded) {
    const drops = new Map<string, number>();
    for (const o of occluded) drops.set(o.word, (drops.get(o.word) ?? 0) + backbone - backbonePart(head, o.features, row));
    out.backbone_words = top(drops);
  }
  return out;
}

export interface HighlightWord {
  word: string;
  /** Its share of the n-gram part, summed over `categories`' deciding labels. */
  contribution: number;
  /** The categories it pushed toward flagging. */
  categories: string[];
}

/**
 * The words to highlight for a reviewer: for each category (those the task is queued for), the words'
 * exact shares of the n-gram part of its labels' logits; the words that pushed toward flagging, largest
 * first. Empty when the head has no n-gram part (a backbone's own attribution needs the model: not here).
 */
export function highlightWords(head: Head, sources: Record<string, number[]>, text: string, categories: readonly string[], k = 8): HighlightWord[] {
  const total = new Map<string, number>();
  const cats = new Map<string, Set<string>>();
  if (!head.ngrams) return [];
  const grams = textNgrams(head.ngrams.config, text);
  for (const cat of categories) {
    for (const row of sources[cat] ?? []) {
      for (const [w, c] of ngramWordShares(head, text, row, grams).words) {
        total.set(w, (total.get(w) ?? 0) + c);
        if (c > 0) (cats.get(w) ?? cats.set(w, new Set()).get(w)!).add(cat);
      }
    }
  }
  return [...total.entries()]
    .filter(([, c]) => c > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, k)
    .map(([word, c]) => ({ word, contribution: round(c), categories: [...(cats.get(word) ?? [])].sort() }));
}
