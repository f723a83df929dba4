/**
 * From settled labels to what a training run uses: the training pairs, the class weights and the eval
 * cells. Pure: the repository returns the latest settled label per item × category (an appeal's later
 * label replaces the earlier one there), and this module turns them into arrays.
 *
 * Every settled train cell is one preference pair: chosen = the moderators' label, rejected = its
 * negation, agreements and disagreements alike, so every category sees both sides of its boundary.
 * Items carry their text too: the n-gram part of a head reads it (src/inference/ngrams.ts).
 */
import { tokenRows, type TokenRows } from '../../inference/head.js';
import { ngramSource } from '../../inference/ngrams.js';
import type { ScoringInput } from '../../models/scorer.js';
import type { LabelMapping } from '../../policy/label-mapping.js';
import type { ReviewReason, Split } from '../../db/schema/review.js';

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
  /** The chance its task's decision was drawn for review (src/review/routing.ts); null for appeals and older tasks. */
  inclusion?: number | null;
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

/** An item's inputs on the backbone being trained: its features, its token ids, and its text (null once purged). */
export interface ItemInputs {
  features: Float32Array;
  tokens: Int32Array | null;
  /** What the n-gram part reads; null where retention purged the text (no n-grams then). */
  text: string | null;
  /**
   * What folds are drawn from: the item's split group (src/review/split.ts: its author, thread or
   * normalised text), so a repost or one author's items never sit on both sides of a cross-validation
   * split, and a rerun draws the same folds. Items split before migration 0013: the text's sha256.
   */
  key: string;
}

/** Which categories a run can train, and on which head row. */
export interface TrainingBinding {
  /** category → the one head row it trains. */
  rows: Map<string, number>;
  /**
   * category → the row its logit is measured against, for a two-label single-label (softmax) model: the
   * category's probability is softmax(z)_row = σ(z_row − z_base), a Bernoulli in that difference, which is
   * what DPO tunes (the base row stays the reference's). Absent for multi-label (sigmoid) rows.
   */
  base: Map<string, number>;
  /** category → why it is not trained. */
  skipped: Record<string, string>;
}

/**
 * A category trains a head row only when that row is its one source and feeds no other category: with
 * several sources its score is a max (or sum) no single row owns; a row feeding two categories would
 * have their labels train it against each other. On a single-label (softmax) model a category's
 * probability depends on every label's logit; with two labels it is σ(z_row − z_other), so a two-label
 * model trains when the other label feeds no category (a binary classifier: `neutral` / `toxic`), and
 * a model of more labels does not train.
 */
export function trainingBinding(mapping: LabelMapping, labels: string[]): TrainingBinding {
  const rows = new Map<string, number>();
  const base = new Map<string, number>();
  const skipped: Record<string, string> = {};
  if (mapping.combine === 'sum' && labels.length !== 2) {
    for (const cat of Object.keys(mapping.sources)) {
      skipped[cat] =
        `the model is single-label (softmax) over ${labels.length} labels: a category's probability depends on every label's logit, ` +
        'so no one head row can be tuned for it (two-label softmax models and multi-label models tune)';
    }
    return { rows, base, skipped };
  }
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
    if (mapping.combine === 'sum') {
      const other = 1 - src[0];
      if (feeds.has(other)) {
        skipped[cat] = `the model is single-label (softmax) and its other label '${labels[other]}' feeds ${feeds.get(other)!.map((c) => `'${c}'`).join(', ')}: one softmax cannot be tuned for both`;
        continue;
      }
      base.set(cat, other);
    }
    rows.set(cat, src[0]);
  }
  return { rows, base, skipped };
}

export type ClassWeighting = 'none' | 'balanced';
export type PairSource = 'all' | 'disagreements';

export interface DatasetOptions {
  /** Category → flag threshold (the policy's), for eval cells. */
  thresholds: Record<string, number>;
  classWeights: ClassWeighting;
  /** 'all' (the default): every settled cell; 'disagreements': only where moderators overruled the model (for comparison). */
  pairs: PairSource;
  /** Keys whose blind audit labels are trusted on their own. */
  trustedKeys?: ReadonlySet<string>;
  /**
   * The highest label id the active head was trained on (null: it never saw these labels). Train cells
   * settled after it are new to the active head: out-of-sample evidence the gate can use.
   */
  activeSawUpTo?: number | null;
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

/** Items' inputs, packed: what the scorers and the fit read. */
export interface PackedItems {
  /** Row-major [n × dim]. */
  features: Float32Array;
  /** Token ids per item, when any item has them (a token-level lexical part reads them). */
  tokens: TokenRows | null;
  texts: (string | null)[];
  n: number;
}

export interface EvalSet {
  items: PackedItems;
  itemIds: string[];
  /** Per cell: its item's index, category, the moderators' label and the category's flag threshold. */
  item: Int32Array;
  category: string[];
  truth: boolean[];
  threshold: Float64Array;
  /** Per cell: part of the trusted eval set ({@link isTrusted}). */
  trusted: boolean[];
  /** Per item: the inverse of the chance it was drawn for review ({@link itemWeight}). */
  weight: Float64Array;
}

/**
 * An item's weight in the gate's measure: the inverse of the chance its decision was drawn for review.
 * A head routes what it flags or doubts to review every time, and the rest of the traffic only through
 * the audit sample, so an unweighted eval set is mostly the items the active head already found; each
 * audited item the policy would not have routed stands for 1/audit_rate items of traffic. Appeals and
 * tasks from before the probability was stored weigh 1.
 */
export function itemWeight(c: Pick<SettledCell, 'inclusion'>): number {
  return c.inclusion !== null && c.inclusion !== undefined && c.inclusion > 0 ? 1 / c.inclusion : 1;
}

/** One category's train cells (each a preference pair), over the train items. */
export interface TrainCategory {
  category: string;
  /** The head row it trains. */
  row: number;
  /** The row its logit is measured against (a two-label softmax model's other label), or null. */
  base: number | null;
  item: Int32Array;
  /** s = +1 where the moderators flagged, −1 where they did not. */
  sign: Int8Array;
  weight: Float64Array;
  /**
   * 1 where the cell is new to the active head (settled after its training data, not an appeal of a label
   * it may have seen): both heads' scores there are out-of-sample, so it is evidence for the gate.
   */
  fresh: Uint8Array;
}

export interface Dataset {
  train: PackedItems;
  /** Item id of each train item. */
  trainItemIds: string[];
  /** Each train item's fold key (ItemInputs.key). */
  trainItemKeys: string[];
  /** Each train item's {@link itemWeight} (for the gate's evidence from train items new to the active head). */
  trainItemWeights: Float64Array;
  categories: TrainCategory[];
  eval: EvalSet;
  counts: Record<string, CategoryCounts>;
  skipped: Record<string, string>;
}

/** A category trains only with at least this many flagged and this many not-flagged train labels. */
export const MIN_TRAIN_LABELS_PER_SIDE = 3;

const EMPTY_TOKENS = new Int32Array(0);

/** Packs items' inputs in the given order. */
export function packItems(ids: readonly string[], items: ReadonlyMap<string, ItemInputs>, dim: number): PackedItems {
  const features = new Float32Array(ids.length * dim);
  ids.forEach((id, k) => {
    const x = items.get(id)!.features;
    if (x.length !== dim) throw new Error(`item ${id} has ${x.length} features, the head expects ${dim}`);
    features.set(x, k * dim);
  });
  // Token ids travel whenever items have them: a lexical part (the candidate's, the reference's or the
  // active head's) must see the same tokens it sees when serving.
  const withTokens = ids.some((id) => items.get(id)!.tokens !== null);
  return {
    features,
    tokens: withTokens ? tokenRows(ids.map((id) => items.get(id)!.tokens ?? EMPTY_TOKENS)) : null,
    texts: ids.map((id) => items.get(id)!.text),
    n: ids.length,
  };
}

/**
 * Builds the dataset. `cells` must hold at most one label per item × category (the latest); `items`
 * the inputs of every item a cell names (cells whose item is missing are the caller's to count and drop).
 */
export function buildDataset(cells: SettledCell[], items: Map<string, ItemInputs>, dim: number, binding: TrainingBinding, opts: DatasetOptions): Dataset {
  const seen = new Set<string>();
  for (const c of cells) {
    const key = `${c.itemId}\u0000${c.category}`;
    if (seen.has(key)) throw new Error(`two settled labels for item ${c.itemId}, category '${c.category}': pass only the latest`);
    seen.add(key);
  }
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
  const evalCells = cells.filter((c) => c.split === 'eval' && c.category in opts.thresholds && items.has(c.itemId));
  for (const c of evalCells) {
    const k = countOf(c.category);
    if (c.label) k.eval_positive++;
    else k.eval_negative++;
  }
  const skipped: Record<string, string> = { ...binding.skipped };
  const pairCells = opts.pairs === 'all' ? trainable : trainable.filter((c) => c.label !== c.modelLabel);
  const byCategory = new Map<string, SettledCell[]>();
  for (const c of pairCells) byCategory.set(c.category, [...(byCategory.get(c.category) ?? []), c]);
  for (const [cat, list] of [...byCategory]) {
    const pos = list.filter((c) => c.label).length;
    if (pos < MIN_TRAIN_LABELS_PER_SIDE || list.length - pos < MIN_TRAIN_LABELS_PER_SIDE) {
      skipped[cat] = `${pos} flagged and ${list.length - pos} not-flagged train labels: a category trains with at least ${MIN_TRAIN_LABELS_PER_SIDE} of each`;
      byCategory.delete(cat);
    }
  }

  // Class weights: each category's positives and negatives weigh the same in total (mean 1 per category).
  if (opts.classWeights === 'balanced') {
    for (const k of Object.values(counts)) {
      const n = k.train_positive + k.train_negative;
      if (k.train_positive > 0 && k.train_negative > 0) {
        k.weight_positive = n / (2 * k.train_positive);
        k.weight_negative = n / (2 * k.train_negative);
      }
    }
  }

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
  const tr = index([...byCategory.values()].flat());
  const categories: TrainCategory[] = [...byCategory.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([category, list]) => ({
      category,
      row: binding.rows.get(category)!,
      base: binding.base.get(category) ?? null,
      item: Int32Array.from(list, (c) => tr.at.get(c.itemId)!),
      sign: Int8Array.from(list, (c) => (c.label ? 1 : -1)),
      weight: Float64Array.from(list, (c) => (c.label ? counts[category].weight_positive : counts[category].weight_negative)),
      fresh: Uint8Array.from(list, (c) => (c.reason !== 'appeal' && (opts.activeSawUpTo === null || opts.activeSawUpTo === undefined || c.id > opts.activeSawUpTo) ? 1 : 0)),
    }));

  const ev = index(evalCells);
  // An item's weight from its first settled cell (the draw that brought it to review).
  const weights = new Map<string, number>();
  for (const c of cells) if (!weights.has(c.itemId)) weights.set(c.itemId, itemWeight(c));
  return {
    train: packItems(tr.ids, items, dim),
    trainItemIds: tr.ids,
    trainItemKeys: tr.ids.map((id) => items.get(id)!.key),
    trainItemWeights: Float64Array.from(tr.ids, (id) => weights.get(id)!),
    categories,
    eval: {
      items: packItems(ev.ids, items, dim),
      itemIds: ev.ids,
      item: Int32Array.from(evalCells, (c) => ev.at.get(c.itemId)!),
      category: evalCells.map((c) => c.category),
      truth: evalCells.map((c) => c.label),
      threshold: Float64Array.from(evalCells, (c) => opts.thresholds[c.category]),
      trusted: evalCells.map((c) => isTrusted(c, opts.trustedKeys ?? new Set())),
      weight: Float64Array.from(ev.ids, (id) => weights.get(id)!),
    },
    counts,
    skipped,
  };
}

/** The scorers' input for packed items (n-gram rows computed from the texts on first use per config). */
export function scoringInput(p: PackedItems): ScoringInput {
  return { features: p.features, tokens: p.tokens, ngrams: ngramSource(p.texts), n: p.n };
}
