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

/**
 * Area under the ROC curve: the probability that a random positive scores above a random negative
 * (ties count one half), by ranks. Null unless there are positives and negatives.
 */
export function auroc(truth: ArrayLike<boolean>, scores: ArrayLike<number>): number | null {
  const n = truth.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (truth[order[k]]) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** P(X ≤ k) for X ~ Binomial(n, p), summed in log space so large n does not underflow. */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  // log P(X = 0), then each term from the previous one.
  let l = n * lq;
  let logSum = l;
  for (let i = 0; i < k; i++) {
    l += Math.log(n - i) - Math.log(i + 1) + lp - lq;
    const hi = Math.max(logSum, l);
    logSum = hi + Math.log(Math.exp(logSum - hi) + Math.exp(l - hi));
  }
  return Math.min(1, Math.exp(logSum));
}

/**
 * Clopper–Pearson (exact) interval for a binomial proportion: k successes in n trials, coverage at
 * least `confidence` (two-sided). Bisection on the binomial tails.
 */
export function clopperPearson(k: number, n: number, confidence: number): { lower: number; upper: number } {
  if (n === 0) return { lower: 0, upper: 1 };
  const a = (1 - confidence) / 2;
  const solve = (f: (p: number) => number): number => {
    // f increases from negative to positive over (0, 1).
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (f(mid) < 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  // lower: P(X ≥ k | p) = a, i.e. 1 − P(X ≤ k − 1 | p) − a, increasing in p.
  const lower = k === 0 ? 0 : solve((p) => 1 - binomialCdf(k - 1, n, p) - a);
  // upper: P(X ≤ k | p) = a; a − P(X ≤ k | p) increases in p.
  const upper = k === n ? 1 : solve((p) => a - binomialCdf(k, n, p));
  return { lower, upper };
}

/**
 * A confidence interval for the change in a paired proportion, (c − b) / n: n paired outcomes, b right
 * only before, c right only after. Exact and conditional on the m = b + c discordant pairs (the interval
 * McNemar's exact test inverts): c ~ Binomial(m, π), change = m(2π − 1)/n, π from Clopper–Pearson.
 */
export function pairedChangeInterval(b: number, c: number, n: number, confidence: number): { estimate: number; lower: number; upper: number } {
  const m = b + c;
  if (n === 0) return { estimate: 0, lower: 0, upper: 0 };
  if (m === 0) return { estimate: 0, lower: 0, upper: 0 };
  const pi = clopperPearson(c, m, confidence);
  return { estimate: (c - b) / n, lower: (m * (2 * pi.lower - 1)) / n, upper: (m * (2 * pi.upper - 1)) / n };
}
