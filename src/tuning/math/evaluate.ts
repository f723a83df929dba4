/**
 * Evaluation of heads on the eval split and the promotion gate. Pure: the caller loads the eval cells.
 * Both heads are scored by the one scorer that serves them (src/models/scorer.ts), and compared by the
 * one measure the search also uses (src/tuning/math/measure.ts): AUPRC per category on items, and calibrated
 * accuracy at the policy's thresholds, with intervals over items.
 */
import type { Scorer, ScoringInput } from '../../models/scorer.js';
import { scoringInput, type EvalSet } from './dataset.js';
import { compareHeads, effectiveItems, type Comparison, type Interval, type MeasureCells, type MeasureOptions } from './measure.js';
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

/** Train cells new to the active head, scored by both (the candidate out-of-fold): more evidence for the gate. */
export interface FreshEvidence {
  cells: MeasureCells;
  active: Float64Array;
  candidate: Float64Array;
}

/**
 * How the items were weighed: each by the inverse of its chance of review, so the routed items (all of
 * which are reviewed) do not outweigh the audited rest of the traffic. `effective_items`: Kish's
 * effective sample size, (Σw)² / Σw²; `unweighted`: how many items carry weight 1 (routed for certain,
 * appeals, or tasks from before the chance was stored).
 */
export interface Weighting {
  scheme: 'inverse inclusion probability';
  items: number;
  effective_items: number;
  unweighted: number;
}

export interface EvalReport {
  items: number;
  cells: number;
  /**
   * The one measure, on the evidence the gate reads: the eval split and the train items new to the
   * active head (candidate out-of-fold); both heads and the change, with intervals over items.
   */
  measure: Comparison & { sources: { eval_items: number; new_train_items: number }; weighting: Weighting };
  /** The same on the eval split alone. */
  measure_eval_split: Comparison;
  active: HeadReport;
  candidate: HeadReport;
  mcnemar: { b_active_right_candidate_wrong: number; c_active_wrong_candidate_right: number; p_value: number };
  recall: Record<string, RecallComparison>;
  /** The same comparison on the trusted eval set only (blind audits with concurring or trusted reviewers). */
  trusted: {
    cells: number;
    active_accuracy: number | null;
    candidate_accuracy: number | null;
    active_only: number;
    candidate_only: number;
    /** Per category: a candidate that changes the trusted answers of one category is caught there. */
    categories: Record<string, { cells: number; active_only: number; candidate_only: number }>;
  };
}

/** Each eval cell's category score under `scorer` (`input`: the eval items, built once for both heads). */
export function cellScores(scorer: Scorer, set: EvalSet, input: ScoringInput = scoringInput(set.items)): Float64Array {
  const perItem = scorer.score(input);
  return Float64Array.from(set.item, (k, i) => perItem[k][set.category[i]] ?? 0);
}

function report(set: EvalCells, s: Float64Array): HeadReport {
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

export function evaluateHeads(active: Scorer, candidate: Scorer, set: EvalSet, measure: MeasureOptions, fresh?: FreshEvidence): EvalReport {
  const input = scoringInput(set.items);
  return evaluateScores(set, cellScores(active, set, input), cellScores(candidate, set, input), measure, fresh);
}

/** The eval cells the report reads (an EvalSet without its items' inputs). */
export type EvalCells = Pick<EvalSet, 'item' | 'category' | 'truth' | 'threshold' | 'trusted' | 'weight'> & { items: { n: number } };

/** {@link evaluateHeads} on the two heads' scores of each eval cell. Pure. */
export function evaluateScores(set: EvalCells, sa: Float64Array, sc: Float64Array, measure: MeasureOptions, fresh?: FreshEvidence): EvalReport {
  const evalCells: MeasureCells = { items: set.items.n, item: set.item, category: set.category, truth: set.truth, threshold: set.threshold, weight: set.weight };
  const evalOnly = compareHeads(evalCells, sa, sc, measure);
  const pooled = fresh ? pool(evalCells, sa, sc, fresh) : null;
  const comparison = pooled ? compareHeads(pooled.cells, pooled.active, pooled.candidate, measure) : evalOnly;
  const read = pooled ? pooled.cells : evalCells;
  const weighting: Weighting = {
    scheme: 'inverse inclusion probability',
    items: read.items,
    effective_items: effectiveItems(read),
    unweighted: read.weight ? read.weight.filter((w) => w === 1).length : read.items,
  };
  const freshItems = fresh ? new Set(fresh.cells.item).size : 0;
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
  const trusted: EvalReport['trusted'] = { cells: 0, active_accuracy: null, candidate_accuracy: null, active_only: 0, candidate_only: 0, categories: {} };
  let ta = 0;
  let tc = 0;
  for (let i = 0; i < set.truth.length; i++) {
    if (!set.trusted[i]) continue;
    const ra = sa[i] >= set.threshold[i] === set.truth[i];
    const rc = sc[i] >= set.threshold[i] === set.truth[i];
    trusted.cells++;
    const tcat = (trusted.categories[set.category[i]] ??= { cells: 0, active_only: 0, candidate_only: 0 });
    tcat.cells++;
    if (ra) ta++;
    if (rc) tc++;
    if (ra && !rc) {
      trusted.active_only++;
      tcat.active_only++;
    } else if (rc && !ra) {
      trusted.candidate_only++;
      tcat.candidate_only++;
    }
  }
  if (trusted.cells) {
    trusted.active_accuracy = ta / trusted.cells;
    trusted.candidate_accuracy = tc / trusted.cells;
  }
  return {
    items: set.items.n,
    cells: set.truth.length,
    measure: { ...comparison, sources: { eval_items: set.items.n, new_train_items: freshItems }, weighting },
    measure_eval_split: evalOnly,
    active: report(set, sa),
    candidate: report(set, sc),
    mcnemar: { b_active_right_candidate_wrong: b, c_active_wrong_candidate_right: c, p_value: mcnemarExact(b, c) },
    recall,
    trusted,
  };
}

/** Eval cells followed by the fresh train cells (their items numbered after the eval items). */
function pool(e: MeasureCells, sa: Float64Array, sc: Float64Array, f: FreshEvidence): { cells: MeasureCells; active: Float64Array; candidate: Float64Array } {
  const cat = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    const out = new Float64Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
  const item = new Int32Array(e.item.length + f.cells.item.length);
  item.set(e.item);
  f.cells.item.forEach((i, j) => (item[e.item.length + j] = e.items + i));
  return {
    cells: {
      items: e.items + f.cells.items,
      item,
      category: [...e.category, ...f.cells.category],
      truth: [...e.truth, ...f.cells.truth],
      threshold: cat(e.threshold, f.cells.threshold),
      weight: cat(e.weight ?? new Float64Array(e.items).fill(1), f.cells.weight ?? new Float64Array(f.cells.items).fill(1)),
    },
    active: cat(sa, f.active),
    candidate: cat(sc, f.candidate),
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
 * What the evidence says about the candidate against the active head, on both parts of the measure:
 * `better` (neither part can have dropped beyond its margin, and one is confidently up), `not_worse`
 * (neither can have dropped beyond its margin), `worse` (one confidently dropped beyond its margin) or
 * `undecided` (the intervals are too wide to tell: the run waits for more reviews).
 */
export type Verdict = 'better' | 'not_worse' | 'worse' | 'undecided';

export interface Evidence {
  verdict: Verdict;
  measure: 'auprc+accuracy';
  /** Items the intervals rest on: the eval split plus the train items new to the active head. */
  items: number;
  sources: { eval_items: number; new_train_items: number };
  weighting: Weighting;
  ranked: { category: string; positives: number }[];
  active: { auprc: number | null; accuracy: number | null };
  candidate: { auprc: number | null; accuracy: number | null };
  change: { auprc: Interval | null; accuracy: Interval | null };
  margins: { auprc: number; accuracy: number };
  confidence: number;
  resamples: number;
  /**
   * Undecided only: about how many more reviewed items (at this mix) would let the intervals clear the
   * margins if the estimated changes held (half-widths shrink as 1/√items); null when an estimate is itself
   * beyond its margin, where more items would more likely decide "worse".
   */
  more_items?: number | null;
}

/** {@link Evidence.more_items}: n · max over the parts of (half-width / room to the margin)² − n. */
export function moreItemsToDecide(items: number, change: { auprc: Interval | null; accuracy: Interval | null }, margins: { auprc: number; accuracy: number }): number | null {
  let factor = 1;
  for (const [iv, margin] of [
    [change.auprc, margins.auprc],
    [change.accuracy, margins.accuracy],
  ] as const) {
    if (!iv) return null;
    if (iv.lower >= -margin) continue;
    const room = iv.estimate + margin;
    if (room <= 0) return null;
    factor = Math.max(factor, ((iv.estimate - iv.lower) / room) ** 2);
  }
  return Math.max(1, Math.ceil(items * factor) - items);
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
const waitFor = (n: number | null) =>
  n === null ? ' (an estimated change is itself beyond its margin: more items would more likely show it worse)' : ` (about ${n} more, at this mix, if the estimated changes hold)`;
const num = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));
const pp = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}`;
/** A change with its sign, in the unit `f` writes (points for a share, 3 decimals for AUPRC). */
const signedBy = (x: number, f: (x: number) => string) => `${x >= 0 ? '+' : '−'}${f(Math.abs(x))}`;

export function verdictOf(auprc: Interval | null, accuracy: Interval | null, margins: { auprc: number; accuracy: number }): Verdict {
  if (!auprc || !accuracy) return 'undecided';
  if (auprc.upper < -margins.auprc || accuracy.upper < -margins.accuracy) return 'worse';
  const nonInferior = auprc.lower >= -margins.auprc - 1e-12 && accuracy.lower >= -margins.accuracy - 1e-12;
  if (!nonInferior) return 'undecided';
  return auprc.lower > 0 || accuracy.lower > 0 ? 'better' : 'not_worse';
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
  const margins = { auprc: g.max_auprc_drop, accuracy: g.max_accuracy_drop };
  const verdict = verdictOf(m.change.auprc, m.change.accuracy, margins);
  const ranked = m.ranked.map((x) => `${x.category} (${x.positives} positive${x.positives === 1 ? '' : 's'})`).join(', ');
  const part = (name: string, a: number | null, c: number | null, ch: Interval | null, f: (x: number) => string) =>
    `${name} ${a === null || c === null ? 'n/a' : `${f(c)} vs active ${f(a)}`}${ch ? `: change ${signedBy(ch.estimate, f)}, ${level} interval [${signedBy(ch.lower, f)}, ${signedBy(ch.upper, f)}]` : ''}`;
  const basis =
    `${m.items} items (${m.sources.eval_items} eval, ${m.sources.new_train_items} train items new to the active head, scored out-of-fold; ` +
    `each weighted by the inverse of its chance of review, ${m.weighting.unweighted} of weight 1: effective ${m.weighting.effective_items.toFixed(0)} items); ` +
    `AUPRC mean over ${ranked || `no category: none has ${g.min_auprc_positives} positive items and a negative`}; ${m.resamples} paired bootstrap resamples of the items`;
  const what: Record<Verdict, string> = {
    better: `better: neither can have dropped beyond its margin (AUPRC ${g.max_auprc_drop}, accuracy ${g.max_accuracy_drop}) and one is confidently up`,
    not_worse: `not worse: neither can have dropped beyond its margin (AUPRC ${g.max_auprc_drop}, accuracy ${g.max_accuracy_drop})`,
    worse: `worse: confidently down by more than its margin (AUPRC ${g.max_auprc_drop}, accuracy ${g.max_accuracy_drop})`,
    undecided: `undecided: the intervals are too wide to rule out a drop beyond the margins (AUPRC ${g.max_auprc_drop}, accuracy ${g.max_accuracy_drop}); the run waits for more reviewed items${waitFor(moreItemsToDecide(m.items, m.change, margins))}`,
  };
  checks.push({
    check: 'evidence',
    passed: verdict === 'better' || verdict === 'not_worse',
    detail:
      `${part('AUPRC', m.active.auprc, m.candidate.auprc, m.change.auprc, (x) => x.toFixed(3))}; ` +
      `${part("accuracy at the policy's thresholds", m.active.accuracy, m.candidate.accuracy, m.change.accuracy, (x) => `${(100 * x).toFixed(2)}%`)} ` +
      `(${basis}): ${what[verdict]}`,
  });
  // Each category with min_positives positive items: its AUPRC must not be confidently down by more than
  // the margin, whatever the mean over categories says (a head that gives up one category to gain on another).
  for (const rk of m.ranked) {
    const ch = m.categoryChange?.[rk.category] ?? null;
    if (!ch) continue;
    const enough = rk.positives >= g.min_positives;
    checks.push({
      check: `auprc:${rk.category}`,
      passed: !enough || ch.upper >= -g.max_auprc_drop - 1e-12,
      detail: enough
        ? `${rk.category} AUPRC ${num(m.candidate.categories[rk.category]?.auprc)} vs active ${num(m.active.categories[rk.category]?.auprc)} on ${rk.positives} positive items: ` +
          `change ${signedBy(ch.estimate, (x) => x.toFixed(3))}, ${level} interval [${signedBy(ch.lower, (x) => x.toFixed(3))}, ${signedBy(ch.upper, (x) => x.toFixed(3))}] ` +
          `(fails when the whole interval is below −${g.max_auprc_drop})`
        : `${rk.category} AUPRC rests on ${rk.positives} positive items: not checked alone (fewer than min_positives ${g.min_positives})`,
    });
  }
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
  // ...and in each category: a candidate that flips the trusted answers of one slice is rejected there.
  for (const [cat, tcat] of Object.entries(t.categories ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (tcat.cells < g.min_trusted_cells) continue;
    const ci = pairedChangeInterval(tcat.active_only, tcat.candidate_only, tcat.cells, g.confidence);
    checks.push({
      check: `trusted_no_regression:${cat}`,
      passed: ci.upper >= -1e-12,
      detail:
        `trusted eval set, ${cat}: ${tcat.cells} cells, change ${pp(ci.estimate)} points, ${level} interval [${pp(ci.lower)}, ${pp(ci.upper)}] ` +
        `(${tcat.active_only} right only for the active head, ${tcat.candidate_only} only for the candidate; fails when the whole interval is below 0)`,
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
      measure: 'auprc+accuracy',
      items: m.items,
      sources: m.sources,
      weighting: m.weighting,
      ranked: m.ranked,
      active: { auprc: m.active.auprc, accuracy: m.active.accuracy },
      candidate: { auprc: m.candidate.auprc, accuracy: m.candidate.accuracy },
      change: m.change,
      margins,
      ...(verdict === 'undecided' ? { more_items: moreItemsToDecide(m.items, m.change, margins) } : {}),
      confidence: g.confidence,
      resamples: m.resamples,
    },
    checks,
    reasons: failed.map((x) => x.detail),
  };
}
