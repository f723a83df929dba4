/** The threshold advisor's arithmetic on samples whose counts are known by construction. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clopperPearson } from '../../src/tuning/math/stats.js';
import { candidateThresholds, pointAt, suggest, type Scored } from '../../src/thresholds/advisor.js';

/** 200 audited items: scores i/200; the top 40 (score ≥ 0.8) hold 36 positives, the rest 4. */
function sample(): Scored[] {
  return Array.from({ length: 200 }, (_, i) => {
    const score = i / 200;
    const top = score >= 0.8;
    const truth = top ? i % 10 !== 0 : i % 40 === 1;
    return { score, truth };
  });
}

test('precision and recall at a threshold: counts and exact intervals', () => {
  const s = sample();
  const positives = s.filter((c) => c.truth).length;
  const p = pointAt(s, 0.8, 0.95);
  assert.equal(p.flagged, 40);
  assert.equal(p.truePositives, 36);
  assert.equal(p.precision.estimate, 36 / 40);
  assert.deepEqual([p.precision.lower, p.precision.upper], [clopperPearson(36, 40, 0.95).lower, clopperPearson(36, 40, 0.95).upper]);
  assert.equal(p.recall.estimate, 36 / positives);
});

test('a target precision is met at the lowest threshold whose interval lies above it', () => {
  const s = sample();
  const r = suggest(s, { metric: 'precision', value: 0.7 }, 0.95);
  assert.equal(r.met, true);
  if (!r.met) return;
  assert.ok(r.point.precision.lower >= 0.7);
  // Every threshold with more recall misses it; none with as much recall is higher.
  for (const t of candidateThresholds(s)) {
    const p = pointAt(s, t, 0.95);
    if (p.truePositives > r.point.truePositives) assert.ok(p.precision.lower < 0.7, `threshold ${t}`);
    if (p.truePositives === r.point.truePositives && p.flagged === r.point.flagged) assert.ok(t <= r.threshold, `threshold ${t}`);
  }
});

test('a target the evidence cannot support yet: not met, with how many more audits would settle it', () => {
  const s = sample();
  const r = suggest(s, { metric: 'precision', value: 0.88 }, 0.95);
  assert.equal(r.met, false);
  if (r.met) return;
  assert.match(r.reason, /^not enough evidence: at threshold .* the estimated precision is 0\.9\d\d but its 95% interval goes down to/);
  assert.ok(r.moreAudits !== null && r.moreAudits > 0, String(r.moreAudits));
  // With that many more audits at the same rates, the named threshold's interval clears the target.
  const t = Number(/at threshold ([\d.]+)/.exec(r.reason)![1]);
  const at = pointAt(s, s.map((c) => c.score).find((x) => x.toFixed(3) === t.toFixed(3))!, 0.95);
  const scale = (s.length + r.moreAudits!) / s.length;
  const k = Math.round(at.truePositives * scale);
  const n = Math.round(at.flagged * scale);
  assert.ok(clopperPearson(k, n, 0.95).lower >= 0.88 - 0.005, `${k}/${n}`);
  // And with a tenth of them, not yet.
  const few = (s.length + r.moreAudits! / 10) / s.length;
  assert.ok(clopperPearson(Math.round(at.truePositives * few), Math.round(at.flagged * few), 0.95).lower < 0.88);
});

test('a target no threshold reaches on the evidence: said, and no number of audits promised', () => {
  // Every third item flagged whatever its score: no threshold's precision estimate gets near 0.9.
  const flat = Array.from({ length: 200 }, (_, i) => ({ score: i / 200, truth: i % 3 === 0 }));
  const r = suggest(flat, { metric: 'precision', value: 0.9 }, 0.95);
  assert.deepEqual([r.met, r.met ? null : r.moreAudits], [false, null]);
  if (!r.met) assert.match(r.reason, /no threshold's estimated precision reaches 0\.9 on 200 audited items \(67 flagged by moderators\)/);
});

test('a recall target takes the highest threshold whose interval lies above it', () => {
  const s = sample();
  const r = suggest(s, { metric: 'recall', value: 0.5 }, 0.95);
  assert.equal(r.met, true);
  if (!r.met) return;
  assert.ok(r.point.recall.lower >= 0.5);
  for (const t of candidateThresholds(s).filter((t) => t > r.threshold)) assert.ok(pointAt(s, t, 0.95).recall.lower < 0.5);
});

test('of thresholds equal on the evidence, the one nearest the current threshold is kept', () => {
  // Perfectly separated: every threshold from just above the negatives' top score to the positives' lowest
  // gives the same counts; the current 0.5 is among them, so it stays.
  const s = [...Array.from({ length: 40 }, (_, i) => ({ score: 0.05 + i * 0.005, truth: false })), ...Array.from({ length: 40 }, (_, i) => ({ score: 0.8 + i * 0.005, truth: true }))];
  const r = suggest(s, { metric: 'precision', value: 0.8 }, 0.95, candidateThresholds(s, 60, [0.5]), 0.5);
  assert.equal(r.met && r.threshold, 0.5);
});
