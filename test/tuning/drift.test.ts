import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDrift, inHold, normalCdf, twoProportionTest, type Verdict } from '../../src/tuning/drift.js';

const settings = { enabled: true, max_change: 0.2, max_p_value: 0.001, min_labels: 30 };

/** n verdicts by `moderator` in `category`, the first `agree` of them agreeing with the model. */
function verdicts(n: number, agree: number, moderator: string, category = 'hate', from = 0): Verdict[] {
  return Array.from({ length: n }, (_, i) => ({
    labelId: from + i + 1,
    taskId: `${moderator}-${from + i}`,
    category,
    moderator,
    model: true,
    verdict: i < agree,
  }));
}

test('normal CDF and the two-proportion test: hand-checked values', () => {
  assert.ok(Math.abs(normalCdf(0) - 0.5) < 1e-9);
  assert.ok(Math.abs(normalCdf(1.959964) - 0.975) < 1e-6);
  assert.ok(Math.abs(normalCdf(-1) - 0.158655) < 1e-6);
  // 60/100 vs 40/100: pooled p = 0.5, se = sqrt(0.25 · 0.02) = 0.0707, z = 2.828, p = 0.00468.
  assert.ok(Math.abs(twoProportionTest({ n: 100, agree: 60, rate: 0.6 }, { n: 100, agree: 40, rate: 0.4 }) - 0.004678) < 1e-5);
  assert.equal(twoProportionTest({ n: 0, agree: 0, rate: null }, { n: 10, agree: 5, rate: 0.5 }), 1);
  assert.equal(twoProportionTest({ n: 10, agree: 10, rate: 1 }, { n: 10, agree: 10, rate: 1 }), 1);
});

test('one moderator who inverts is named and held; the others and the category are not', () => {
  const history = [...verdicts(300, 270, 'a', 'hate'), ...verdicts(300, 270, 'b', 'hate', 300)];
  const batch = [...verdicts(100, 91, 'a', 'hate', 1000), ...verdicts(100, 88, 'b', 'hate', 2000), ...verdicts(100, 9, 'c', 'hate', 3000)];
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(
    r.holds.map((h) => [h.category, h.moderator]),
    [['hate', 'c']],
  );
  assert.match(r.holds[0].reason, /moderator c's hate labels agree with the active head 9\.0% of the time in this batch \(9\/100\) against 90\.0% before \(540\/600; p = /);
  const category = r.rows.find((x) => x.moderator === null)!;
  assert.equal(category.batch.n, 200, 'the category check leaves the held moderator out');
  assert.equal(category.finding, false);
});

test('a clean batch is not held; neither is a small one or a small change', () => {
  const history = verdicts(600, 540, 'a');
  assert.equal(checkDrift(history, verdicts(200, 178, 'a', 'hate', 1000), settings).holds.length, 0);
  assert.equal(checkDrift(history, verdicts(20, 2, 'a', 'hate', 1000), settings).holds.length, 0, 'fewer than min_labels');
  assert.equal(checkDrift(history, verdicts(2000, 1500, 'a', 'hate', 1000), settings).holds.length, 0, '−15 points is within max_change 0.2, however significant');
  assert.equal(checkDrift([], verdicts(200, 2, 'a'), settings).holds.length, 0, 'no history: nothing to compare with');
  assert.equal(checkDrift(history, verdicts(200, 2, 'a', 'hate', 1000), { ...settings, enabled: false }).holds.length, 0);
});

test('a shift every moderator shares, each with too few verdicts to stand out alone, holds the whole category', () => {
  const history = verdicts(600, 540, 'old');
  const batch = Array.from({ length: 10 }, (_, m) => verdicts(20, 2, `m${m}`, 'hate', 1000 + 100 * m)).flat();
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(
    r.holds.map((h) => [h.category, h.moderator]),
    [['hate', null]],
  );
  assert.match(r.holds[0].reason, /all moderators' hate labels agree with the active head 10\.0% /);
});

test('a moderator who disagrees with the other reviewers of the same tasks is named', () => {
  // Double-reviewed tasks: before, reviewers agreed 90% of the time; now d disagrees with e on every task.
  const pair = (task: string, a: boolean, b: boolean, id: number, ma: string, mb: string): Verdict[] => [
    { labelId: id, taskId: task, category: 'violence', moderator: ma, model: a, verdict: a },
    { labelId: id, taskId: task, category: 'violence', moderator: mb, model: a, verdict: b },
  ];
  const history = Array.from({ length: 100 }, (_, i) => pair(`h${i}`, i % 2 === 0, i % 10 === 0 ? i % 2 !== 0 : i % 2 === 0, i, 'x', 'y')).flat();
  const batch = Array.from({ length: 60 }, (_, i) => pair(`b${i}`, i % 2 === 0, i % 2 !== 0, 1000 + i, 'e', 'd')).flat();
  const r = checkDrift(history, batch, settings);
  const peers = r.findings.filter((f) => f.against === 'moderators');
  assert.deepEqual(peers.map((f) => f.moderator).sort(), ['d', 'e'], 'with two reviewers, both sides of the disagreement show; the model check tells them apart');
  assert.deepEqual(
    r.holds.map((h) => h.moderator).sort(),
    ['d', 'e'],
  );
  assert.ok(r.rows.some((x) => x.against === 'model' && x.moderator === 'd' && x.finding), 'd also moved away from the head');
  assert.ok(r.rows.some((x) => x.against === 'model' && x.moderator === 'e' && !x.finding));
});

test('inHold: a label is held by a batch of its category, id range and (if named) moderator', () => {
  const holds = [
    { category: 'hate', moderator: 'c', fromLabelId: 10, toLabelId: 20 },
    { category: 'violence', moderator: null, fromLabelId: 0, toLabelId: 5 },
  ];
  assert.equal(inHold(15, 'hate', ['a', 'c'], holds), true);
  assert.equal(inHold(15, 'hate', ['a'], holds), false);
  assert.equal(inHold(10, 'hate', ['c'], holds), false, 'the range excludes its start');
  assert.equal(inHold(20, 'hate', ['c'], holds), true);
  assert.equal(inHold(3, 'violence', ['anyone'], holds), true);
  assert.equal(inHold(3, 'harassment', ['anyone'], holds), false);
});
