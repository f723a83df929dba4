import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auroc, averagePrecision, binaryMetrics, binomialCdf, clopperPearson, mcnemarExact, pairedChangeInterval } from '../../src/tuning/math/stats.js';
import { evaluateHeads, gate, verdictOf, type EvalReport } from '../../src/tuning/math/evaluate.js';
import type { EvalSet } from '../../src/tuning/math/dataset.js';
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
    items: { features: Float32Array.from(x), tokens: null, texts: truth.map(() => null), n: truth.length },
    itemIds: truth.map((_, i) => `item-${i}`),
    item: Int32Array.from(truth, (_, i) => i),
    category: truth.map(() => 'violence'),
    truth,
    threshold: new Float64Array(truth.length).fill(0.5),
    trusted: truth.map(() => false),
    weight: new Float64Array(truth.length).fill(1),
  };
}

const mapping = { sources: { violence: [0] }, unmapped: [], combine: 'max' as const };
const head = (w: number) => new Scorer({ numLabels: 1, dim: 1, weight: Float32Array.from([w]), bias: new Float32Array(1), lexical: null }, 'sigmoid', mapping);
const measure = { minPositives: 1, confidence: 0.95, resamples: 200, seed: 1 };

test('evaluateHeads compares two heads on the same cells through the scorer: the one measure, McNemar counts and paired recall', () => {
  // Feature x; active head z = −x (wrong way round), candidate z = x.
  const r = evaluateHeads(head(-1), head(1), evalSet([true, true, false, false], [2, 1, -1, -2]), measure);
  assert.equal(r.active.accuracy, 0);
  assert.equal(r.candidate.accuracy, 1);
  assert.equal(r.candidate.categories.violence.recall, 1);
  assert.equal(r.measure.candidate.auprc, 1);
  assert.ok(Math.abs(r.measure.active.auprc! - 5 / 12) < 1e-12, 'the two positives ranked last: AP = ½·⅓ + ½·½');
  assert.equal(r.measure.candidate.accuracy, 1);
  assert.deepEqual(r.measure.ranked, [{ category: 'violence', positives: 2 }]);
  assert.equal(r.mcnemar.c_active_wrong_candidate_right, 4);
  assert.equal(r.mcnemar.b_active_right_candidate_wrong, 0);
  assert.ok(Math.abs(r.mcnemar.p_value - 2 / 16) < 1e-12);
  assert.deepEqual({ ...r.recall.violence, p_value: undefined }, { positives: 2, active_only: 0, candidate_only: 2, p_value: undefined });
});

function reportWith(o: {
  /** AUPRC of active and candidate, and the interval of the change. */
  auprc?: { a: number; c: number; lower: number; upper: number };
  /** Accuracy per item, and the interval of the change. */
  accuracy?: { a: number; c: number; lower: number; upper: number };
  recallA?: number;
  recallC?: number;
  activeOnly?: number;
  candidateOnly?: number;
  positives?: number;
  items?: number;
  /** Of the items, how many are train items new to the active head. */
  fresh?: number;
  b?: number;
  w?: number;
  p?: number;
  trusted?: EvalReport['trusted'];
  hateChange?: { estimate: number; lower: number; upper: number };
}): EvalReport {
  const positives = o.positives ?? 100;
  const items = o.items ?? 500;
  const au = o.auprc ?? { a: 0.5, c: 0.6, lower: 0.05, upper: 0.15 };
  const ac = o.accuracy ?? { a: 0.9, c: 0.9, lower: -0.005, upper: 0.005 };
  const m = (acc: number, recall: number) => ({ accuracy: acc, cells: items, categories: { hate: { n: items, positives, accuracy: acc, precision: 0.5, recall, f1: 0.5, auprc: 0.5 } } });
  const hm = (auprc: number, accuracy: number) => ({ auprc, accuracy, categories: { hate: { items, positives, auprc, accuracy, ranked: true } } });
  const b = o.b ?? 10;
  const w = o.w ?? 10;
  const measure = {
    items,
    ranked: [{ category: 'hate', positives }],
    active: hm(au.a, ac.a),
    candidate: hm(au.c, ac.c),
    change: { auprc: { estimate: au.c - au.a, lower: au.lower, upper: au.upper }, accuracy: { estimate: ac.c - ac.a, lower: ac.lower, upper: ac.upper } },
    categoryChange: { hate: o.hateChange ?? { estimate: au.c - au.a, lower: au.lower, upper: au.upper } },
    confidence: 0.95,
    resamples: 2000,
  };
  return {
    items,
    cells: items,
    measure_eval_split: measure,
    measure: {
      sources: { eval_items: o.fresh === undefined ? items : items - o.fresh, new_train_items: o.fresh ?? 0 },
      weighting: { scheme: 'inverse inclusion probability' as const, items, effective_items: items, unweighted: items },
      ...measure,
    },
    active: m(ac.a, o.recallA ?? 0.5),
    candidate: m(ac.c, o.recallC ?? 0.5),
    mcnemar: { b_active_right_candidate_wrong: b, c_active_wrong_candidate_right: w, p_value: o.p ?? mcnemarExact(b, w) },
    recall: { hate: { positives, active_only: o.activeOnly ?? 0, candidate_only: o.candidateOnly ?? 0, p_value: mcnemarExact(o.activeOnly ?? 0, o.candidateOnly ?? 0) } },
    trusted: o.trusted ?? { cells: 0, active_accuracy: null, candidate_accuracy: null, active_only: 0, candidate_only: 0, categories: {} },
  };
}

const settings = {
  max_auprc_drop: 0.02,
  max_accuracy_drop: 0.01,
  min_auprc_positives: 5,
  resamples: 2000,
  max_recall_drop: 0.05,
  min_positives: 20,
  min_trusted_cells: 30,
  max_p_value: null,
  confidence: 0.95,
};

test('the evidence rule on both parts of the measure: better, not worse, worse or undecided', () => {
  const m = { auprc: 0.02, accuracy: 0.01 };
  const flat = { estimate: 0, lower: -0.005, upper: 0.005 };
  assert.equal(verdictOf({ estimate: 0.1, lower: 0.01, upper: 0.2 }, flat, m), 'better', 'AUPRC confidently up, accuracy no worse');
  assert.equal(verdictOf(flat, { estimate: 0.06, lower: 0.02, upper: 0.1 }, m), 'better', 'accuracy confidently up, AUPRC no worse');
  assert.equal(verdictOf({ estimate: 0, lower: -0.02, upper: 0.02 }, flat, m), 'not_worse', 'the margin itself is allowed');
  assert.equal(verdictOf({ estimate: -0.1, lower: -0.2, upper: -0.03 }, flat, m), 'worse');
  assert.equal(verdictOf(flat, { estimate: -0.05, lower: -0.08, upper: -0.02 }, m), 'worse', 'accuracy confidently down beyond its margin');
  assert.equal(verdictOf({ estimate: 0.1, lower: -0.1, upper: 0.3 }, flat, m), 'undecided', 'a large gain on too few items: wait');
  assert.equal(verdictOf({ estimate: 0.1, lower: -0.05, upper: 0.3 }, { estimate: 0.06, lower: 0.02, upper: 0.1 }, m), 'undecided', 'better accuracy does not excuse a ranking that may have dropped');
  assert.equal(verdictOf(null, flat, m), 'undecided', 'nothing to rank (no category with enough positives)');
});

test('gate: a clearly better head promotes on a few dozen items; one whose interval is too wide waits; a worse one is rejected; each says why with its numbers', () => {
  const clear = gate(reportWith({ items: 40, positives: 15, auprc: { a: 0.55, c: 0.78, lower: 0.06, upper: 0.38 } }), settings);
  assert.equal(clear.passed, true, clear.reasons.join('; '));
  assert.equal(clear.evidence.verdict, 'better');
  assert.equal(clear.evidence.items, 40);
  assert.match(
    clear.checks[0].detail,
    /^AUPRC 0\.780 vs active 0\.550: change \+0\.230, 95% interval \[\+0\.060, \+0\.380\]; accuracy at the policy's thresholds 90\.00% vs active 90\.00%: change \+0\.00%, 95% interval \[−0\.50%, \+0\.50%\] \(40 items \(40 eval, 0 train items new to the active head, scored out-of-fold; each weighted by the inverse of its chance of review, 40 of weight 1: effective 40 items\); AUPRC mean over hate \(15 positives\); 2000 paired bootstrap resamples of the items\): better/,
  );
  const pooled = gate(reportWith({ items: 175, fresh: 140, auprc: { a: 0.55, c: 0.62, lower: 0.01, upper: 0.13 } }), settings);
  assert.deepEqual(pooled.evidence.sources, { eval_items: 35, new_train_items: 140 });
  assert.match(pooled.checks[0].detail, /175 items \(35 eval, 140 train items new to the active head, scored out-of-fold; each weighted by the inverse of its chance of review, 175 of weight 1: effective 175 items\)/);
  const wide = gate(reportWith({ items: 40, positives: 15, auprc: { a: 0.55, c: 0.6, lower: -0.12, upper: 0.22 } }), settings);
  assert.equal(wide.passed, false);
  assert.equal(wide.evidence.verdict, 'undecided');
  assert.deepEqual(wide.checks.filter((c) => !c.passed).map((c) => c.check), ['evidence']);
  assert.match(wide.reasons[0], /undecided: the intervals are too wide to rule out a drop beyond the margins \(AUPRC 0\.02, accuracy 0\.01\); the run waits for more reviewed items \(about 196 more, at this mix, if the estimated changes hold\)/);
  // By hand: AUPRC +0.05 with its lower end at −0.12 has a half-width of 0.17 and 0.07 of room to the −0.02
  // margin; half-widths shrink as 1/√n, so n must grow by (0.17/0.07)² = 5.90: ⌈40 × 5.90⌉ − 40 = 196.
  assert.equal(wide.evidence.more_items, 196);
  const doubtful = gate(reportWith({ items: 40, positives: 15, auprc: { a: 0.55, c: 0.52, lower: -0.2, upper: 0.14 } }), settings);
  assert.equal(doubtful.evidence.verdict, 'undecided');
  assert.equal(doubtful.evidence.more_items, null, 'its estimate (−0.03) is beyond the margin: no count is promised');
  const same = gate(reportWith({ items: 3000, auprc: { a: 0.6, c: 0.598, lower: -0.012, upper: 0.008 } }), settings);
  assert.equal(same.passed, true);
  assert.equal(same.evidence.verdict, 'not_worse');
  const worse = gate(reportWith({ auprc: { a: 0.6, c: 0.5, lower: -0.15, upper: -0.05 } }), settings);
  assert.equal(worse.passed, false);
  assert.equal(worse.evidence.verdict, 'worse');
  assert.match(worse.reasons[0], /worse: confidently down by more than its margin/);
  const down = gate(reportWith({ accuracy: { a: 0.9, c: 0.87, lower: -0.045, upper: -0.015 } }), settings);
  assert.equal(down.evidence.verdict, 'worse', 'accuracy at the thresholds confidently down');
  assert.match(down.reasons[0], /accuracy at the policy's thresholds 87\.00% vs active 90\.00%: change −3\.00%, 95% interval \[−4\.50%, −1\.50%\]/);
});

test('gate: recall and McNemar are reported with their counts', () => {
  const all = gate(reportWith({ recallA: 0.7, recallC: 0.5, activeOnly: 22, candidateOnly: 2, b: 60, w: 20 }), { ...settings, max_p_value: 0.05 });
  assert.deepEqual(all.checks.filter((c) => !c.passed).map((c) => c.check), ['max_recall_drop:hate', 'max_p_value']);
  assert.match(all.reasons.join('\n'), /hate recall 50\.00% vs active 70\.00% on 100 positives: change −20\.00 points.*\(22 caught only by the active head, 2 only by the candidate/);
  assert.match(all.reasons.join('\n'), /McNemar p = .* in the candidate's favour; b = 60, c = 20/);
});

test('gate: a recall drop within noise does not reject; one beyond it does', () => {
  // Recall 6.3 points down on 95 positives (6 vs 0 discordant): the interval reaches past −5 but also up to −1.3.
  const small = gate(reportWith({ recallA: 0.2, recallC: 0.137, activeOnly: 6, candidateOnly: 0, positives: 95 }), settings);
  assert.equal(small.passed, true, small.reasons.join('; '));
  // 20 vs 2 discordant of 95 positives: recall confidently down by more than 5 points.
  const big = gate(reportWith({ recallA: 0.6, recallC: 0.41, activeOnly: 20, candidateOnly: 2, positives: 95 }), settings);
  assert.equal(big.passed, false);
  assert.deepEqual(big.checks.filter((c) => !c.passed).map((c) => c.check), ['max_recall_drop:hate']);
});

test('gate: a category with one eval positive cannot veto a clearly better head; one with enough positives and a real drop does', () => {
  const oneItem = reportWith({ recallA: 1, recallC: 0, activeOnly: 1, candidateOnly: 0, positives: 1 });
  const d = gate(oneItem, settings);
  assert.equal(d.passed, true, d.reasons.join('; '));
  const check = d.checks.find((c) => c.check === 'max_recall_drop:hate')!;
  assert.match(check.detail, /rests on 1 positive: not checked \(fewer than min_positives 20\); AUPRC/);
  // Even with no floor, one item cannot make the interval confidently worse than 5 points.
  assert.equal(gate(oneItem, { ...settings, min_positives: 1 }).passed, true);
  // 40 positives, 15 caught only by the active head and 1 only by the candidate: a real drop.
  const real = gate(reportWith({ recallA: 0.8, recallC: 0.45, activeOnly: 15, candidateOnly: 1, positives: 40 }), settings);
  assert.equal(real.passed, false);
  assert.deepEqual(real.reasons.length, 1);
  assert.match(real.reasons[0], /hate recall 45\.00% vs active 80\.00% on 40 positives: change −35\.00 points, 95% interval/);
});

test('gate: the trusted eval set is checked on its own: a candidate confidently worse there is rejected, however the recent labels look', () => {
  // Better on the (perhaps poisoned) recent eval labels, worse on 200 trusted cells: 25 vs 3 discordant.
  const worse = gate(reportWith({ trusted: { cells: 200, active_accuracy: 0.95, candidate_accuracy: 0.84, active_only: 25, candidate_only: 3, categories: {} } }), settings);
  assert.equal(worse.passed, false);
  assert.deepEqual(worse.checks.filter((c) => !c.passed).map((c) => c.check), ['trusted_no_regression']);
  assert.match(worse.reasons[0], /trusted eval set: candidate accuracy 84\.00% vs active 95\.00% on 200 cells/);
  // Within noise there (3 vs 1): passes.
  assert.equal(gate(reportWith({ trusted: { cells: 200, active_accuracy: 0.95, candidate_accuracy: 0.94, active_only: 3, candidate_only: 1, categories: {} } }), settings).passed, true);
  // Too few trusted cells: reported, not checked.
  const few = gate(reportWith({ trusted: { cells: 12, active_accuracy: 1, candidate_accuracy: 0, active_only: 12, candidate_only: 0, categories: {} } }), settings);
  assert.equal(few.passed, true);
  assert.match(few.checks.find((c) => c.check === 'trusted_no_regression')!.detail, /12 trusted eval cells .*not checked \(fewer than min_trusted_cells 30\)/);
});

test('gate: one category of the trusted set flipped is rejected there, though the whole trusted set is within noise', () => {
  // 400 trusted cells: hate 12 right only for the active head and 0 for the candidate; violence the reverse, 10 to 1.
  const trusted = {
    cells: 400,
    active_accuracy: 0.9,
    candidate_accuracy: 0.9,
    active_only: 13,
    candidate_only: 10,
    categories: { hate: { cells: 200, active_only: 12, candidate_only: 0 }, violence: { cells: 200, active_only: 1, candidate_only: 10 } },
  };
  const r = gate(reportWith({ trusted }), settings);
  assert.equal(r.passed, false);
  assert.deepEqual(r.checks.filter((c) => !c.passed).map((c) => c.check), ['trusted_no_regression:hate']);
  assert.match(r.reasons[0], /trusted eval set, hate: 200 cells, change −6\.00 points/);
});

test('gate: one category confidently worse beyond the margin is rejected, though the mean over categories is not', () => {
  const r = gate(reportWith({ positives: 40, hateChange: { estimate: -0.12, lower: -0.2, upper: -0.05 } }), settings);
  assert.equal(r.passed, false);
  assert.deepEqual(r.checks.filter((c) => !c.passed).map((c) => c.check), ['auprc:hate']);
  assert.match(r.reasons[0], /hate AUPRC 0\.600 vs active 0\.500 on 40 positive items: change −0\.120, 95% interval \[−0\.200, −0\.050\]/);
  // The same on too few positives to judge one category: reported, not checked.
  const few = gate(reportWith({ positives: 12, hateChange: { estimate: -0.12, lower: -0.2, upper: -0.05 } }), settings);
  assert.equal(few.checks.find((c) => c.check === 'auprc:hate')!.passed, true);
  // Within the margin: passes.
  assert.equal(gate(reportWith({ positives: 40, hateChange: { estimate: -0.01, lower: -0.08, upper: 0.04 } }), settings).checks.find((c) => c.check === 'auprc:hate')!.passed, true);
});
