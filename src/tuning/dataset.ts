/**
 * From settled labels to what a training run uses: the training pairs, the class weights and the eval
 * cells. Pure: the repository returns the latest settled label per item × category (an appeal's later
 * label replaces the earlier one there), and this module turns them into arrays.
 *
 * Every settled train cell is one preference pair: chosen = the moderators' label, rejected = its
 * negation, agreements and disagreements alike, so every category sees both sides of its boundary.
 */
import { applyHead, lexicalIndex, type Head, type TokenRows } from '../inference/head.js';
import type { LabelMapping } from '../policy/label-mapping.js';
import type { ReviewReason, Split } from '../db/schema/review.js';
import type { Params, TrainSet } from './trainer.js';

/** One settled label with where it came from. */
export interface SettledCell {
  /** Settlement order (review_labels.id): later labels replace earlier ones for the same cell. */
  id: number;
  itemId: string;
  taskId: string;
  decisionId: string;
  category: string;
  label: boolean;
  /** What the model decided for this category when it scored the item. */
  modelLabel: boolean;
  split: Split;
  reason: ReviewReason;
  reviewers: string[];
  /** Every reviewer was blind to the model's decision. */
  blind: boolean;
  votesYes: number;
  votesTotal: number;
}

/**
 * Whether a settled eval label belongs to the trusted eval set: a blind audit (a random sample, judged
 * without seeing the model) settled by at least two reviewers who all agreed, or by a key an admin trusts.
 */
export function isTrusted(c: SettledCell, trustedKeys: ReadonlySet<string>): boolean {
  if (c.split !== 'eval' || c.reason !== 'audit' || !c.blind) return false;
  const unanimous = c.votesTotal >= 2 && (c.votesYes === 0 || c.votesYes === c.votesTotal);
  return unanimous || c.reviewers.some((r) => trustedKeys.has(r));
}

/** An item's inputs on the backbone being trained: its features and (for a lexical part) its token ids. */
export interface ItemInputs {
  features: Float32Array;
  tokens: Int32Array | null;
}

/** Which categories a run can train, and on which head row. */
export interface TrainingBinding {
  /** category → the one head row it trains. */
  rows: Map<string, number>;
  /** category → why it is not trained. */
  skipped: Record<string, string>;
}

/**
 * A category trains a head row only when that row is its one source and feeds no other category: with
 * several sources its score is a max (or sum) no single row owns; a row feeding two categories would
 * have their labels train it against each other.
 */
export function trainingBinding(mapping: LabelMapping, labels: string[]): TrainingBinding {
  const rows = new Map<string, number>();
  const skipped: Record<string, string> = {};
  const feeds = new Map<number, string[]>();
  for (const [cat, src] of Object.entries(mapping.sources)) for (const r of src) feeds.set(r, [...(feeds.get(r) ?? []), cat]);
  for (const [cat, src] of Object.entries(mapping.sources)) {
    if (src.length !== 1) {
      skipped[cat] = `fed by ${src.length} model labels (${src.map((r) => `'${labels[r]}'`).join(', ')}): its score combines them, so no single head row can be trained for it`;
      continue;
    }
    const shared = feeds.get(src[0])!.filter((c) => c !== cat);
    if (shared.length) {
      skipped[cat] = `its model label '${labels[src[0]]}' also feeds ${shared.map((c) => `'${c}'`).join(', ')}: their labels would train one head row against each other; map the label to one category to train it`;
      continue;
    }
    rows.set(cat, src[0]);
  }
  return { rows, skipped };
}

export type ClassWeighting = 'none' | 'balanced';
export type PairSource = 'all' | 'disagreements';

export interface DatasetOptions {
  /** Category → flag threshold (the policy's), for eval cells. */
  thresholds: Record<string, number>;
  classWeights: ClassWeighting;
  /** 'all' (the default): every settled cell; 'disagreements': only where moderators overruled the model (for comparison). */
  pairs: PairSource;
  /** Build the token index for a lexical part. */
  lexical: boolean;
  /** Keys whose blind audit labels are trusted on their own. */
  trustedKeys?: ReadonlySet<string>;
}

export interface CategoryCounts {
  train_positive: number;
  train_negative: number;
  eval_positive: number;
  eval_negative: number;
  /** Train cells where the moderators overruled the model. */
  train_disagreements: number;
  weight_positive: number;
  weight_negative: number;
}

export interface EvalSet {
  items: { features: Float32Array; tokens: TokenRows | null; n: number };
  itemIds: string[];
  /** Per cell: its item's index, category, the moderators' label and the category's flag threshold. */
  item: Int32Array;
  category: string[];
  truth: boolean[];
  threshold: Float64Array;
  /** Per cell: part of the trusted eval set ({@link isTrusted}). */
  trusted: boolean[];
}

export interface Dataset {
  /** The cells that train, as the trainer takes them (zRef from the reference head). */
  train: TrainSet;
  /** Item id of each train item (train.item indexes this). */
  trainItemIds: string[];
  /** Category of each train cell. */
  trainCategory: string[];
  /** The lexical vocabulary (ascending token ids) that train.tokens.index points into; empty without one. */
  vocabulary: Int32Array;
  eval: EvalSet;
  counts: Record<string, CategoryCounts>;
  skipped: Record<string, string>;
}

const EMPTY_TOKENS = new Int32Array(0);

/**
 * Builds the dataset. `cells` must hold at most one label per item × category (the latest); `items`
 * the inputs of every item a cell names (cells whose item is missing are the caller's to count and drop).
 */
export function buildDataset(cells: SettledCell[], items: Map<string, ItemInputs>, reference: Head, binding: TrainingBinding, opts: DatasetOptions): Dataset {
  const seen = new Set<string>();
  for (const c of cells) {
    const key = `${c.itemId}\u0000${c.category}`;
    if (seen.has(key)) throw new Error(`two settled labels for item ${c.itemId}, category '${c.category}': pass only the latest`);
    seen.add(key);
  }
  const D = reference.dim;
  const C = reference.numLabels;
  const counts: Record<string, CategoryCounts> = {};
  const countOf = (cat: string) =>
    (counts[cat] ??= { train_positive: 0, train_negative: 0, eval_positive: 0, eval_negative: 0, train_disagreements: 0, weight_positive: 1, weight_negative: 1 });

  const trainable = cells.filter((c) => c.split === 'train' && binding.rows.has(c.category) && items.has(c.itemId));
  for (const c of trainable) {
    const k = countOf(c.category);
    if (c.label) k.train_positive++;
    else k.train_negative++;
    if (c.label !== c.modelLabel) k.train_disagreements++;
  }
  const trainCells = opts.pairs === 'all' ? trainable : trainable.filter((c) => c.label !== c.modelLabel);
  const evalCells = cells.filter((c) => c.split === 'eval' && c.category in opts.thresholds && items.has(c.itemId));
  for (const c of evalCells) {
    const k = countOf(c.category);
    if (c.label) k.eval_positive++;
    else k.eval_negative++;
  }

  // Class weights: each category's positives and negatives weigh the same in total; then mean 1.
  if (opts.classWeights === 'balanced') {
    for (const k of Object.values(counts)) {
      const n = k.train_positive + k.train_negative;
      if (k.train_positive > 0 && k.train_negative > 0) {
        k.weight_positive = n / (2 * k.train_positive);
        k.weight_negative = n / (2 * k.train_negative);
      }
    }
  }
  const weights = trainCells.map((c) => (c.label ? counts[c.category].weight_positive : counts[c.category].weight_negative));
  const meanWeight = weights.length ? weights.reduce((a, b) => a + b, 0) / weights.length : 1;

  // Items, in first-seen order.
  const index = (list: SettledCell[]) => {
    const ids: string[] = [];
    const at = new Map<string, number>();
    for (const c of list) {
      if (!at.has(c.itemId)) {
        at.set(c.itemId, ids.length);
        ids.push(c.itemId);
      }
    }
    return { ids, at };
  };
  const packFeatures = (ids: string[]) => {
    const f = new Float32Array(ids.length * D);
    ids.forEach((id, k) => {
      const x = items.get(id)!.features;
      if (x.length !== D) throw new Error(`item ${id} has ${x.length} features, the head expects ${D}`);
      f.set(x, k * D);
    });
    return f;
  };
  // Token ids travel whenever items have them: a lexical part (the candidate's, the reference's or the
  // active head's) must see the same tokens it sees when serving.
  const withTokens = [...items.values()].some((x) => x.tokens !== null);
  const rowsOf = (ids: string[]): TokenRows | null => {
    if (!withTokens) return null;
    const offsets = new Int32Array(ids.length + 1);
    let total = 0;
    ids.forEach((id, k) => {
      total += (items.get(id)!.tokens ?? EMPTY_TOKENS).length;
      offsets[k + 1] = total;
    });
    const out = new Int32Array(total);
    ids.forEach((id, k) => out.set(items.get(id)!.tokens ?? EMPTY_TOKENS, offsets[k]));
    return { ids: out, offsets };
  };

  const tr = index(trainCells);
  const trainFeatures = packFeatures(tr.ids);
  const trainTokens = rowsOf(tr.ids);
  let vocabulary = new Int32Array(0);
  let tokenIndex: TrainSet['tokens'] = null;
  if (opts.lexical && trainTokens) {
    vocabulary = Int32Array.from(new Set(trainTokens.ids)).sort();
    const local = new Map<number, number>();
    vocabulary.forEach((t, i) => local.set(t, i));
    tokenIndex = { offsets: trainTokens.offsets, index: Int32Array.from(trainTokens.ids, (t) => local.get(t)!) };
  }
  // Reference logits, through the same scorer that serves the reference head.
  const refLogits = applyHead(reference, trainFeatures, tr.ids.length, trainTokens);
  const item = Int32Array.from(trainCells, (c) => tr.at.get(c.itemId)!);
  const row = Int32Array.from(trainCells, (c) => binding.rows.get(c.category)!);
  const train: TrainSet = {
    dim: D,
    numLabels: C,
    features: trainFeatures,
    tokens: tokenIndex,
    item,
    row,
    sign: Int8Array.from(trainCells, (c) => (c.label ? 1 : -1)),
    weight: Float32Array.from(weights, (w) => w / meanWeight),
    zRef: Float64Array.from(trainCells, (_, i) => refLogits[item[i] * C + row[i]]),
  };

  const ev = index(evalCells);
  return {
    train,
    trainItemIds: tr.ids,
    trainCategory: trainCells.map((c) => c.category),
    vocabulary,
    eval: {
      items: { features: packFeatures(ev.ids), tokens: rowsOf(ev.ids), n: ev.ids.length },
      itemIds: ev.ids,
      item: Int32Array.from(evalCells, (c) => ev.at.get(c.itemId)!),
      category: evalCells.map((c) => c.category),
      truth: evalCells.map((c) => c.label),
      threshold: Float64Array.from(evalCells, (c) => opts.thresholds[c.category]),
      trusted: evalCells.map((c) => isTrusted(c, opts.trustedKeys ?? new Set())),
    },
    counts,
    skipped: binding.skipped,
  };
}

/**
 * A head as trainable parameters over a lexical vocabulary: its lexical weights for those tokens (0 for
 * tokens it has none for). An empty vocabulary gives no lexical parameters.
 */
export function paramsOf(head: Head, vocabulary: Int32Array): Params {
  const C = head.numLabels;
  let lexical: Float64Array | null = null;
  if (vocabulary.length > 0) {
    lexical = new Float64Array(vocabulary.length * C);
    if (head.lexical) {
      vocabulary.forEach((t, k) => {
        const i = lexicalIndex(head.lexical!.tokens, t);
        if (i >= 0) for (let c = 0; c < C; c++) lexical![k * C + c] = head.lexical!.weight[i * C + c];
      });
    }
  }
  return { weight: Float64Array.from(head.weight), bias: Float64Array.from(head.bias), lexical };
}

/**
 * Trained parameters back as a head: the linear part as is; the lexical part is the reference's, with
 * the vocabulary's tokens replaced by their trained rows (rows that are all zero are dropped).
 */
export function headOf(p: Params, reference: Head, vocabulary: Int32Array): Head {
  const C = reference.numLabels;
  const rows = new Map<number, Float32Array>();
  if (reference.lexical) {
    reference.lexical.tokens.forEach((t, i) => rows.set(t, reference.lexical!.weight.slice(i * C, (i + 1) * C)));
  }
  if (p.lexical) {
    vocabulary.forEach((t, k) => rows.set(t, Float32Array.from(p.lexical!.subarray(k * C, (k + 1) * C))));
  }
  const kept = [...rows.entries()].filter(([, w]) => w.some((x) => x !== 0)).sort(([a], [b]) => a - b);
  const lexical =
    kept.length > 0
      ? { tokens: Int32Array.from(kept, ([t]) => t), weight: Float32Array.from(kept.flatMap(([, w]) => [...w])) }
      : null;
  return { numLabels: C, dim: reference.dim, weight: Float32Array.from(p.weight), bias: Float32Array.from(p.bias), lexical };
}
