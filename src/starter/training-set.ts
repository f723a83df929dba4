/**
 * Expands the seed templates into a labelled synthetic training set (pure, deterministic for a seed).
 *
 * Randomness only picks which slot combinations and filler words to use; it comes from a seeded PRNG so the
 * same seeds and the same word list always give the same phrases, and therefore the same head.
 */
import { OPENAI_CATEGORIES, type OpenAICategory } from '../policy/categories.js';
import { mulberry32 } from '../random.js';
import { BENIGN_GROUPS, BENIGN_PHRASES, SLOTS, TOXIC_GROUPS, withParents, type SeedGroup } from './seeds.js';
import { preTokenize } from './tokenizer-json.js';

export interface LabelledPhrase {
  text: string;
  labels: Set<OpenAICategory>;
}

export interface SyntheticOptions {
  seed: number;
  /** Most phrases drawn from one template's slot combinations. */
  perTemplate: number;
  /** Random word sequences added as extra negatives, drawn from {@link FillerWords}. */
  filler: FillerWords;
  fillerPhrases: number;
  /** Chance that a filler token comes from the rare pool rather than the common one. */
  rareShare: number;
}

export const DEFAULT_SYNTHETIC: Omit<SyntheticOptions, 'filler'> = {
  seed: 20240601,
  perTemplate: 12,
  fillerPhrases: 1200,
  rareShare: 0.3,
};

/**
 * Word pools for the random negatives. Common words alone would leave the head blind to the long tail: a
 * linear head can give any direction it never saw a large score, and real text is full of names, foreign
 * and technical words. So a seeded sample of rarer words is mixed in.
 */
export interface FillerWords {
  common: readonly string[];
  rare: readonly string[];
}

export const FILLER_COMMON = 2000;
export const FILLER_RARE_UNTIL = 40_000;
export const FILLER_RARE_COUNT = 3000;

/**
 * Chooses the filler pools from the embeddings' whole word list (frequency order): the first
 * {@link FILLER_COMMON} usable words, and {@link FILLER_RARE_COUNT} sampled from the usable words ranked
 * below them up to {@link FILLER_RARE_UNTIL}. Toxic seed words are left out of both. Depends only on the
 * list and the seed, so a small test vocabulary that includes these words gets the default model's head.
 */
export function chooseFillerWords(allWords: readonly string[], usable: (w: string) => boolean, seed: number): FillerWords {
  const toxic = toxicSeedWords();
  const ranked: string[] = [];
  for (const w of allWords) {
    if (ranked.length >= FILLER_RARE_UNTIL) break;
    if (usable(w)) ranked.push(w);
  }
  const common = ranked.slice(0, FILLER_COMMON).filter((w) => !toxic.has(w));
  const tail = ranked.slice(FILLER_COMMON).filter((w) => !toxic.has(w));
  const rand = mulberry32(seed ^ 0x5eed);
  const picked = new Set<number>();
  const count = Math.min(FILLER_RARE_COUNT, tail.length);
  while (picked.size < count) picked.add(Math.floor(rand() * tail.length));
  const rare = [...picked].sort((a, b) => a - b).map((i) => tail[i]);
  return { common, rare };
}

const SLOT = /\{(\w+)\}/g;

/** Every way of filling the template's slots, or a seeded sample of `limit` of them. */
export function expandTemplate(template: string, limit: number, rand: () => number): string[] {
  const names = [...template.matchAll(SLOT)].map((m) => m[1]);
  for (const name of names) if (!SLOTS[name]) throw new Error(`template '${template}' uses unknown slot {${name}}`);
  const sizes = names.map((name) => SLOTS[name].length);
  const total = sizes.reduce((a, b) => a * b, 1);
  const fill = (index: number): string => {
    let rest = index;
    const picks = sizes.map((size) => {
      const pick = rest % size;
      rest = Math.floor(rest / size);
      return pick;
    });
    let slot = 0;
    return template.replace(SLOT, (_, name: string) => SLOTS[name][picks[slot++]]);
  };
  if (total <= limit) return Array.from({ length: total }, (_, i) => fill(i));
  const chosen = new Set<number>();
  while (chosen.size < limit) chosen.add(Math.floor(rand() * total));
  return [...chosen].sort((a, b) => a - b).map(fill);
}

function groupWords(groups: readonly SeedGroup[], into: Set<string>): Set<string> {
  for (const group of groups) {
    for (const t of group.templates) {
      for (const w of preTokenize(t.replace(SLOT, ' '))) into.add(w);
      for (const m of t.matchAll(SLOT)) for (const v of SLOTS[m[1]] ?? []) for (const w of preTokenize(v)) into.add(w);
    }
  }
  return into;
}

/** Words that appear anywhere in the toxic seeds; they are kept out of the random filler negatives. */
export function toxicSeedWords(): Set<string> {
  return groupWords(TOXIC_GROUPS, new Set());
}

/** Every word the seed phrases can contain, so the builder can make sure the vocabulary has them all. */
export function seedWords(): Set<string> {
  const words = groupWords(BENIGN_GROUPS, toxicSeedWords());
  for (const p of BENIGN_PHRASES) for (const w of preTokenize(p)) words.add(w);
  return words;
}

function expandGroup(group: SeedGroup, opts: SyntheticOptions, rand: () => number): LabelledPhrase[] {
  const labels = withParents(group.labels);
  const limit = group.perTemplate ?? opts.perTemplate;
  return group.templates.flatMap((t) => expandTemplate(t, limit, rand)).map((text) => ({ text, labels }));
}

export function syntheticTrainingSet(opts: SyntheticOptions): LabelledPhrase[] {
  const rand = mulberry32(opts.seed);
  const byText = new Map<string, Set<OpenAICategory>>();
  const add = (text: string, labels: Iterable<OpenAICategory>): void => {
    const set = byText.get(text) ?? new Set<OpenAICategory>();
    for (const l of labels) set.add(l);
    byText.set(text, set);
  };
  for (const group of TOXIC_GROUPS) for (const p of expandGroup(group, opts, rand)) add(p.text, p.labels);
  for (const group of BENIGN_GROUPS) for (const p of expandGroup(group, opts, rand)) add(p.text, p.labels);
  for (const text of BENIGN_PHRASES) add(text, []);

  const { common, rare } = opts.filler;
  if (opts.fillerPhrases > 0 && (common.length < 100 || rare.length < 100)) {
    throw new Error('too few filler words for random negatives');
  }
  for (let i = 0; i < opts.fillerPhrases; i++) {
    const length = 2 + Math.floor(rand() * 11);
    const words: string[] = [];
    for (let j = 0; j < length; j++) {
      const pool = rand() < opts.rareShare ? rare : common;
      words.push(pool[Math.floor(rand() * pool.length)]);
    }
    add(words.join(' '), []);
  }
  // A phrase that is both a seed and benign text keeps its toxic labels: Map order is insertion order, so
  // the output order (and the head) is reproducible.
  return [...byText].map(([text, labels]) => ({ text, labels }));
}

/** Row-major [phrases, categories] 0/1 matrix in {@link OPENAI_CATEGORIES} order. */
export function labelMatrix(phrases: readonly LabelledPhrase[]): Uint8Array {
  const k = OPENAI_CATEGORIES.length;
  const out = new Uint8Array(phrases.length * k);
  phrases.forEach((p, i) => OPENAI_CATEGORIES.forEach((c, j) => (out[i * k + j] = p.labels.has(c) ? 1 : 0)));
  return out;
}
