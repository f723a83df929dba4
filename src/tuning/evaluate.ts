/**
 * Evaluation of heads on the eval split and the promotion gate. Pure: the caller loads the eval cells.
 * Both heads are scored by the one scorer that serves them (src/models/scorer.ts).
 */
import type { Scorer } from '../models/scorer.js';
import type { EvalSet } from './dataset.js';
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
  active: HeadReport;
  candidate: HeadReport;
  mcnemar: { b_active_right_candidate_wrong: number; c_active_wrong_candidate_right: number; p_value: number };
  recall: Record<string, RecallComparison>;
  /** The same comparison on the trusted eval set only (blind audits with concurring or trusted reviewers). */
  trusted: { cells: number; active_accuracy: number | null; candidate_accuracy: number | null; active_only: number; candidate_only: number };
}

/** Each eval cell's category score under `scorer`. */
export function cellScores(scorer: Scorer, set: EvalSet): Float64Array {
  const perItem = scorer.score(set.items);
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

export function evaluateHeads(active: Scorer, candidate: Scorer, set: EvalSet): EvalReport {
  const sa = cellScores(active, set);
  const sc = cellScores(candidate, set);
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
    active: report(set, sa),
    candidate: report(set, sc),
    mcnemar: { b_active_right_candidate_wrong: b, c_active_wrong_candidate_right: c, p_value: mcnemarExact(b, c) },
    recall,
    trusted,
  };
}

export interface GateSettings {
  min_improvement: number;
  max_recall_drop: number;
  /** A category's recall is checked only with at least this many positive eval cells. */
  min_positives: number;
  /** The trusted-set check runs with at least this many trusted eval cells. */
  min_trusted_cells: number;
  min_eval_items: number;
  max_p_value: number | null;
  /** Coverage of the intervals the accuracy and recall checks use. */
  confidence: number;
}

export interface GateCheck {
  check: string;
  passed: boolean;
  detail: string;
}

export interface GateDecision {
  passed: boolean;
  checks: GateCheck[];
  /** The failed checks' details: why a candidate was rejected. */
  reasons: string[];
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);
const num = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));
const pp = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}`;

/**
 * The gate. Accuracy and recall are proportions of eval cells; the two heads are compared on the same
 * cells, so their difference comes from the cells one got right and the other wrong, and with few of
 * those one item moves it by points. Each check therefore looks at a confidence interval for the
 * paired change (exact, conditional on the discordant cells) and fails only when the whole interval is
 * on the wrong side: the candidate is confidently below `active + min_improvement`, or a category's
 * recall confidently fell by more than `max_recall_drop`. No decision rests on one or two items; the
 * details give the counts. `max_p_value` additionally demands significant evidence of improvement.
 */
export function gate(r: EvalReport, g: GateSettings): GateDecision {
  const checks: GateCheck[] = [];
  const level = `${Math.round(g.confidence * 100)}%`;
  checks.push({
    check: 'min_eval_items',
    passed: r.items >= g.min_eval_items,
    detail: `${r.items} reviewed eval items (need at least ${g.min_eval_items})`,
  });
  const a = r.active.accuracy;
  const c = r.candidate.accuracy;
  const b = r.mcnemar.b_active_right_candidate_wrong;
  const w = r.mcnemar.c_active_wrong_candidate_right;
  const change = pairedChangeInterval(b, w, r.cells, g.confidence);
  checks.push({
    check: 'min_improvement',
    passed: a !== null && c !== null && change.upper >= g.min_improvement - 1e-12,
    detail:
      `candidate accuracy ${pct(c)} vs active ${pct(a)} on ${r.cells} cells: change ${pp(change.estimate)} points, ` +
      `${level} interval [${pp(change.lower)}, ${pp(change.upper)}] (${b} cells right only for the active head, ${w} only for the candidate; ` +
      `fails when the whole interval is below ${pp(g.min_improvement)})`,
  });
  for (const [cat, m] of Object.entries(r.active.categories)) {
    const before = m.recall;
    const after = r.candidate.categories[cat]?.recall ?? null;
    if (before === null || after === null) continue;
    const paired = r.recall[cat] ?? { positives: m.positives, active_only: 0, candidate_only: 0, p_value: 1 };
    const auprc = `AUPRC ${num(r.candidate.categories[cat]?.auprc)} vs ${num(m.auprc)}`;
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
    checks.push({
      check: 'max_p_value',
      passed: p <= g.max_p_value && w > b,
      detail: `McNemar p = ${p.toPrecision(3)} (need ≤ ${g.max_p_value}, in the candidate's favour; b = ${b}, c = ${w})`,
    });
  }
  const failed = checks.filter((x) => !x.passed);
  return { passed: failed.length === 0, checks, reasons: failed.map((x) => x.detail) };
}
