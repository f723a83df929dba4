import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auroc, averagePrecision, binaryMetrics, binomialCdf, clopperPearson, mcnemarExact, pairedChangeInterval } from '../../src/tuning/stats.js';
import { evaluateHeads, gate, type EvalReport } from '../../src/tuning/evaluate.js';
import type { EvalSet } from '../../src/tuning/dataset.js';
import { Scorer } from '../../src/models/scorer.js';

test("McNemar's exact test: hand-computed values", () => {
  // b = 1, c = 5: n = 6, P(X ≤ 1) = (1 + 6)/64, two-sided p = 14/64.
  assert.ok(Math.abs(mcnemarExact(1, 5) - 14 / 64) < 1e-12);
  assert.ok(Math.abs(mcnemarExact(5, 1) - 14 / 64) < 1e-12);
  // b = 0, c = 10: p = 2 / 1024.
  assert.ok(Math.abs(mcnemarExact(0, 10) - 2 / 1024) < 1e-15);
  assert.equal(mcnemarExact(0, 0), 1);
  assert.equal(mcnemarExact(7, 7), 1);
  // Large n stays finite and tiny (normal approximation: z ≈ 6.3, p ≈ 3e-10).
  const p = mcnemarExact(400, 600);
  assert.ok(p > 0 && p < 1e-8, String(p));
});

test('average precision and binary metrics: hand-computed', () => {
  // Scores 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg): AP = 0.5·1 + 0.5·(2/3) = 5/6.
  assert.ok(Math.abs(averagePrecision([true, false, true, false], [0.9, 0.8, 0.7, 0.1])! - 5 / 6) < 1e-12);
  // Ties form one threshold.
  assert.equal(averagePrecision([true, false], [0.5, 0.5]), 0.5);
  assert.equal(averagePrecision([false, false], [0.5, 0.2]), null);
  const m = binaryMetrics([true, false, true, false], [0.9, 0.8, 0.4, 0.1], 0.5);
  assert.deepEqual({ ...m, auprc: undefined }, { n: 4, positives: 2, accuracy: 0.5, precision: 0.5, recall: 0.5, f1: 0.5, auprc: undefined });
});

test('AUROC by ranks: hand-computed, ties count one half', () => {
  assert.equal(auroc([true, false, true, false], [0.9, 0.8, 0.7, 0.1]), 0.75);
  assert.equal(auroc([true, false], [0.5, 0.5]), 0.5);
  assert.equal(auroc([true, true], [0.1, 0.2]), null);
  assert.equal(auroc([false, true, true], [0.1, 0.2, 0.3]), 1);
});

test('binomial CDF and Clopper–Pearson intervals: hand-checked values', () => {
  assert.ok(Math.abs(binomialCdf(2, 5, 0.5) - 0.5) < 1e-12);
  assert.ok(Math.abs(binomialCdf(0, 10, 0.1) - 0.9 ** 10) < 1e-12);
  assert.equal(binomialCdf(10, 10, 0.3), 1);
  // 3 of 10 at 95%: [0.0667, 0.6525] (the standard table values).
  const ci = clopperPearson(3, 10, 0.95);
  assert.ok(Math.abs(ci.lower - 0.06673951) < 1e-6 && Math.abs(ci.upper - 0.65245285) < 1e-6, JSON.stringify(ci));
  // All successes: the lower bound solves p^n = α/2.
  assert.ok(Math.abs(clopperPearson(6, 6, 0.9).lower - 0.05 ** (1 / 6)) < 1e-9);
  assert.deepEqual(clopperPearson(0, 0, 0.95), { lower: 0, upper: 1 });
  // A large n stays fast and finite.
  const big = clopperPearson(1000, 1900, 0.95);
  assert.ok(big.lower < 1000 / 1900 && big.upper > 1000 / 1900 && big.upper - big.lower < 0.05);
});

test('paired change interval: exact, from the discordant counts', () => {
  // 6 positives the active head caught and the candidate missed, none the other way, of 95.
  const d = pairedChangeInterval(6, 0, 95, 0.9);
  assert.ok(Math.abs(d.estimate + 6 / 95) < 1e-12);
  assert.ok(Math.abs(d.lower + 6 / 95) < 1e-12, 'all discordant pairs against: the lower end is the estimate');
  assert.ok(Math.abs(d.upper - (6 * (2 * (1 - 0.05 ** (1 / 6)) - 1)) / 95) < 1e-9, String(d.upper));
  assert.deepEqual(pairedChangeInterval(0, 0, 50, 0.95), { estimate: 0, lower: 0, upper: 0 });
  const wide = pairedChangeInterval(10, 30, 1000, 0.95);
  assert.ok(wide.lower > 0 && wide.lower < 0.02 && wide.upper > 0.02, JSON.stringify(wide));
});

function evalSet(truth: boolean[], x: number[]): EvalSet {
  return {
    items: { features: Float32Array.from(x), tokens: null, n: truth.length },
    itemIds: truth.map((_, i) => `item-${i}`),
    item: Int32Array.from(truth, (_, i) => i),
    category: truth.map(() => 'violence'),
    truth,
    threshold: new Float64Array(truth.length).fill(0.5),
    trusted: truth.map(() => false),
  };
}

const mapping = { sources: { violence: [0] }, unmapped: [], combine: 'max' as const };
const head = (w: number) => new Scorer({ numLabels: 1, dim: 1, weight: Float32Array.from([w]), bias: new Float32Array(1), lexical: null }, 'sigmoid', mapping);

test('evaluateHeads compares two heads on the same cells through the scorer, with McNemar counts and paired recall', () => {
  // Feature x; active head z = −x (wrong way round), candidate z = x.
  const r = evaluateHeads(head(-1), head(1), evalSet([true, true, false, false], [2, 1, -1, -2]));
  assert.equal(r.active.accuracy, 0);
  assert.equal(r.candidate.accuracy, 1);
  assert.equal(r.candidate.categories.violence.recall, 1);
  assert.equal(r.mcnemar.c_active_wrong_candidate_right, 4);
  assert.equal(r.mcnemar.b_active_right_candidate_wrong, 0);
  assert.ok(Math.abs(r.mcnemar.p_value - 2 / 16) < 1e-12);
  assert.deepEqual({ ...r.recall.violence, p_value: undefined }, { positives: 2, active_only: 0, candidate_only: 2, p_value: undefined });
});

function reportWith(o: {
  a: number;
  c: number;
  b: number;
  w: number;
  cells?: number;
  recallA: number;
  recallC: number;
  activeOnly: number;
  candidateOnly: number;
  positives?: number;
  items?: number;
  p?: number;
  trusted?: EvalReport['trusted'];
}): EvalReport {
  const positives = o.positives ?? 100;
  const m = (acc: number, recall: number) => ({ accuracy: acc, cells: o.cells ?? 1000, categories: { hate: { n: o.cells ?? 1000, positives, accuracy: acc, precision: 0.5, recall, f1: 0.5, auprc: 0.5 } } });
  return {
    items: o.items ?? 500,
    cells: o.cells ?? 1000,
    active: m(o.a, o.recallA),
    candidate: m(o.c, o.recallC),
    mcnemar: { b_active_right_candidate_wrong: o.b, c_active_wrong_candidate_right: o.w, p_value: o.p ?? mcnemarExact(o.b, o.w) },
    recall: { hate: { positives, active_only: o.activeOnly, candidate_only: o.candidateOnly, p_value: mcnemarExact(o.activeOnly, o.candidateOnly) } },
    trusted: o.trusted ?? { cells: 0, active_accuracy: null, candidate_accuracy: null, active_only: 0, candidate_only: 0 },
  };
}

const settings = { min_improvement: 0, max_recall_drop: 0.05, min_positives: 20, min_trusted_cells: 30, min_eval_items: 100, max_p_value: null, confidence: 0.95 };

test('gate: promotes only when every check passes, and names what failed with its counts', () => {
  assert.equal(gate(reportWith({ a: 0.8, c: 0.82, b: 10, w: 30, recallA: 0.7, recallC: 0.68, activeOnly: 3, candidateOnly: 1 }), settings).passed, true);
  const worse = gate(
    reportWith({ a: 0.8, c: 0.76, b: 60, w: 20, recallA: 0.7, recallC: 0.5, activeOnly: 22, candidateOnly: 2, items: 50 }),
    { ...settings, max_p_value: 0.05 },
  );
  assert.equal(worse.passed, false);
  assert.equal(worse.reasons.length, 4);
  const text = worse.reasons.join('\n');
  assert.match(text, /50 reviewed eval items \(need at least 100\)/);
  assert.match(text, /candidate accuracy 76\.00% vs active 80\.00% on 1000 cells: change −4\.00 points, 95% interval \[−\d\.\d\d, −\d\.\d\d\] \(60 cells right only for the active head, 20 only for the candidate/);
  assert.match(text, /hate recall 50\.00% vs active 70\.00% on 100 positives: change −20\.00 points.*\(22 caught only by the active head, 2 only by the candidate/);
  assert.match(text, /McNemar p = .* in the candidate's favour; b = 60, c = 20/);
});

test('gate: a shortfall or recall drop within noise does not reject; one beyond it does', () => {
  // 0.2 points below the active head on 3,000 cells (b = 40, c = 34): within noise.
  assert.equal(gate(reportWith({ a: 0.902, c: 0.9, b: 40, w: 34, cells: 3000, recallA: 0.2, recallC: 0.2, activeOnly: 0, candidateOnly: 0 }), settings).passed, true);
  // Recall 6.3 points down on 95 positives (6 vs 0 discordant): the interval reaches past −5 but also up to −1.3.
  const small = gate(reportWith({ a: 0.9, c: 0.9, b: 10, w: 10, recallA: 0.2, recallC: 0.137, activeOnly: 6, candidateOnly: 0, positives: 95 }), settings);
  assert.equal(small.passed, true, small.reasons.join('; '));
  // 20 vs 2 discordant of 95 positives: recall confidently down by more than 5 points.
  const big = gate(reportWith({ a: 0.9, c: 0.9, b: 10, w: 10, recallA: 0.6, recallC: 0.41, activeOnly: 20, candidateOnly: 2, positives: 95 }), settings);
  assert.equal(big.passed, false);
  assert.deepEqual(big.checks.filter((c) => !c.passed).map((c) => c.check), ['max_recall_drop:hate']);
  // Accuracy 1.5 points down on 10,000 cells (b = 400, c = 250): confidently worse.
  const worse = gate(reportWith({ a: 0.9, c: 0.885, b: 400, w: 250, cells: 10000, recallA: 0.5, recallC: 0.5, activeOnly: 0, candidateOnly: 0 }), settings);
  assert.deepEqual(worse.checks.filter((c) => !c.passed).map((c) => c.check), ['min_improvement']);
  // A required margin: +0.6 points measured, but the interval reaches past 1 point, so it is not confidently below it.
  assert.equal(gate(reportWith({ a: 0.9, c: 0.906, b: 30, w: 48, cells: 3000, recallA: 0.5, recallC: 0.5, activeOnly: 0, candidateOnly: 0 }), { ...settings, min_improvement: 0.01 }).passed, true);
  assert.equal(gate(reportWith({ a: 0.9, c: 0.904, b: 300, w: 340, cells: 10000, recallA: 0.5, recallC: 0.5, activeOnly: 0, candidateOnly: 0 }), { ...settings, min_improvement: 0.02 }).passed, false);
});

test('gate: a category with one eval positive cannot veto a clearly better head; one with enough positives and a real drop does', () => {
  // The candidate is far better overall (b = 5, c = 140 of 3,000 cells), but misses the one positive of a rare category.
  const oneItem = reportWith({ a: 0.931, c: 0.976, b: 5, w: 140, cells: 3000, recallA: 1, recallC: 0, activeOnly: 1, candidateOnly: 0, positives: 1 });
  const d = gate(oneItem, settings);
  assert.equal(d.passed, true, d.reasons.join('; '));
  const check = d.checks.find((c) => c.check === 'max_recall_drop:hate')!;
  assert.match(check.detail, /rests on 1 positive: not checked \(fewer than min_positives 20\); AUPRC/);
  // Even with no floor, one item cannot make the interval confidently worse than 5 points.
  assert.equal(gate(oneItem, { ...settings, min_positives: 1 }).passed, true);
  // 40 positives, 15 caught only by the active head and 1 only by the candidate: a real drop.
  const real = gate(reportWith({ a: 0.93, c: 0.935, b: 30, w: 45, cells: 3000, recallA: 0.8, recallC: 0.45, activeOnly: 15, candidateOnly: 1, positives: 40 }), settings);
  assert.equal(real.passed, false);
  assert.deepEqual(real.reasons.length, 1);
  assert.match(real.reasons[0], /hate recall 45\.00% vs active 80\.00% on 40 positives: change −35\.00 points, 95% interval/);
});

test('gate: the trusted eval set is checked on its own: a candidate confidently worse there is rejected, however the recent labels look', () => {
  const clean = { a: 0.9, c: 0.92, b: 20, w: 40, cells: 2000, recallA: 0.5, recallC: 0.5, activeOnly: 0, candidateOnly: 0 };
  // Better on the (perhaps poisoned) recent eval labels, worse on 200 trusted cells: 25 vs 3 discordant.
  const worse = gate(reportWith({ ...clean, trusted: { cells: 200, active_accuracy: 0.95, candidate_accuracy: 0.84, active_only: 25, candidate_only: 3 } }), settings);
  assert.equal(worse.passed, false);
  assert.deepEqual(worse.checks.filter((c) => !c.passed).map((c) => c.check), ['trusted_no_regression']);
  assert.match(worse.reasons[0], /trusted eval set: candidate accuracy 84\.00% vs active 95\.00% on 200 cells/);
  // Within noise there (3 vs 1): passes.
  assert.equal(gate(reportWith({ ...clean, trusted: { cells: 200, active_accuracy: 0.95, candidate_accuracy: 0.94, active_only: 3, candidate_only: 1 } }), settings).passed, true);
  // Too few trusted cells: reported, not checked.
  const few = gate(reportWith({ ...clean, trusted: { cells: 12, active_accuracy: 1, candidate_accuracy: 0, active_only: 12, candidate_only: 0 } }), settings);
  assert.equal(few.passed, true);
  assert.match(few.checks.find((c) => c.check === 'trusted_no_regression')!.detail, /12 trusted eval cells .*not checked \(fewer than min_trusted_cells 30\)/);
});
