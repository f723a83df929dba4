/**
 * Each run picks its own hyperparameters. Settings that suit one dataset fail on another (a large,
 * noisy queue wants long training with little regularisation; a few hundred reviews want the opposite),
 * so a run carves an inner validation split out of its train cells (by a hash of the item id: never the
 * gate's eval split), trains every combination of the policy's grid with early stopping on it, and then
 * trains the winner on all train cells for the winner's number of epochs. Pure.
 */
import type { Head } from '../inference/head.js';
import { splitFor } from '../review/split.js';
import type { LossType } from './dpo.js';
import { sigmoid } from './dpo.js';
import { auroc } from './stats.js';
import { cellLogit, trainDpo, type EpochMetrics, type Params, type StepMetrics, type TrainResult, type TrainSet } from './trainer.js';

export interface Grid {
  beta: number[];
  learningRate: number[];
  l2: number[];
  lexicalL2: number[];
  rpoAlpha: number[];
}

export interface SelectionSettings {
  loss: LossType;
  labelSmoothing: number;
  grid: Grid;
  /** Most epochs a configuration trains; early stopping usually ends it sooner. */
  maxEpochs: number;
  /** Epochs without a better validation score before a configuration stops. */
  patience: number;
  batchSize: number;
  seed: number;
  /** Share of train items held out to choose hyperparameters and epochs. */
  validationFraction: number;
  /** false: no search; the grid's first configuration trains for maxEpochs on every train item. */
  select: boolean;
}

export interface Choice {
  beta: number;
  learning_rate: number;
  l2: number;
  lexical_l2: number;
  rpo_alpha: number;
}

export interface GridEntry extends Choice {
  best_epoch: number;
  epochs_run: number;
  validation: number;
}

export interface SelectionReport {
  /** How validation was scored: mean AUROC over categories with enough of both labels, else −log loss. */
  metric: 'auroc' | 'log_loss';
  /** Categories the AUROC averaged over. */
  categories: string[];
  train_items: number;
  validation_items: number;
  grid: GridEntry[];
  winner: GridEntry;
}

export interface SelectionResult {
  head: Head;
  choice: Choice & { epochs: number };
  final: TrainResult;
  /** The search; null when there were too few train items to hold some out (then `note` says so). */
  selection: SelectionReport | null;
  note?: string;
}

/** Fewer validation items than this and the run trains its one configuration for maxEpochs instead. */
export const MIN_VALIDATION_ITEMS = 20;
/** A category takes part in the AUROC only with at least this many validation cells of each label. */
export const MIN_CELLS_PER_LABEL = 10;

export function combinations(g: Grid): Choice[] {
  const out: Choice[] = [];
  for (const beta of g.beta)
    for (const learning_rate of g.learningRate)
      for (const l2 of g.l2)
        for (const lexical_l2 of g.lexicalL2) for (const rpo_alpha of g.rpoAlpha) out.push({ beta, learning_rate, l2, lexical_l2, rpo_alpha });
  return out;
}

/** The cells of `set` whose items satisfy `keep`, with their own item numbering. */
export function subset(set: TrainSet, keepItem: (item: number) => boolean): { set: TrainSet; cells: number[] } {
  const cells: number[] = [];
  for (let i = 0; i < set.row.length; i++) if (keepItem(set.item[i])) cells.push(i);
  const itemMap = new Map<number, number>();
  for (const i of cells) if (!itemMap.has(set.item[i])) itemMap.set(set.item[i], itemMap.size);
  const D = set.dim;
  const features = new Float32Array(itemMap.size * D);
  for (const [old, k] of itemMap) features.set(set.features.subarray(old * D, (old + 1) * D), k * D);
  let tokens: TrainSet['tokens'] = null;
  if (set.tokens) {
    const offsets = new Int32Array(itemMap.size + 1);
    const olds = [...itemMap.keys()];
    olds.forEach((old, k) => (offsets[k + 1] = offsets[k] + set.tokens!.offsets[old + 1] - set.tokens!.offsets[old]));
    const index = new Int32Array(offsets[olds.length]);
    olds.forEach((old, k) => index.set(set.tokens!.index.subarray(set.tokens!.offsets[old], set.tokens!.offsets[old + 1]), offsets[k]));
    tokens = { offsets, index };
  }
  return {
    cells,
    set: {
      dim: D,
      numLabels: set.numLabels,
      features,
      tokens,
      item: Int32Array.from(cells, (i) => itemMap.get(set.item[i])!),
      row: Int32Array.from(cells, (i) => set.row[i]),
      sign: Int8Array.from(cells, (i) => set.sign[i]),
      weight: Float32Array.from(cells, (i) => set.weight[i]),
      zRef: Float64Array.from(cells, (i) => set.zRef[i]),
    },
  };
}

/** The validation score of `p` on `set` (higher is better): see {@link SelectionReport.metric}. */
export function validationScorer(set: TrainSet, category: string[]): { metric: 'auroc' | 'log_loss'; categories: string[]; score: (p: Params) => number } {
  const byCategory = new Map<string, number[]>();
  category.forEach((c, i) => byCategory.set(c, [...(byCategory.get(c) ?? []), i]));
  const usable = [...byCategory.entries()]
    .filter(([, idx]) => {
      const pos = idx.filter((i) => set.sign[i] > 0).length;
      return pos >= MIN_CELLS_PER_LABEL && idx.length - pos >= MIN_CELLS_PER_LABEL;
    })
    .sort(([a], [b]) => (a < b ? -1 : 1));
  if (usable.length > 0) {
    return {
      metric: 'auroc',
      categories: usable.map(([c]) => c),
      score: (p) => {
        let sum = 0;
        for (const [, idx] of usable) {
          sum += auroc(
            idx.map((i) => set.sign[i] > 0),
            idx.map((i) => cellLogit(p, set, i)),
          )!;
        }
        return sum / usable.length;
      },
    };
  }
  return {
    metric: 'log_loss',
    categories: [],
    score: (p) => {
      let loss = 0;
      for (let i = 0; i < set.row.length; i++) loss -= Math.log(Math.max(1e-12, sigmoid(set.sign[i] * cellLogit(p, set, i))));
      return set.row.length ? -loss / set.row.length : 0;
    },
  };
}

export interface SelectionHooks {
  /** Progress of the search: one line per configuration. */
  onConfig?: (index: number, total: number, entry: GridEntry) => void;
  /** Progress within a configuration of the search. */
  onSearchEpoch?: (index: number, total: number, epoch: number, validation: number) => void;
  /** Progress of the final fit. */
  onFinalEpoch?: (epoch: number, epochs: number, e: EpochMetrics) => void;
  onStep?: (m: StepMetrics) => void;
  shouldStop?: () => boolean;
}

/**
 * Searches the grid on the inner split, then trains the winner on all cells. `itemIds` are the train
 * items' ids (the inner split hashes them), `category` each cell's category.
 */
export function selectAndTrain(reference: Params, set: TrainSet, itemIds: string[], category: string[], s: SelectionSettings, hooks: SelectionHooks = {}): Omit<SelectionResult, 'head'> {
  const grid = combinations(s.grid);
  if (grid.length === 0) throw new Error('the hyperparameter grid is empty');
  const objective = (c: Choice) => ({
    loss: { type: s.loss, beta: c.beta, labelSmoothing: s.labelSmoothing },
    rpoAlpha: c.rpo_alpha,
    l2: c.l2,
    lexicalL2: c.lexical_l2,
  });
  const inner = itemIds.map((id) => splitFor(`${id}:validation`, s.validationFraction) === 'eval');
  const validationItems = inner.filter(Boolean).length;
  let selection: SelectionReport | null = null;
  let note: string | undefined;
  let choice: Choice & { epochs: number };
  if (!s.select) {
    note = `selection is off: trained the grid's first configuration for ${s.maxEpochs} epochs on every train item`;
    choice = { ...grid[0], epochs: s.maxEpochs };
  } else if (validationItems >= MIN_VALIDATION_ITEMS && itemIds.length - validationItems >= MIN_VALIDATION_ITEMS) {
    const fit = subset(set, (k) => !inner[k]);
    const val = subset(set, (k) => inner[k]);
    const scorer = validationScorer(
      val.set,
      val.cells.map((i) => category[i]),
    );
    const entries: GridEntry[] = [];
    for (const [k, c] of grid.entries()) {
      if (hooks.shouldStop?.()) throw new Error('training was stopped');
      const r = trainDpo(reference, fit.set, {
        objective: objective(c),
        learningRate: c.learning_rate,
        epochs: s.maxEpochs,
        batchSize: s.batchSize,
        seed: s.seed,
        validate: scorer.score,
        patience: s.patience,
        shouldStop: hooks.shouldStop,
        onEpoch: (e) => hooks.onSearchEpoch?.(k + 1, grid.length, e.epoch, e.validation ?? NaN),
        logEvery: Number.MAX_SAFE_INTEGER,
      });
      const entry: GridEntry = { ...c, best_epoch: r.bestEpoch, epochs_run: r.epochs.length, validation: r.epochs[r.bestEpoch - 1]?.validation ?? -Infinity };
      entries.push(entry);
      hooks.onConfig?.(k + 1, grid.length, entry);
    }
    // Ties go to the earlier configuration: the grid lists the more conservative settings first.
    const winner = entries.reduce((best, e) => (e.validation > best.validation ? e : best));
    selection = {
      metric: scorer.metric,
      categories: scorer.categories,
      train_items: itemIds.length - validationItems,
      validation_items: validationItems,
      grid: entries,
      winner,
    };
    choice = { beta: winner.beta, learning_rate: winner.learning_rate, l2: winner.l2, lexical_l2: winner.lexical_l2, rpo_alpha: winner.rpo_alpha, epochs: winner.best_epoch };
  } else {
    note =
      `${itemIds.length} train items: too few to hold ${MIN_VALIDATION_ITEMS} out for choosing hyperparameters; ` +
      `trained the grid's first configuration for ${s.maxEpochs} epochs`;
    choice = { ...grid[0], epochs: s.maxEpochs };
  }
  const final = trainDpo(reference, set, {
    objective: objective(choice),
    learningRate: choice.learning_rate,
    epochs: choice.epochs,
    batchSize: s.batchSize,
    seed: s.seed,
    onStep: hooks.onStep,
    onEpoch: (e) => hooks.onFinalEpoch?.(e.epoch, choice.epochs, e),
    shouldStop: hooks.shouldStop,
  });
  return { choice, final, selection, ...(note ? { note } : {}) };
}
