import assert from 'node:assert/strict';
import { test } from 'node:test';
import { averagePrecision, binaryMetrics, mcnemarExact } from '../../src/tuning/stats.js';
import { evaluateHeads, gate, type EvalCells, type EvalReport } from '../../src/tuning/evaluate.js';

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

function cells(truth: boolean[], x: number[]): EvalCells {
  return {
    dim: 1,
    features: Float32Array.from(x),
    label: new Int32Array(truth.length),
    category: truth.map(() => 'violence'),
    truth,
    threshold: new Float64Array(truth.length).fill(0.5),
    items: truth.length,
  };
}

test('evaluateHeads compares two heads on the same cells, with McNemar counts', () => {
  // Feature x; active head z = −x (wrong way round), candidate z = x.
  const c = cells([true, true, false, false], [2, 1, -1, -2]);
  const active = { numLabels: 1, dim: 1, weight: Float32Array.from([-1]), bias: new Float32Array(1) };
  const cand = { numLabels: 1, dim: 1, weight: Float32Array.from([1]), bias: new Float32Array(1) };
  const r = evaluateHeads(active, cand, c);
  assert.equal(r.active.accuracy, 0);
  assert.equal(r.candidate.accuracy, 1);
  assert.equal(r.candidate.categories.violence.recall, 1);
  assert.equal(r.mcnemar.c_active_wrong_candidate_right, 4);
  assert.equal(r.mcnemar.b_active_right_candidate_wrong, 0);
  assert.ok(Math.abs(r.mcnemar.p_value - 2 / 16) < 1e-12);
});

function reportWith(a: number, c: number, recallA: number, recallC: number, items = 500, p = 0.01): EvalReport {
  const m = (acc: number, recall: number) => ({ accuracy: acc, cells: 1000, categories: { hate: { n: 1000, positives: 100, accuracy: acc, precision: 0.5, recall, f1: 0.5, auprc: 0.5 } } });
  return { items, cells: 1000, active: m(a, recallA), candidate: m(c, recallC), mcnemar: { b_active_right_candidate_wrong: 10, c_active_wrong_candidate_right: 30, p_value: p } };
}

test('gate: promotes only when every check passes, and names what failed', () => {
  const settings = { min_improvement: 0.01, max_recall_drop: 0.05, min_eval_items: 100, max_p_value: 0.05 };
  assert.equal(gate(reportWith(0.8, 0.82, 0.7, 0.68), settings).passed, true);
  const worse = gate(reportWith(0.8, 0.805, 0.7, 0.6, 50, 0.2), settings);
  assert.equal(worse.passed, false);
  assert.equal(worse.reasons.length, 4);
  assert.match(worse.reasons.join('\n'), /50 reviewed eval items \(need at least 100\)/);
  assert.match(worse.reasons.join('\n'), /candidate accuracy 80\.50% vs active 80\.00% \(need at least active \+ 1\.00%\)/);
  assert.match(worse.reasons.join('\n'), /hate recall 60\.00% vs active 70\.00%/);
  assert.match(worse.reasons.join('\n'), /McNemar p = 0\.200/);
  assert.equal(gate(reportWith(0.8, 0.82, 0.7, 0.7, 500, 0.2), { ...settings, max_p_value: null }).passed, true, 'no p-value check unless configured');
});
