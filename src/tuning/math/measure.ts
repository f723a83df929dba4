/**
 * The one measure of a head that the search, the gate and the reports use. Pure.
 *
 *   ranking   per category, the average precision (AUPRC) of its scores on items, with the positives
 *             counted; the head's ranking score is the mean over the categories with at least
 *             `minPositives` positive items (and one negative): rare categories count as much as common
 *             ones, and a category with three positives does not decide anything.
 *   accuracy  at the policy's flag thresholds: per item, the share of its categories decided as the
 *             moderators decided; the head's accuracy is the mean over items. Meaningful because heads
 *             are calibrated (Platt), so a threshold means what it says.
 *
 * The unit of evidence is the item: when two heads are compared, items are resampled with replacement
 * (a paired bootstrap: both heads see the same resample) and the interval for the change is read off the
 * resampled changes. An item's categories move together, so cells are never treated as independent.
 */
import { mulberry32 } from '../../random.js';

/** Cells on items: cell j belongs to item `item[j]`, in category `category[j]`. */
export interface MeasureCells {
  items: number;
  item: Int32Array;
  category: string[];
  truth: boolean[];
  threshold: Float64Array;
  /** Per item: how much of the traffic it stands for (the inverse of its chance of review); all 1 when absent. */
  weight?: Float64Array;
}

export interface CategoryMeasure {
  items: number;
  positives: number;
  /** null without positives. */
  auprc: number | null;
  accuracy: number | null;
  /** Whether it takes part in the head's ranking score. */
  ranked: boolean;
}

export interface HeadMeasure {
  /** Mean AUPRC over the ranked categories; null when none qualifies. */
  auprc: number | null;
  /** Mean over items of the share of their categories decided right at the thresholds. */
  accuracy: number | null;
  categories: Record<string, CategoryMeasure>;
}

export interface Interval {
  estimate: number;
  lower: number;
  upper: number;
}

export interface Comparison {
  items: number;
  /** Categories in the ranking score, with their positive items. */
  ranked: { category: string; positives: number }[];
  active: HeadMeasure;
  candidate: HeadMeasure;
  /** candidate − active, with a `confidence` interval over items; null where undefined. */
  change: { auprc: Interval | null; accuracy: Interval | null };
  /** The same for each ranked category's AUPRC (the same resamples). */
  categoryChange: Record<string, Interval | null>;
  confidence: number;
  resamples: number;
}

export interface MeasureOptions {
  minPositives: number;
  confidence: number;
  resamples: number;
  seed: number;
}

/** Per category: its cells' indices. Sorted by category name for stable output. */
function byCategory(cells: MeasureCells): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const c of [...new Set(cells.category)].sort()) out.set(c, []);
  cells.category.forEach((c, j) => out.get(c)!.push(j));
  return out;
}

function rankedCategories(cells: MeasureCells, groups: Map<string, number[]>, minPositives: number): { category: string; positives: number }[] {
  const out: { category: string; positives: number }[] = [];
  for (const [category, idx] of groups) {
    const positives = idx.filter((j) => cells.truth[j]).length;
    if (positives >= minPositives && positives < idx.length) out.push({ category, positives });
  }
  return out;
}

/** Each item's weight: its traffic weight (1 without one). Read only. */
function itemWeights(cells: MeasureCells): Float64Array {
  return cells.weight ?? new Float64Array(cells.items).fill(1);
}

/** The measure of one head's scores (one per cell), each item counted by its traffic weight. */
export function measureHead(cells: MeasureCells, scores: ArrayLike<number>, minPositives: number): HeadMeasure {
  const groups = byCategory(cells);
  const ranked = new Set(rankedCategories(cells, groups, minPositives).map((r) => r.category));
  const weight = itemWeights(cells);
  const categories: Record<string, CategoryMeasure> = {};
  let sum = 0;
  for (const [cat, idx] of groups) {
    let right = 0;
    let total = 0;
    idx.forEach((j) => {
      const w = weight[cells.item[j]];
      total += w;
      if (scores[j] >= cells.threshold[j] === cells.truth[j]) right += w;
    });
    const auprc = new SortedCategory(cells, idx, scores).auprc(weight);
    categories[cat] = { items: idx.length, positives: idx.filter((j) => cells.truth[j]).length, auprc, accuracy: total > 0 ? right / total : null, ranked: ranked.has(cat) };
    if (ranked.has(cat)) sum += auprc!;
  }
  return { auprc: ranked.size ? sum / ranked.size : null, accuracy: itemAccuracy(cells, scores, weight), categories };
}

/** Kish's effective number of items: (Σw)² / Σw², the sample size equal weights would need for the same precision. */
export function effectiveItems(cells: MeasureCells): number {
  const w = itemWeights(cells);
  let s = 0;
  let s2 = 0;
  for (const x of w) {
    s += x;
    s2 += x * x;
  }
  return s2 > 0 ? (s * s) / s2 : 0;
}

/** Mean over items (weighted by `weight`) of the share of each item's cells decided right. */
function itemAccuracy(cells: MeasureCells, scores: ArrayLike<number>, weight: Float64Array): number | null {
  return new ItemAccuracy(cells, scores).at(weight);
}

/**
 * One head's cells decided right, counted per item once, so that each bootstrap resample's accuracy is a
 * pass over items, not over cells: the counts do not depend on the weights.
 */
class ItemAccuracy {
  private readonly right: Float64Array;
  private readonly count: Float64Array;
  constructor(cells: MeasureCells, scores: ArrayLike<number>) {
    this.right = new Float64Array(cells.items);
    this.count = new Float64Array(cells.items);
    for (let j = 0; j < cells.truth.length; j++) {
      const i = cells.item[j];
      this.count[i]++;
      if (scores[j] >= cells.threshold[j] === cells.truth[j]) this.right[i]++;
    }
  }
  at(weight: Float64Array): number | null {
    let num = 0;
    let den = 0;
    for (let i = 0; i < this.count.length; i++) {
      if (this.count[i] === 0) continue;
      const w = weight[i];
      num += (w * this.right[i]) / this.count[i];
      den += w;
    }
    return den > 0 ? num / den : null;
  }
}

/**
 * One category's cells in descending score order with tie groups, so a weighted AUPRC is one pass.
 * AP = Σ over thresholds (distinct scores, highest first) of ΔRecall · Precision, as scikit-learn.
 */
class SortedCategory {
  /** Per position in score order: the cell's item, and 1 when the cell is positive. */
  private readonly itemAt: Int32Array;
  private readonly positiveAt: Uint8Array;
  /** The positive cells' items, in score order. */
  private readonly positiveItems: Int32Array;
  /** groupEnd[k]: whether position k is the last of its run of tied scores. */
  private readonly groupEnd: Uint8Array;
  constructor(cells: MeasureCells, idx: number[], scores: ArrayLike<number>) {
    const order = Int32Array.from(idx).sort((a, b) => scores[b] - scores[a] || a - b);
    this.groupEnd = Uint8Array.from(order, (j, k) => (k + 1 === order.length || scores[order[k + 1]] !== scores[j] ? 1 : 0));
    this.itemAt = Int32Array.from(order, (j) => cells.item[j]);
    this.positiveAt = Uint8Array.from(order, (j) => (cells.truth[j] ? 1 : 0));
    this.positiveItems = this.itemAt.filter((_, k) => this.positiveAt[k] === 1);
  }
  /** AUPRC with each cell counted `weight[its item]` times; null without positives. */
  auprc(weight: Float64Array): number | null {
    let totalPositives = 0;
    for (let k = 0; k < this.positiveItems.length; k++) totalPositives += weight[this.positiveItems[k]];
    if (totalPositives === 0) return null;
    let tp = 0;
    let fp = 0;
    let prevRecall = 0;
    let ap = 0;
    for (let k = 0; k < this.itemAt.length; k++) {
      const w = weight[this.itemAt[k]];
      if (this.positiveAt[k] === 1) tp += w;
      else fp += w;
      if (this.groupEnd[k] === 0 || tp + fp === 0) continue;
      const recall = tp / totalPositives;
      ap += (recall - prevRecall) * (tp / (tp + fp));
      prevRecall = recall;
    }
    return ap;
  }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Compares two heads' scores on the same cells: each head's measure and the change, with a paired
 * bootstrap interval over items (percentile method, seeded: the same inputs give the same interval).
 * The ranked categories are fixed on the whole set; a resample in which a ranked category has no
 * positive leaves that category out of that resample's mean.
 */
export function compareHeads(cells: MeasureCells, active: ArrayLike<number>, candidate: ArrayLike<number>, o: MeasureOptions): Comparison {
  const groups = byCategory(cells);
  const ranked = rankedCategories(cells, groups, o.minPositives);
  const a = measureHead(cells, active, o.minPositives);
  const c = measureHead(cells, candidate, o.minPositives);
  const sortedA = ranked.map((r) => new SortedCategory(cells, groups.get(r.category)!, active));
  const sortedC = ranked.map((r) => new SortedCategory(cells, groups.get(r.category)!, candidate));
  const accuracyA = new ItemAccuracy(cells, active);
  const accuracyC = new ItemAccuracy(cells, candidate);
  const rng = mulberry32(o.seed);
  const traffic = itemWeights(cells);
  const weight = new Float64Array(cells.items);
  const dRank: number[] = [];
  const dAcc: number[] = [];
  const dCat: number[][] = ranked.map(() => []);
  for (let b = 0; b < o.resamples && cells.items > 0; b++) {
    weight.fill(0);
    // A resample's item counts, times each item's traffic weight.
    for (let k = 0; k < cells.items; k++) {
      const i = Math.floor(rng() * cells.items);
      weight[i] += traffic[i];
    }
    let sum = 0;
    let used = 0;
    for (let r = 0; r < ranked.length; r++) {
      const pa = sortedA[r].auprc(weight);
      const pc = sortedC[r].auprc(weight);
      if (pa === null || pc === null) continue;
      sum += pc - pa;
      dCat[r].push(pc - pa);
      used++;
    }
    if (used > 0) dRank.push(sum / used);
    const accA = accuracyA.at(weight);
    const accC = accuracyC.at(weight);
    if (accA !== null && accC !== null) dAcc.push(accC - accA);
  }
  const interval = (estimate: number | null, draws: number[]): Interval | null => {
    if (estimate === null || draws.length === 0) return null;
    const sorted = Float64Array.from(draws).sort();
    const tail = (1 - o.confidence) / 2;
    return { estimate, lower: percentile(sorted, tail), upper: percentile(sorted, 1 - tail) };
  };
  return {
    items: cells.items,
    ranked,
    active: a,
    candidate: c,
    change: {
      auprc: interval(a.auprc !== null && c.auprc !== null ? c.auprc - a.auprc : null, dRank),
      accuracy: interval(a.accuracy !== null && c.accuracy !== null ? c.accuracy - a.accuracy : null, dAcc),
    },
    categoryChange: Object.fromEntries(
      ranked.map((r, k) => {
        const pa = a.categories[r.category].auprc;
        const pc = c.categories[r.category].auprc;
        return [r.category, interval(pa !== null && pc !== null ? pc - pa : null, dCat[k])];
      }),
    ),
    confidence: o.confidence,
    resamples: o.resamples,
  };
}
