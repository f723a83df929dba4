/**
 * Thresholds from evidence. The evidence is the blind audit sample: every decision is drawn for an audit
 * with the same chance (`audit_rate`) before its scores are looked at, so the audited items are a simple
 * random sample of the traffic and their settled labels estimate precision and recall at any threshold
 * without weights. Each estimate carries its exact (Clopper–Pearson) interval and the counts it rests on.
 * Pure.
 */
import { clopperPearson } from '../tuning/math/stats.js';

export interface Scored {
  score: number;
  truth: boolean;
}

export interface Interval {
  estimate: number | null;
  lower: number;
  upper: number;
}

export interface CurvePoint {
  threshold: number;
  /** Audited items at or above the threshold, and how many of them the moderators flagged. */
  flagged: number;
  truePositives: number;
  precision: Interval;
  recall: Interval;
}

export interface Target {
  metric: 'precision' | 'recall';
  value: number;
}

export type Suggestion =
  | { met: true; threshold: number; point: CurvePoint; rule: string }
  | { met: false; reason: string; moreAudits: number | null };

function interval(k: number, n: number, confidence: number): Interval {
  const ci = clopperPearson(k, n, confidence);
  return { estimate: n > 0 ? k / n : null, lower: ci.lower, upper: ci.upper };
}

/** Precision and recall at `threshold` (flag when score ≥ threshold). */
export function pointAt(cells: readonly Scored[], threshold: number, confidence: number): CurvePoint {
  let flagged = 0;
  let tp = 0;
  let positives = 0;
  for (const c of cells) {
    if (c.truth) positives++;
    if (c.score >= threshold) {
      flagged++;
      if (c.truth) tp++;
    }
  }
  return { threshold, flagged, truePositives: tp, precision: interval(tp, flagged, confidence), recall: interval(tp, positives, confidence) };
}

/**
 * The candidate thresholds: every distinct score of the sample (a threshold between two scores changes
 * nothing on it), thinned to at most `max` by rank when there are more, plus the extra ones given (the
 * policy's current threshold).
 */
export function candidateThresholds(cells: readonly Scored[], max = 60, extra: number[] = []): number[] {
  const scores = [...new Set(cells.map((c) => c.score))].sort((a, b) => a - b);
  const picked = scores.length <= max ? scores : Array.from({ length: max }, (_, i) => scores[Math.round((i * (scores.length - 1)) / (max - 1))]);
  return [...new Set([...picked, ...extra])].sort((a, b) => a - b);
}

export function curve(cells: readonly Scored[], thresholds: number[], confidence: number): CurvePoint[] {
  return thresholds.map((t) => pointAt(cells, t, confidence));
}

/**
 * The threshold that meets a target with confidence: for precision, among the thresholds whose precision
 * interval lies above the target, the one with the most recall (the highest of equals); for recall, the highest threshold (most precision) whose
 * recall interval does. When none does: why, and roughly how many more audits would let the best
 * candidate's interval clear the target if its estimate held (null when no threshold's estimate reaches it).
 */
export function suggest(cells: readonly Scored[], target: Target, confidence: number, thresholds = candidateThresholds(cells), current?: number): Suggestion {
  const points = curve(cells, thresholds, confidence);
  const of = (p: CurvePoint) => (target.metric === 'precision' ? p.precision : p.recall);
  const meeting = points.filter((p) => of(p).estimate !== null && of(p).lower >= target.value);
  // Precision: the most recall among the thresholds that meet it (the highest of those with that recall);
  // recall: the highest threshold that meets it (the most precision it leaves).
  // Among equals (the same counts on the evidence), the one nearest the current threshold: the evidence
  // gives no reason to move further.
  const near = (p: CurvePoint) => (current === undefined ? -p.threshold : Math.abs(p.threshold - current));
  const met =
    target.metric === 'precision'
      ? meeting.reduce<CurvePoint | undefined>((best, p) => {
          if (!best || p.truePositives > best.truePositives) return p;
          if (p.truePositives < best.truePositives) return best;
          // The same recall: fewer false positives, then nearer the current threshold.
          return p.flagged < best.flagged || (p.flagged === best.flagged && near(p) < near(best)) ? p : best;
        }, undefined)
      : meeting.at(-1);
  const rule =
    target.metric === 'precision'
      ? `the threshold with the most recall whose ${Math.round(confidence * 100)}% interval for precision lies above ${target.value} (then the fewest flagged, then the nearest the current one)`
      : `the highest threshold whose ${Math.round(confidence * 100)}% interval for recall lies above ${target.value}`;
  if (met) return { met: true, threshold: met.threshold, point: met, rule };
  const positives = cells.filter((c) => c.truth).length;
  // The candidate with the most evidence among those whose estimate reaches the target.
  const reaching = points.filter((p) => (of(p).estimate ?? -1) >= target.value);
  if (reaching.length === 0) {
    return {
      met: false,
      reason: `no threshold's estimated ${target.metric} reaches ${target.value} on ${cells.length} audited items (${positives} flagged by moderators): more audits will not change that unless the head improves`,
      moreAudits: null,
    };
  }
  const best = reaching.reduce((a, b) => ((target.metric === 'precision' ? a.flagged : a.truePositives) >= (target.metric === 'precision' ? b.flagged : b.truePositives) ? a : b));
  const p = of(best).estimate!;
  const n = target.metric === 'precision' ? best.flagged : positives;
  // The smallest sample of that kind at which the interval's lower end clears the target, at the same estimate.
  let need = n;
  while (need < 1_000_000 && clopperPearson(Math.round(p * need), need, confidence).lower < target.value) need = Math.ceil(need * 1.25) + 1;
  const share = n / Math.max(1, cells.length);
  return {
    met: false,
    reason:
      `not enough evidence: at threshold ${best.threshold.toFixed(3)} the estimated ${target.metric} is ${p.toFixed(3)} ` +
      `but its ${Math.round(confidence * 100)}% interval goes down to ${of(best).lower.toFixed(3)} (${n} ${target.metric === 'precision' ? 'flagged' : 'positive'} audited items)`,
    moreAudits: need >= 1_000_000 ? null : Math.max(1, Math.ceil((need - n) / Math.max(share, 1e-9))),
  };
}
