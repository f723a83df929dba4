import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../src/random.js';
import { compareHeads, effectiveItems, measureHead, type MeasureCells } from '../../src/tuning/math/measure.js';
import { averagePrecision } from '../../src/tuning/math/stats.js';

/** Items with two categories each; `p` is the share of positives per category. */
function cells(items: number, seed: number, p = { a: 0.3, b: 0.1 }): MeasureCells {
  const rng = mulberry32(seed);
  const c: MeasureCells = { items, item: new Int32Array(items * 2), category: [], truth: [], threshold: new Float64Array(items * 2).fill(0.5) };
  for (let i = 0; i < items; i++) {
    c.item[2 * i] = i;
    c.item[2 * i + 1] = i;
    c.category.push('a', 'b');
    c.truth.push(rng() < p.a, rng() < p.b);
  }
  return c;
}

/** Scores that separate the classes by `signal` (higher is better), in (0, 1). */
function scores(c: MeasureCells, signal: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  return Float64Array.from(c.truth, (t) => 1 / (1 + Math.exp(-(signal * (t ? 1 : -1) + 2 * (rng() - 0.5) * 2))));
}

test('measureHead: per category AUPRC with positives counted, accuracy per item; a category with too few positives is reported, not ranked', () => {
  // 4 items: category a has 2 positives, b has 1.
  const c: MeasureCells = {
    items: 4,
    item: Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]),
    category: ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'],
    truth: [true, false, false, false, true, true, false, false],
    threshold: new Float64Array(8).fill(0.5),
  };
  const s = Float64Array.from([0.9, 0.1, 0.6, 0.2, 0.4, 0.7, 0.1, 0.3]);
  const m = measureHead(c, s, 2);
  // a: ranking 0.9(+) 0.6(−) 0.4(+) 0.1(−): AP = ½·1 + ½·⅔ = 5/6.
  assert.ok(Math.abs(m.categories.a.auprc! - 5 / 6) < 1e-12);
  assert.equal(m.categories.a.positives, 2);
  assert.equal(m.categories.a.ranked, true);
  assert.equal(m.categories.b.ranked, false, 'one positive is below minPositives 2');
  assert.equal(m.auprc, m.categories.a.auprc, 'the ranking score averages the ranked categories only');
  // Items: 0 both right, 1 a wrong (0.6 ≥ 0.5 but negative), 2 a wrong (0.4), b right; 3 both right → (1 + ½ + ½ + 1)/4.
  assert.equal(m.accuracy, 0.75);
  assert.equal(measureHead(c, s, 5).auprc, null, 'no category qualifies: no ranking score');
});

test('compareHeads: the same head twice gives a change of exactly 0 with a zero-width interval', () => {
  const c = cells(300, 1);
  const s = scores(c, 1, 2);
  const r = compareHeads(c, s, s, { minPositives: 5, confidence: 0.95, resamples: 300, seed: 1 });
  assert.deepEqual(r.change.auprc, { estimate: 0, lower: 0, upper: 0 });
  assert.deepEqual(r.change.accuracy, { estimate: 0, lower: 0, upper: 0 });
  assert.deepEqual(
    r.ranked.map((x) => x.category),
    ['a', 'b'],
  );
});

test('compareHeads: seeded (the same call, the same interval); a clearly better head is confidently better on many items; equal heads on few items are undecided', () => {
  const many = cells(2000, 3);
  const weak = scores(many, 0.3, 4);
  const strong = scores(many, 1.5, 5);
  const o = { minPositives: 5, confidence: 0.95, resamples: 400, seed: 9 };
  const r1 = compareHeads(many, weak, strong, o);
  const r2 = compareHeads(many, weak, strong, o);
  assert.deepEqual(r1.change, r2.change);
  assert.ok(r1.change.auprc!.lower > 0, JSON.stringify(r1.change));
  assert.ok(r1.change.auprc!.lower <= r1.change.auprc!.estimate && r1.change.auprc!.estimate <= r1.change.auprc!.upper);
  // Two equally good heads (the same signal, other noise) on 30 items: the interval straddles 0.
  const few = cells(30, 3);
  const r3 = compareHeads(few, scores(few, 1, 4), scores(few, 1, 5), o);
  assert.ok(r3.change.auprc!.lower < 0 && r3.change.auprc!.upper > 0, `30 items: ${JSON.stringify(r3.change.auprc)}`);
});

test('the bootstrap counts items, not cells: an item’s categories are resampled together (weighted AP = AP of the repeated cells)', () => {
  // With resamples = 1 and a fixed seed, recompute the one resample by hand: repeat each item's cells by its count.
  const c = cells(40, 7);
  const a = scores(c, 0.5, 1);
  const b = scores(c, 1.0, 2);
  const r = compareHeads(c, a, b, { minPositives: 1, confidence: 0.5, resamples: 1, seed: 123 });
  const rng = mulberry32(123);
  const count = new Int32Array(c.items);
  for (let k = 0; k < c.items; k++) count[Math.floor(rng() * c.items)]++;
  const expanded = (s: Float64Array, cat: string) => {
    const t: boolean[] = [];
    const v: number[] = [];
    c.truth.forEach((x, j) => {
      if (c.category[j] !== cat) return;
      for (let k = 0; k < count[c.item[j]]; k++) {
        t.push(x);
        v.push(s[j]);
      }
    });
    return averagePrecision(t, v)!;
  };
  const change = ((expanded(b, 'a') - expanded(a, 'a')) + (expanded(b, 'b') - expanded(a, 'b'))) / 2;
  assert.ok(Math.abs(r.change.auprc!.lower - change) < 1e-12, `${r.change.auprc!.lower} vs ${change}`);
});

test('traffic weights: an audited item stands for 1/audit_rate items of traffic; routed items do not outvote it', () => {
  // 10 routed items (weight 1) where the candidate ranks better, 10 audited ones (weight 10) where it ranks worse.
  const truth = Array.from({ length: 20 }, (_, i) => i % 2 === 0);
  const cells: MeasureCells = {
    items: 20,
    item: Int32Array.from(truth, (_, i) => i),
    category: truth.map(() => 'hate'),
    truth,
    threshold: new Float64Array(20).fill(0.5),
    weight: Float64Array.from(truth, (_, i) => (i < 10 ? 1 : 10)),
  };
  const good = (y: boolean, i: number) => (y ? 0.9 : 0.1) - i * 0.001;
  const bad = (y: boolean, i: number) => (y ? 0.2 : 0.8) - i * 0.001;
  const active = Float64Array.from(truth, (y, i) => (i < 10 ? bad(y, i) : good(y, i)));
  const candidate = Float64Array.from(truth, (y, i) => (i < 10 ? good(y, i) : bad(y, i)));
  const unweighted = { ...cells, weight: undefined };
  assert.equal(measureHead(unweighted, active, 1).auprc, measureHead(unweighted, candidate, 1).auprc, 'unweighted, the two heads tie');
  const a = measureHead(cells, active, 1);
  const c = measureHead(cells, candidate, 1);
  assert.ok(a.auprc! > c.auprc! + 0.2, `weighted: active ${a.auprc} vs candidate ${c.auprc}`);
  assert.ok(Math.abs(a.accuracy! - 100 / 110) < 1e-12, 'accuracy: the weighted share of items decided right');
  // Kish's effective sample size: (10·1 + 10·10)² / (10·1 + 10·100) = 12100 / 1010.
  assert.ok(Math.abs(effectiveItems(cells) - 12100 / 1010) < 1e-9);
  assert.equal(effectiveItems(unweighted), 20);
  const cmp = compareHeads(cells, active, candidate, { minPositives: 1, confidence: 0.95, resamples: 500, seed: 3 });
  assert.ok(cmp.change.auprc!.estimate < -0.2 && cmp.change.auprc!.lower < cmp.change.auprc!.estimate, JSON.stringify(cmp.change.auprc));
});
