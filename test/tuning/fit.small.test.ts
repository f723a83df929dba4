import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyHead, type Head } from '../../src/inference/head.js';
import { DEFAULT_NGRAMS, ngramSource, type NgramConfig } from '../../src/inference/ngrams.js';
import { mulberry32 } from '../../src/random.js';
import { sigmoid } from '../../src/tuning/math/dpo.js';
import { fitHead, stratifiedFolds, type FitCategory, type FitSettings } from '../../src/tuning/math/fit.js';

const NGRAMS: NgramConfig = { ...DEFAULT_NGRAMS, buckets: 1 << 16 };
const WORDS = 'the a you we they are is was this that what when here there good bad day night road house music game team city water food friend story'.split(' ');

/** Texts from common words, `harmful` ones with a marker word; 3 labels, 2 backbone features (noise). */
function corpus(n: number, seed: number, marker: string, share = 0.3) {
  const rng = mulberry32(seed);
  const texts: string[] = [];
  const truth: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const harmful = rng() < share;
    const words = Array.from({ length: 6 + Math.floor(rng() * 6) }, () => WORDS[Math.floor(rng() * WORDS.length)]);
    if (harmful) words.splice(Math.floor(rng() * words.length), 0, marker);
    texts.push(words.join(' '));
    // Moderators are not perfect: 5% of labels flipped.
    truth.push(rng() < 0.05 ? !harmful : harmful);
  }
  const features = Float32Array.from({ length: n * 2 }, () => rng() - 0.5);
  return { texts, truth, features };
}

const reference: Head = {
  numLabels: 3,
  dim: 2,
  weight: Float32Array.from([0.3, -0.2, 1, 1, -0.5, 0.5]),
  bias: Float32Array.from([-1, -2, 0.5]),
  lexical: null,
};

const settings = (o: Partial<FitSettings> = {}): FitSettings => ({
  loss: 'sigmoid',
  labelSmoothing: 0,
  beta: 'auto',
  rpoAlpha: 0,
  l2: [10, 1, 0.1],
  experts: { backbone: true, lexical: true },
  folds: 3,
  select: true,
  calibration: 'platt',
  ngrams: { config: NGRAMS, minDf: 2, rarePenalty: 0 },
  seed: 7,
  maxIterations: 300,
  ...o,
});

function train(texts: string[], truth: boolean[], features: Float32Array, o: Partial<FitSettings> = {}) {
  const n = texts.length;
  const refLogits = applyHead(reference, features, n);
  const cat: FitCategory = {
    category: 'hate',
    row: 1,
    item: Int32Array.from({ length: n }, (_, i) => i),
    sign: Int8Array.from(truth, (t) => (t ? 1 : -1)),
    weight: new Float64Array(n).fill(1),
    zRef: Float64Array.from({ length: n }, (_, i) => refLogits[i * 3 + 1]),
  };
  return fitHead(reference, { dim: 2, features, itemIds: texts.map((_, i) => `item-${i}`), ngrams: ngramSource(texts)(NGRAMS), categories: [cat] }, settings(o));
}

const logitOf = (h: Head, text: string, row = 1) => applyHead(h, Float32Array.from([0, 0]), 1, null, ngramSource([text])(NGRAMS))[row];

test('a made-up word that moderators flag in 30 texts scores higher in new texts after one fit; another made-up word does not', () => {
  const c = corpus(300, 1, 'zorblax', 0.1);
  assert.ok(c.texts.filter((t) => t.includes('zorblax')).length >= 25);
  const r = train(c.texts, c.truth, c.features);
  const fresh = 'we saw a zorblax near the road';
  const other = 'we saw a quimberton near the road';
  const before = applyHead(reference, Float32Array.from([0, 0]), 1)[1];
  assert.ok(sigmoid(logitOf(r.head, fresh)) > 0.5, `zorblax: ${sigmoid(logitOf(r.head, fresh))}`);
  assert.ok(logitOf(r.head, fresh) > before + 2, `${logitOf(r.head, fresh)} vs ${before}`);
  assert.ok(sigmoid(logitOf(r.head, other)) < 0.2, `quimberton: ${sigmoid(logitOf(r.head, other))}`);
  assert.ok(logitOf(r.head, fresh) - logitOf(r.head, other) > 3);
});

test('untrained rows stay the reference’s; the trained row is Σ scale·reward + reference_weight·z_ref + offset; calibration makes probabilities match rates', () => {
  const c = corpus(400, 2, 'zorblax');
  const r = train(c.texts, c.truth, c.features);
  assert.deepEqual([...r.head.weight.subarray(0, 2)], [...reference.weight.subarray(0, 2)]);
  assert.deepEqual([...r.head.weight.subarray(4, 6)], [...reference.weight.subarray(4, 6)]);
  assert.equal(r.head.bias[0], reference.bias[0]);
  assert.equal(r.head.bias[2], reference.bias[2]);
  assert.deepEqual([...r.head.ngrams!.rows], [1], 'n-gram weights only for the trained row');
  assert.deepEqual(r.head.ngrams!.config, NGRAMS);
  const choice = r.choices[0];
  assert.deepEqual(choice.experts.map((e) => e.expert), ['backbone', 'lexical']);
  assert.equal(choice.folds, 3);
  assert.ok(choice.auprc! > 0.8, String(choice.auprc));
  const a = choice.experts.reduce((x, e) => x + e.scale, 0);
  assert.ok(choice.beta === null || Math.abs(choice.beta - choice.reference_weight / a) < 1e-12);
  // On fresh texts from the same source, the mean calibrated probability is close to the rate of flags.
  const fresh = corpus(2000, 3, 'zorblax');
  const logits = applyHead(r.head, fresh.features, 2000, null, ngramSource(fresh.texts)(NGRAMS));
  const mean = fresh.texts.reduce((s, _, i) => s + sigmoid(logits[i * 3 + 1]), 0) / 2000;
  const rate = fresh.truth.filter(Boolean).length / 2000;
  assert.ok(Math.abs(mean - rate) < 0.03, `mean probability ${mean} vs rate ${rate}`);
});

test('deterministic: the same data and seed give the same head bit for bit; the first logged step is at the reference (loss ln 2)', () => {
  const c = corpus(200, 4, 'zorblax');
  const one = train(c.texts, c.truth, c.features);
  const two = train(c.texts, c.truth, c.features);
  assert.deepEqual([...one.head.weight], [...two.head.weight]);
  assert.deepEqual([...one.head.ngrams!.weight], [...two.head.ngrams!.weight]);
  assert.equal(one.steps[0].step, 0);
  assert.ok(Math.abs(one.steps[0].loss - Math.LN2) < 1e-12, String(one.steps[0].loss));
  assert.equal(one.steps[0]['rewards/margins'], 0);
  assert.ok(one.steps.at(-1)!.loss < Math.LN2);
  assert.ok(one.steps.at(-1)!['rewards/margins'] > 0);
  assert.equal(one.steps.at(-1)!.step, one.iterations);
});

test('a fixed β: the served head is DPO’s z_ref + u/β, Platt-scaled (reference weight = β · Σ scales)', () => {
  const c = corpus(300, 5, 'zorblax');
  const r = train(c.texts, c.truth, c.features, { beta: [0.5] });
  const ch = r.choices[0];
  assert.equal(ch.beta, 0.5);
  const a = ch.experts.reduce((x, e) => x + e.scale, 0);
  assert.ok(Math.abs(ch.reference_weight - 0.5 * a) < 1e-12);
  const list = train(c.texts, c.truth, c.features, { beta: [0.1, 1, 10] });
  assert.deepEqual(
    list.choices[0].beta_grid!.map((g) => g.beta),
    [0.1, 1, 10],
  );
  const best = list.choices[0].beta_grid!.reduce((x, y) => (y.auprc > x.auprc + 1e-12 ? y : x));
  assert.equal(list.choices[0].beta, best.beta);
});

test('without cross-validation (select false) the first L2 trains and calibration reads the training cells; one expert can be left out', () => {
  const c = corpus(200, 6, 'zorblax');
  const r = train(c.texts, c.truth, c.features, { select: false, experts: { backbone: false, lexical: true } });
  assert.equal(r.choices[0].folds, 0);
  assert.equal(r.choices[0].auprc, null);
  assert.deepEqual(r.choices[0].experts.map((e) => [e.expert, e.l2]), [['lexical', 10]]);
  assert.deepEqual([...r.head.weight.subarray(2, 4)].map((w) => Number(w.toFixed(6))), [...reference.weight.subarray(2, 4)].map((w) => Number((w * r.choices[0].reference_weight).toFixed(6))), 'no backbone expert: the row’s weights are the reference’s, scaled');
});

test('for comparison: one joint reward over both inputs, or features as they are (no whitening), still learn the marked word', () => {
  const c = corpus(300, 8, 'zorblax', 0.2);
  const joint = train(c.texts, c.truth, c.features, { experts: { backbone: true, lexical: true, joint: true } });
  assert.deepEqual(joint.choices[0].experts.map((e) => e.expert), ['joint']);
  assert.ok(joint.choices[0].experts[0].ngram_columns! > 0);
  const raw = train(c.texts, c.truth, c.features, { standardize: 'none' });
  for (const r of [joint, raw]) assert.ok(logitOf(r.head, 'a zorblax here') - logitOf(r.head, 'a quimberton here') > 2);
});

test('stratified folds: every fold gets its share of both labels, by a hash of the item id (the same ids, the same folds)', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `id-${i}`);
  const sign = Int8Array.from({ length: 50 }, (_, i) => (i < 10 ? 1 : -1));
  const item = Int32Array.from({ length: 50 }, (_, i) => i);
  const folds = stratifiedFolds(ids, item, sign, 5, 1);
  for (let f = 0; f < 5; f++) {
    assert.equal([...folds.keys()].filter((i) => folds[i] === f && sign[i] > 0).length, 2);
    assert.equal([...folds.keys()].filter((i) => folds[i] === f && sign[i] < 0).length, 8);
  }
  assert.deepEqual([...stratifiedFolds(ids, item, sign, 5, 1)], [...folds]);
  assert.notDeepEqual([...stratifiedFolds(ids, item, sign, 5, 2)], [...folds], 'another seed, other folds');
  // Repeated texts (one key) share a fold, whichever labels their cells carry.
  const keys = Array.from({ length: 50 }, (_, i) => `text-${i % 10}`);
  const grouped = stratifiedFolds(keys, item, sign, 5, 1);
  for (let i = 0; i < 50; i++) assert.equal(grouped[i], grouped[i % 10], `item ${i}`);
});

test('a two-label softmax head tunes as the Bernoulli in z_row − z_base: the same fit as a one-row sigmoid head of that difference, the base row unchanged', () => {
  const c = corpus(300, 4, 'zorblax', 0.2);
  const n = c.texts.length;
  // The softmax model: rows [neutral, toxic]; P(toxic) = σ(z_toxic − z_neutral).
  const soft: Head = { numLabels: 2, dim: 2, weight: Float32Array.from([0.4, -0.3, -0.6, 0.9]), bias: Float32Array.from([0.5, -1]), lexical: null };
  // The same Bernoulli as a one-row sigmoid head of the difference.
  const diff: Head = { numLabels: 1, dim: 2, weight: Float32Array.from([-0.6 - 0.4, 0.9 + 0.3]), bias: Float32Array.from([-1 - 0.5]), lexical: null };
  const common = { item: Int32Array.from({ length: n }, (_, i) => i), sign: Int8Array.from(c.truth, (t) => (t ? 1 : -1)), weight: new Float64Array(n).fill(1) };
  const zs = applyHead(soft, c.features, n);
  const zd = applyHead(diff, c.features, n);
  const data = (cat: FitCategory) => ({ dim: 2, features: c.features, itemIds: c.texts.map((_, i) => `item-${i}`), ngrams: ngramSource(c.texts)(NGRAMS), categories: [cat] });
  const a = fitHead(soft, data({ category: 'hate', row: 1, base: 0, ...common, zRef: Float64Array.from({ length: n }, (_, i) => zs[i * 2 + 1] - zs[i * 2]) }), settings());
  const b = fitHead(diff, data({ category: 'hate', row: 0, ...common, zRef: Float64Array.from({ length: n }, (_, i) => zd[i]) }), settings());
  assert.deepEqual([...a.head.weight.subarray(0, 2)], [...soft.weight.subarray(0, 2)], 'the base row is the reference’s');
  assert.equal(a.head.bias[0], soft.bias[0]);
  const probe = ['we saw a zorblax near the road', 'a good day at the house', ...c.texts.slice(0, 20)];
  const x = Float32Array.from({ length: probe.length * 2 }, (_, i) => ((i * 7) % 11) / 11 - 0.5);
  const la = applyHead(a.head, x, probe.length, null, ngramSource(probe)(NGRAMS));
  const lb = applyHead(b.head, x, probe.length, null, ngramSource(probe)(NGRAMS));
  const lr = applyHead(soft, x, probe.length);
  let moved = 0;
  probe.forEach((_, i) => {
    assert.ok(Math.abs(la[i * 2 + 1] - la[i * 2] - lb[i]) < 1e-4, `${probe[i]}: softmax difference ${la[i * 2 + 1] - la[i * 2]}, sigmoid ${lb[i]}`);
    moved = Math.max(moved, Math.abs(la[i * 2 + 1] - la[i * 2] - (lr[i * 2 + 1] - lr[i * 2])));
  });
  assert.ok(moved > 1, `the fit changed the model (${moved})`);
});
