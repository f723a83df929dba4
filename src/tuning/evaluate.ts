/**
 * Evaluation of heads on the eval split and the promotion gate. Pure: the caller loads the eval cells.
 * Both heads are scored by the one scorer that serves them (src/models/scorer.ts), and compared by the
 * one measure the search also uses (src/tuning/measure.ts): AUPRC per category on items, and calibrated
 * accuracy at the policy's thresholds, with intervals over items.
 */
import type { Scorer, ScoringInput } from '../models/scorer.js';
import { scoringInput, type EvalSet } from './dataset.js';
import { compareHeads, type Comparison, type Interval, type MeasureOptions } from './measure.js';
import { binaryMetrics, mcnemarExact, pairedChangeInterval, type BinaryMetrics } from './stats.js';

export interface HeadReport {
  accuracy: number | null;
  cells: number;
  categories: Record<string, BinaryMetrics>;
}

/** Per category, on its positive eval cells: which head caught what the other missed. */
export interface RecallComparison {
  positives: number;
  /** Positives the active head flagged and the candidate did not. */
  active_only: number;
  /** Positives the candidate flagged and the active head did not. */
  candidate_only: number;
  /** McNemar's exact test on those two counts. */
  p_value: number;
}

export interface EvalReport {
  items: number;
  cells: number;
  /** The one measure: both heads and the change, with intervals over items (see measure.ts). */
  measure: Comparison;
  active: HeadReport;
  candidate: HeadReport;
  mcnemar: { b_active_right_candidate_wrong: number; c_active_wrong_candidate_right: number; p_value: number };
  recall: Record<string, RecallComparison>;
  /** The same comparison on the trusted eval set only (blind audits with concurring or trusted reviewers). */
  trusted: { cells: number; active_accuracy: number | null; candidate_accuracy: number | null; active_only: number; candidate_only: number };
}

/** Each eval cell's category score under `scorer` (`input`: the eval items, built once for both heads). */
export function cellScores(scorer: Scorer, set: EvalSet, input: ScoringInput = scoringInput(set.items)): Float64Array {
  const perItem = scorer.score(input);
  return Float64Array.from(set.item, (k, i) => perItem[k][set.category[i]] ?? 0);
}

function report(set: EvalSet, s: Float64Array): HeadReport {
  const n = set.truth.length;
  let right = 0;
  for (let i = 0; i < n; i++) if (s[i] >= set.threshold[i] === set.truth[i]) right++;
  const categories: Record<string, BinaryMetrics> = {};
  for (const cat of [...new Set(set.category)].sort()) {
    const idx = set.category.flatMap((c, i) => (c === cat ? [i] : []));
    categories[cat] = binaryMetrics(
      idx.map((i) => set.truth[i]),
      idx.map((i) => s[i]),
      set.threshold[idx[0]],
    );
  }
  return { accuracy: n ? right / n : null, cells: n, categories };
}

export function evaluateHeads(active: Scorer, candidate: Scorer, set: EvalSet, measure: MeasureOptions): EvalReport {
  const input = scoringInput(set.items);
  const sa = cellScores(active, set, input);
  const sc = cellScores(candidate, set, input);
  const comparison = compareHeads({ items: set.items.n, item: set.item, category: set.category, truth: set.truth, threshold: set.threshold }, sa, sc, measure);
  let b = 0;
  let c = 0;
  const recall: Record<string, RecallComparison> = {};
  for (let i = 0; i < set.truth.length; i++) {
    const fa = sa[i] >= set.threshold[i];
    const fc = sc[i] >= set.threshold[i];
    const ra = fa === set.truth[i];
    const rc = fc === set.truth[i];
    if (ra && !rc) b++;
    else if (!ra && rc) c++;
    if (set.truth[i]) {
      const r = (recall[set.category[i]] ??= { positives: 0, active_only: 0, candidate_only: 0, p_value: 1 });
      r.positives++;
      if (fa && !fc) r.active_only++;
      else if (fc && !fa) r.candidate_only++;
    }
  }
  for (const r of Object.values(recall)) r.p_value = mcnemarExact(r.active_only, r.candidate_only);
  const trusted = { cells: 0, active_accuracy: null as number | null, candidate_accuracy: null as number | null, active_only: 0, candidate_only: 0 };
  let ta = 0;
  let tc = 0;
  for (let i = 0; i < set.truth.length; i++) {
    if (!set.trusted[i]) continue;
    const ra = sa[i] >= set.threshold[i] === set.truth[i];
    const rc = sc[i] >= set.threshold[i] === set.truth[i];
    trusted.cells++;
    if (ra) ta++;
    if (rc) tc++;
    if (ra && !rc) trusted.active_only++;
    else if (rc && !ra) trusted.candidate_only++;
  }
  if (trusted.cells) {
    trusted.active_accuracy = ta / trusted.cells;
    trusted.candidate_accuracy = tc / trusted.cells;
  }
  return {
    items: set.items.n,
    cells: set.truth.length,
    measure: comparison,
    active: report(set, sa),
    candidate: report(set, sc),
    mcnemar: { b_active_right_candidate_wrong: b, c_active_wrong_candidate_right: c, p_value: mcnemarExact(b, c) },
    recall,
    trusted,
  };
}

export interface GateSettings {
  max_auprc_drop: number;
  max_accuracy_drop: number;
  min_auprc_positives: number;
  resamples: number;
  max_recall_drop: number;
  /** A category's recall is checked only with at least this many positive eval cells. */
  min_positives: number;
  /** The trusted-set check runs with at least this many trusted eval cells. */
  min_trusted_cells: number;
  max_p_value: number | null;
  /** Coverage of every interval the gate reads. */
  confidence: number;
}

/** The measure's settings a gate implies (the seed makes the bootstrap reproducible). */
export function measureOptions(g: GateSettings, seed: number): MeasureOptions {
  return { minPositives: g.min_auprc_positives, confidence: g.confidence, resamples: g.resamples, seed };
}

export interface GateCheck {
  check: string;
  passed: boolean;
  detail: string;
}

/**
 * What the evidence says about the candidate's AUPRC against the active head's: `better` (the whole
 * interval above 0), `not_worse` (it rules out a drop of more than the margin), `worse` (the whole
 * interval below −margin) or `undecided` (too wide to tell: the run waits for more reviews).
 */
export type Verdict = 'better' | 'not_worse' | 'worse' | 'undecided';

export interface Evidence {
  verdict: Verdict;
  measure: 'auprc';
  items: number;
  ranked: { category: string; positives: number }[];
  active: number | null;
  candidate: number | null;
  change: Interval | null;
  margin: number;
  confidence: number;
  resamples: number;
}

export interface GateDecision {
  passed: boolean;
  /** The evidence rule's reading of the one measure (shown on the dashboard). */
  evidence: Evidence;
  checks: GateCheck[];
  /** The failed checks' details: why a candidate was rejected. */
  reasons: string[];
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);
const num = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));
const pp = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}`;
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;

export function verdictOf(change: Interval | null, margin: number): Verdict {
  if (!change) return 'undecided';
  if (change.lower > 0) return 'better';
  if (change.lower >= -margin - 1e-12) return 'not_worse';
  if (change.upper < -margin) return 'worse';
  return 'undecided';
}

/**
 * The gate. The first check is the evidence rule on the one measure: the candidate promotes only when
 * the interval over eval items for its change in AUPRC rules out a drop of more than `max_auprc_drop`,
 * however few items that takes (a clearly better head on a few dozen), and waits while the interval is
 * too wide to tell. Beside it, checks that fail only on confident harm: accuracy at the policy's
 * thresholds, each category's recall (where it has `min_positives`), and the trusted eval set.
 */
export function gate(r: EvalReport, g: GateSettings): GateDecision {
  const checks: GateCheck[] = [];
  const level = `${Math.round(g.confidence * 100)}%`;
  const m = r.measure;
  const change = m.change.auprc;
  const verdict = verdictOf(change, g.max_auprc_drop);
  const ranked = m.ranked.map((x) => `${x.category} (${x.positives} positive${x.positives === 1 ? '' : 's'})`).join(', ');
  const interval = change ? `change ${signed(change.estimate)}, ${level} interval [${signed(change.lower)}, ${signed(change.upper)}]` : 'no change to measure';
  const head = `AUPRC ${num(m.candidate.auprc)} vs active ${num(m.active.auprc)} on ${m.items} eval items`;
  const basis = `mean over ${ranked || `no category: none has ${g.min_auprc_positives} positive eval items and a negative`}; ${m.resamples} paired bootstrap resamples of the items`;
  const what: Record<Verdict, string> = {
    better: 'better: the whole interval is above 0',
    not_worse: `not worse: the interval rules out a drop of more than ${g.max_auprc_drop}`,
    worse: `worse: the whole interval is below −${g.max_auprc_drop}`,
    undecided: `undecided: the interval is too wide to rule out a drop of more than ${g.max_auprc_drop}; the run waits for more reviewed items`,
  };
  checks.push({
    check: 'evidence',
    passed: verdict === 'better' || verdict === 'not_worse',
    detail: `${head}: ${interval} (${basis}): ${what[verdict]}`,
  });
  const acc = m.change.accuracy;
  checks.push({
    check: 'accuracy',
    passed: acc === null || acc.upper >= -g.max_accuracy_drop - 1e-12,
    detail:
      `accuracy at the policy's thresholds ${pct(m.candidate.accuracy)} vs active ${pct(m.active.accuracy)} per eval item` +
      (acc ? `: change ${pp(acc.estimate)} points, ${level} interval [${pp(acc.lower)}, ${pp(acc.upper)}]` : '') +
      ` (fails when the whole interval is below ${pp(-g.max_accuracy_drop)})`,
  });
  for (const [cat, mc] of Object.entries(r.active.categories)) {
    const before = mc.recall;
    const after = r.candidate.categories[cat]?.recall ?? null;
    if (before === null || after === null) continue;
    const paired = r.recall[cat] ?? { positives: mc.positives, active_only: 0, candidate_only: 0, p_value: 1 };
    const auprc = `AUPRC ${num(r.candidate.categories[cat]?.auprc)} vs ${num(mc.auprc)}`;
    if (paired.positives < g.min_positives) {
      checks.push({
        check: `max_recall_drop:${cat}`,
        passed: true,
        detail:
          `${cat} recall ${pct(after)} vs active ${pct(before)} rests on ${paired.positives} positive${paired.positives === 1 ? '' : 's'}: ` +
          `not checked (fewer than min_positives ${g.min_positives}); ${auprc}`,
      });
      continue;
    }
    const ci = pairedChangeInterval(paired.active_only, paired.candidate_only, paired.positives, g.confidence);
    // The drop is −change: its lower bound is −ci.upper.
    const dropLower = -ci.upper;
    checks.push({
      check: `max_recall_drop:${cat}`,
      passed: dropLower <= g.max_recall_drop + 1e-12,
      detail:
        `${cat} recall ${pct(after)} vs active ${pct(before)} on ${paired.positives} positives: change ${pp(ci.estimate)} points, ` +
        `${level} interval [${pp(ci.lower)}, ${pp(ci.upper)}] (${paired.active_only} caught only by the active head, ${paired.candidate_only} only by the candidate; ` +
        `fails when the whole interval is below ${pp(-g.max_recall_drop)}); ${auprc}`,
    });
  }
  // The trusted set: labels a bad batch cannot have written (blind, concurring or trusted reviewers). The
  // candidate must not be confidently worse there at all, whatever the recent eval labels say.
  const t = r.trusted;
  if (t.cells < g.min_trusted_cells) {
    checks.push({
      check: 'trusted_no_regression',
      passed: true,
      detail: `${t.cells} trusted eval cells (blind audits with two concurring reviewers or a trusted one): not checked (fewer than min_trusted_cells ${g.min_trusted_cells})`,
    });
  } else {
    const ci = pairedChangeInterval(t.active_only, t.candidate_only, t.cells, g.confidence);
    checks.push({
      check: 'trusted_no_regression',
      passed: ci.upper >= -1e-12,
      detail:
        `trusted eval set: candidate accuracy ${pct(t.candidate_accuracy)} vs active ${pct(t.active_accuracy)} on ${t.cells} cells, change ${pp(ci.estimate)} points, ` +
        `${level} interval [${pp(ci.lower)}, ${pp(ci.upper)}] (${t.active_only} right only for the active head, ${t.candidate_only} only for the candidate; fails when the whole interval is below 0)`,
    });
  }
  if (g.max_p_value !== null) {
    const p = r.mcnemar.p_value;
    const b = r.mcnemar.b_active_right_candidate_wrong;
    const w = r.mcnemar.c_active_wrong_candidate_right;
    checks.push({
      check: 'max_p_value',
      passed: p <= g.max_p_value && w > b,
      detail: `McNemar p = ${p.toPrecision(3)} (need ≤ ${g.max_p_value}, in the candidate's favour; b = ${b}, c = ${w})`,
    });
  }
  const failed = checks.filter((x) => !x.passed);
  return {
    passed: failed.length === 0,
    evidence: {
      verdict,
      measure: 'auprc',
      items: m.items,
      ranked: m.ranked,
      active: m.active.auprc,
      candidate: m.candidate.auprc,
      change,
      margin: g.max_auprc_drop,
      confidence: g.confidence,
      resamples: m.resamples,
    },
    checks,
    reasons: failed.map((x) => x.detail),
  };
}
