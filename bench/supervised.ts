/**
 * The supervised reference every quality claim of the loop is measured against: per category, a
 * class-weighted L2 logistic regression on hashed word 1–2-grams and character 2–5-grams (log tf,
 * L2-normalised: src/inference/ngrams.ts), trained on exactly the labels the loop was given, its L2
 * chosen by the same k-fold cross-validation over the same grid. It is fitted by the trainer's own
 * machinery (src/tuning/math/fit.ts with no DPO term, no backbone, no reference), so the comparison isolates
 * what the loop adds: the backbone's features, the reference head, DPO and calibration. Pure.
 */
import { applyHead, type Head } from '../src/inference/head.js';
import { NgramFeaturizer, type NgramConfig } from '../src/inference/ngrams.js';
import { textSha256 } from '../src/review/split.js';
import { fitHead, type FitCategory } from '../src/tuning/math/fit.js';

export interface Labelled {
  text: string;
  labels: Record<string, boolean>;
}

export interface SupervisedOptions {
  l2: number[];
  folds: number;
  seed: number;
  ngrams: { config: NgramConfig; minDf: number };
}

/** Fits the reference; returns a scorer (per text, per category: the logit) or null for a category it could not fit. */
export function fitSupervised(train: Labelled[], categories: string[], o: SupervisedOptions): (texts: string[]) => Record<string, number>[] {
  const featurizer = new NgramFeaturizer(o.ngrams.config);
  const rows = featurizer.rows(train.map((t) => t.text));
  const C = categories.length;
  const zero: Head = { numLabels: C, dim: 0, weight: new Float32Array(0), bias: new Float32Array(C), lexical: null };
  const cats: FitCategory[] = [];
  categories.forEach((category, row) => {
    const sign = Int8Array.from(train, (t) => (t.labels[category] ? 1 : -1));
    const pos = sign.filter((s) => s > 0).length;
    const n = sign.length;
    if (pos < 3 || n - pos < 3) return;
    // Class-weighted: each category's positives and negatives weigh the same in total.
    cats.push({
      category,
      row,
      item: Int32Array.from({ length: n }, (_, i) => i),
      sign,
      weight: Float64Array.from(sign, (s) => (s > 0 ? n / (2 * pos) : n / (2 * (n - pos)))),
      zRef: new Float64Array(n),
    });
  });
  const head = cats.length
    ? fitHead(
        zero,
        { dim: 0, features: new Float32Array(0), itemIds: train.map((t) => textSha256(t.text)), ngrams: rows, categories: cats },
        {
          loss: 'none',
          labelSmoothing: 0,
          beta: [1],
          rpoAlpha: 1,
          l2: o.l2,
          experts: { backbone: false, lexical: true },
          folds: o.folds,
          select: true,
          calibration: 'none',
          ngrams: { config: o.ngrams.config, minDf: o.ngrams.minDf, rarePenalty: 0 },
          seed: o.seed,
          maxIterations: 1000,
        },
      ).head
    : zero;
  const fitted = new Set(cats.map((c) => c.category));
  return (texts) => {
    const logits = applyHead(head, new Float32Array(0), texts.length, null, featurizer.rows(texts));
    return texts.map((_, i) => Object.fromEntries(categories.map((c, k) => [c, fitted.has(c) ? logits[i * C + k] : NaN])));
  };
}
