/**
 * The lexical features every head can carry beside the backbone: hashed word 1–2-grams and character
 * 2–5-grams of the text, log term frequency, each block L2-normalised, in a fixed number of buckets.
 * Pure and deterministic: the inference workers compute them for the texts they score, training computes
 * them for reviewed items, and the bench's supervised reference uses the same function, so "what the
 * lexical part sees" has one definition.
 *
 * Unlike a tokenizer's vocabulary this sees every word: a word no vocabulary has (a new slur, a coined
 * name, an obfuscated spelling) still has its own word bucket and its own character n-grams. What it
 * cannot see: meaning beyond the surface form (a synonym it never saw, negation further apart than a
 * word bigram), and two n-grams that hash to the same bucket share one weight (with 2^18 buckets and
 * ~10^5 distinct n-grams in 10,000 tweets, a few percent of them share a bucket).
 */

export interface NgramConfig {
  /** Number of hash buckets (a power of two). */
  buckets: number;
  /** Word n-gram lengths, inclusive: [1, 2] = unigrams and bigrams; null = no word block. */
  word: [number, number] | null;
  /** Character n-gram lengths within whitespace-separated chunks padded with a space; null = none. */
  char: [number, number] | null;
}

export const DEFAULT_NGRAMS: NgramConfig = { buckets: 1 << 18, word: [1, 2], char: [2, 5] };

/**
 * The n-grams read the first this many characters (code points) of the normalised text: a comment's
 * worth, about four times what a 256-token backbone reads. It bounds the cost per text (64 texts of
 * 20,000 characters took 71–95 ms whole, about what tokenizing them uncut costs) whatever a client sends.
 */
export const NGRAM_MAX_CHARS = 4096;

/** The first `max` code points of `s` (all of it when shorter). */
function firstCodePoints(s: string, max: number): string {
  if (s.length <= max) return s;
  let i = 0;
  let n = 0;
  while (i < s.length && n < max) {
    i += s.codePointAt(i)! > 0xffff ? 2 : 1;
    n++;
  }
  return s.slice(0, i);
}

/** One text's features, sparse: ascending bucket ids and their values. */
export interface SparseRow {
  index: Int32Array;
  value: Float32Array;
}

/** Many texts' features (CSR): row r is index/value[offsets[r] .. offsets[r + 1]]. */
export interface SparseRows {
  offsets: Int32Array;
  index: Int32Array;
  value: Float32Array;
}

export function checkNgramConfig(c: NgramConfig): void {
  if (!Number.isInteger(c.buckets) || c.buckets < 2 || c.buckets > 1 << 24 || (c.buckets & (c.buckets - 1)) !== 0) {
    throw new Error(`n-gram buckets must be a power of two from 2 to 2^24, got ${c.buckets}`);
  }
  for (const [name, r] of [['word', c.word], ['char', c.char]] as const) {
    if (r && !(Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] >= 1 && r[1] >= r[0] && r[1] <= 8)) {
      throw new Error(`n-gram ${name} lengths must be whole numbers with 1 ≤ min ≤ max ≤ 8, got [${r.join(', ')}]`);
    }
  }
  if (!c.word && !c.char) throw new Error('n-grams need a word block, a char block or both');
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
// Character classes are spelled out (ASCII where they can be) so that other implementations (the
// export's modtune_ngrams.py) reproduce them exactly: JavaScript's \b and \w are ASCII, Python's are not.
const WS = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const URL = new RegExp(`(?<![A-Za-z0-9_])(?:[hH][tT][tT][pP][sS]?://|[wW][wW][wW]\\.)[^${WS}]+`, 'gu');
const MENTION = /(?<![A-Za-z0-9_])@[A-Za-z0-9_]{1,30}/gu;
const ENTITY = /&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,6});/gu;
const APOSTROPHE = /['\u2019\u02bc]/gu;
const SPACES = new RegExp(`[${WS}]+`, 'gu');
const WORD = /[\p{L}\p{M}\p{N}_]+/gu;

/**
 * The text the n-grams are taken from: HTML entities decoded, URLs and @mentions replaced by one
 * placeholder each (they name people and pages, not what is said), NFKC, lower case, apostrophes dropped
 * ("don't" → "dont"), whitespace collapsed to single spaces and trimmed.
 */
export function normalizeForNgrams(text: string): string {
  return text
    .replace(ENTITY, (m, e: string) => {
      const k = e.toLowerCase();
      if (k.startsWith('#x')) return safeCodePoint(parseInt(k.slice(2), 16), m);
      if (k.startsWith('#')) return safeCodePoint(parseInt(k.slice(1), 10), m);
      return ENTITIES[k] ?? m;
    })
    .replace(URL, ' httpurl ')
    .replace(MENTION, ' @user ')
    .normalize('NFKC')
    .toLowerCase()
    .replace(APOSTROPHE, '')
    .replace(SPACES, ' ')
    .replace(/^ | $/g, '');
}

function safeCodePoint(cp: number, fallback: string): string {
  return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : fallback;
}

/** MurmurHash3's finaliser: every input bit reaches the low bits the bucket mask keeps. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** Seeds keep the two blocks (and word lengths) apart: "ab" the word and "ab" the character bigram differ. */
const WORD_SEED = 0x9e3779b1;
const CHAR_SEED = 0x85ebca77;

function fnvStep(h: number, c: number): number {
  return Math.imul(h ^ c, FNV_PRIME) >>> 0;
}

/** Reusable scratch space: counts per bucket for one block, and the list of touched buckets. */
class BlockCounter {
  private counts: Float64Array;
  private touched: Int32Array;
  private n = 0;
  constructor(readonly buckets: number) {
    this.counts = new Float64Array(buckets);
    this.touched = new Int32Array(1024);
  }
  add(bucket: number): void {
    if (this.counts[bucket] === 0) {
      if (this.n === this.touched.length) {
        const grown = new Int32Array(this.n * 2);
        grown.set(this.touched);
        this.touched = grown;
      }
      this.touched[this.n++] = bucket;
    }
    this.counts[bucket] += 1;
  }
  /** Adds log(1 + tf) / ‖log(1 + tf)‖ · scale into `out` and clears. */
  flushInto(out: Map<number, number>, scale: number): void {
    let norm = 0;
    for (let k = 0; k < this.n; k++) {
      const v = Math.log1p(this.counts[this.touched[k]]);
      norm += v * v;
    }
    const inv = norm > 0 ? scale / Math.sqrt(norm) : 0;
    for (let k = 0; k < this.n; k++) {
      const b = this.touched[k];
      out.set(b, (out.get(b) ?? 0) + Math.log1p(this.counts[b]) * inv);
      this.counts[b] = 0;
    }
    this.n = 0;
  }
}

/**
 * Computes n-gram features. Keeps scratch buffers between calls (one per thread): not for concurrent
 * use, which JavaScript never does within a thread.
 */
export class NgramFeaturizer {
  private readonly words: BlockCounter | null;
  private readonly chars: BlockCounter | null;
  private readonly mask: number;
  /** Each present block gets weight 1/√blocks, so a row has norm 1 (or 0 for a text without n-grams). */
  private readonly blockScale: number;

  constructor(readonly config: NgramConfig) {
    checkNgramConfig(config);
    this.mask = config.buckets - 1;
    this.words = config.word ? new BlockCounter(config.buckets) : null;
    this.chars = config.char ? new BlockCounter(config.buckets) : null;
    this.blockScale = 1 / Math.sqrt((config.word ? 1 : 0) + (config.char ? 1 : 0));
  }

  /**
   * The text's row. `record`, when given, hears every n-gram as it is counted: its bucket, the words it
   * covers (word n-grams: the words; character n-grams: the whitespace chunk they lie in) and the n-gram
   * itself (explanations; see src/moderation/explain.ts).
   */
  row(text: string, record?: (bucket: number, words: readonly string[], gram: string) => void): SparseRow {
    const s = firstCodePoints(normalizeForNgrams(text), NGRAM_MAX_CHARS);
    const out = new Map<number, number>();
    if (this.words) {
      const [lo, hi] = this.config.word!;
      const hashes: number[] = [];
      const words: string[] = [];
      for (const m of s.matchAll(WORD)) {
        let h = FNV_OFFSET;
        for (const ch of m[0]) h = fnvStep(h, ch.codePointAt(0)!);
        hashes.push(h);
        if (record) words.push(m[0]);
      }
      for (let i = 0; i < hashes.length; i++) {
        let h = WORD_SEED;
        for (let n = 1; n <= hi && i + n <= hashes.length; n++) {
          h = fnvStep(fnvStep(h, hashes[i + n - 1]), n);
          if (n >= lo) {
            const bucket = fmix(h) & this.mask;
            this.words.add(bucket);
            if (record) record(bucket, words.slice(i, i + n), words.slice(i, i + n).join(' '));
          }
        }
      }
      this.words.flushInto(out, this.blockScale);
    }
    if (this.chars) {
      const [lo, hi] = this.config.char!;
      for (const chunk of s.split(' ')) {
        if (!chunk) continue;
        const cps: number[] = [32];
        for (const ch of chunk) cps.push(ch.codePointAt(0)!);
        cps.push(32);
        for (let i = 0; i < cps.length; i++) {
          let h = CHAR_SEED;
          for (let n = 1; n <= hi && i + n <= cps.length; n++) {
            h = fnvStep(h, cps[i + n - 1]);
            if (n >= lo) {
              const bucket = fmix(h ^ n) & this.mask;
              this.chars.add(bucket);
              if (record) record(bucket, [chunk], String.fromCodePoint(...cps.slice(i, i + n)));
            }
          }
        }
      }
      this.chars.flushInto(out, this.blockScale);
    }
    const index = Int32Array.from(out.keys()).sort();
    const value = Float32Array.from(index, (b) => out.get(b)!);
    return { index, value };
  }

  rows(texts: readonly string[]): SparseRows {
    return sparseRows(texts.map((t) => this.row(t)));
  }
}

export function sparseRows(rows: readonly SparseRow[]): SparseRows {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i] + r.index.length));
  const index = new Int32Array(offsets[rows.length]);
  const value = new Float32Array(offsets[rows.length]);
  rows.forEach((r, i) => {
    index.set(r.index, offsets[i]);
    value.set(r.value, offsets[i]);
  });
  return { offsets, index, value };
}

/** Row r of `rows` as its own sparse row (views, not copies). */
export function rowOf(rows: SparseRows, r: number): SparseRow {
  const a = rows.offsets[r];
  const b = rows.offsets[r + 1];
  return { index: rows.index.subarray(a, b), value: rows.value.subarray(a, b) };
}

/** A config's identity: heads with equal keys read the same features. */
export function ngramKey(c: NgramConfig): string {
  return `b${c.buckets}:w${c.word ? c.word.join('-') : 'none'}:c${c.char ? c.char.join('-') : 'none'}`;
}

/** The n-gram rows of a set of texts under a head's config, computed on first use per config. */
export type NgramSource = (config: NgramConfig) => SparseRows;

const EMPTY_ROW: SparseRow = { index: new Int32Array(0), value: new Float32Array(0) };

/**
 * A source over `texts` (null: a text retention purged, which has no n-grams). `given` seeds it with
 * rows already computed elsewhere (the inference workers), by config key.
 */
export function ngramSource(texts: readonly (string | null)[], given?: ReadonlyMap<string, SparseRows>): NgramSource {
  const cache = new Map<string, SparseRows>(given);
  return (config) => {
    const key = ngramKey(config);
    let rows = cache.get(key);
    if (!rows) {
      const f = new NgramFeaturizer(config);
      rows = sparseRows(texts.map((t) => (t === null ? EMPTY_ROW : f.row(t))));
      cache.set(key, rows);
    }
    return rows;
  };
}

/**
 * The rows of many texts on a thread that also serves requests: in chunks, yielding to the event loop
 * between them (a chunk of 256 tweets takes ~20 ms).
 */
export async function ngramRowsYielding(texts: readonly (string | null)[], config: NgramConfig, chunk = 256): Promise<SparseRows> {
  const f = new NgramFeaturizer(config);
  const rows: SparseRow[] = [];
  for (let i = 0; i < texts.length; i += chunk) {
    for (const t of texts.slice(i, i + chunk)) rows.push(t === null ? EMPTY_ROW : f.row(t));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sparseRows(rows);
}
