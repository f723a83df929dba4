/** Classification metrics and McNemar's exact test, pure. */

/**
 * McNemar's exact test (two-sided) on paired right/wrong outcomes: b = pairs the first classifier got
 * right and the second wrong, c = the reverse. Under H0 the discordant pairs split Binomial(b + c, ½);
 * p = min(1, 2·P(X ≤ min(b, c))). Computed in log space so large n does not underflow.
 */
export function mcnemarExact(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const m = Math.min(b, c);
  let logPmf = -n * Math.LN2;
  let logCdf = logPmf;
  for (let k = 0; k < m; k++) {
    logPmf += Math.log(n - k) - Math.log(k + 1);
    const hi = Math.max(logCdf, logPmf);
    logCdf = hi + Math.log(Math.exp(logCdf - hi) + Math.exp(logPmf - hi));
  }
  return Math.min(1, 2 * Math.exp(logCdf));
}

export interface BinaryMetrics {
  n: number;
  positives: number;
  accuracy: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** Average precision (area under the precision-recall curve, step-wise); null without positives. */
  auprc: number | null;
}

export function binaryMetrics(truth: ArrayLike<boolean>, scores: ArrayLike<number>, threshold: number): BinaryMetrics {
  const n = truth.length;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < n; i++) {
    const pred = scores[i] >= threshold;
    if (pred && truth[i]) tp++;
    else if (pred) fp++;
    else if (truth[i]) fn++;
    else tn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : null;
  const recall = tp + fn > 0 ? tp / (tp + fn) : null;
  const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : null;
  return {
    n,
    positives: tp + fn,
    accuracy: n ? (tp + tn) / n : null,
    precision,
    recall,
    f1,
    auprc: averagePrecision(truth, scores),
  };
}

/** AP = Σ_k (R_k − R_{k−1}) P_k over the distinct score thresholds, highest first (as scikit-learn). */
export function averagePrecision(truth: ArrayLike<boolean>, scores: ArrayLike<number>): number | null {
  const n = truth.length;
  let positives = 0;
  for (let i = 0; i < n; i++) if (truth[i]) positives++;
  if (positives === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let tp = 0;
  let fp = 0;
  let prevRecall = 0;
  let ap = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (truth[i]) tp++;
    else fp++;
    // Only at the end of a run of tied scores is there a threshold.
    if (k + 1 < n && scores[order[k + 1]] === scores[i]) continue;
    const recall = tp / positives;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}
