/**
 * A small byte-pair-encoding trainer: repeatedly merges the most frequent adjacent pair of symbols in a
 * weighted word list, as the tokenizers library's BpeTrainer does, so the merges of a synthetic byte-level
 * BPE tokenizer are ones a real trainer could have learnt. Pair counts are updated incrementally (only the
 * words holding the merged pair are rewritten) and the best pair comes from a lazily updated heap, so tens
 * of thousands of merges take about a second.
 */

export interface BpeWord {
  /** Initial symbols (characters of the alphabet). */
  symbols: string[];
  count: number;
}

export interface BpeModel {
  /** The alphabet, then each merge's new token in the order learnt (no duplicates). */
  tokens: string[];
  merges: [string, string][];
}

/** Max-heap of [count, key]; ties go to the smaller key so training is deterministic. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private before(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } {
    const top = { count: this.counts[0], key: this.keys[0] };
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.counts.length && this.before(l, best)) best = l;
        if (r < this.counts.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

const SHIFT = 2 ** 21;

/** Learns merges until the vocabulary (alphabet + merged tokens) holds `targetSize` tokens. */
export function trainBpe(words: BpeWord[], alphabet: string[], targetSize: number): BpeModel {
  const tokens = [...alphabet];
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  if (idOf.size !== tokens.length) throw new Error('BPE alphabet has duplicates');
  const seqs = words.map((w) =>
    w.symbols.map((s) => {
      const id = idOf.get(s);
      if (id === undefined) throw new Error(`BPE word symbol '${s}' is not in the alphabet`);
      return id;
    }),
  );
  const counts = words.map((w) => w.count);
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addWordPairs = (w: number, sign: 1 | -1, delta: Map<number, number>) => {
    const seq = seqs[w];
    for (let i = 0; i + 1 < seq.length; i++) {
      const key = seq[i] * SHIFT + seq[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * counts[w]);
      delta.set(key, (delta.get(key) ?? 0) + sign * counts[w]);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
    }
  };
  const initial = new Map<number, number>();
  for (let w = 0; w < seqs.length; w++) addWordPairs(w, 1, initial);
  const heap = new PairHeap();
  for (const [key, count] of pairCount) heap.push(count, key);

  const merges: [string, string][] = [];
  while (tokens.length < targetSize) {
    if (heap.size === 0) {
      throw new Error(`BPE training ran out of pairs at ${tokens.length} tokens (wanted ${targetSize}); give it more words`);
    }
    const { count, key } = heap.pop();
    if (count <= 0 || pairCount.get(key) !== count) continue; // stale entry
    const a = Math.floor(key / SHIFT);
    const b = key % SHIFT;
    const merged = tokens[a] + tokens[b];
    let id = idOf.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      idOf.set(merged, id);
    }
    merges.push([tokens[a], tokens[b]]);
    const delta = new Map<number, number>();
    for (const w of pairWords.get(key) ?? []) {
      const seq = seqs[w];
      let holds = false;
      for (let i = 0; i + 1 < seq.length && !holds; i++) holds = seq[i] === a && seq[i + 1] === b;
      if (!holds) continue; // the word lost this pair to an earlier merge
      addWordPairs(w, -1, delta);
      const next: number[] = [];
      for (let i = 0; i < seq.length; i++) {
        if (i + 1 < seq.length && seq[i] === a && seq[i + 1] === b) {
          next.push(id);
          i++;
        } else {
          next.push(seq[i]);
        }
      }
      seqs[w] = next;
      addWordPairs(w, 1, delta);
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const [k, d] of delta) {
      if (d === 0 || k === key) continue;
      const c = pairCount.get(k) ?? 0;
      if (c > 0) heap.push(c, k);
      else pairCount.delete(k);
    }
  }
  return { tokens, merges };
}
