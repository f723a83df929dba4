import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyHead, type Head } from '../../src/inference/head.js';
import { Scorer } from '../../src/models/scorer.js';
import { mulberry32 } from '../../src/random.js';
import { buildDataset, headOf, isTrusted, paramsOf, trainingBinding, type ItemInputs, type SettledCell } from '../../src/tuning/dataset.js';
import { combinations, selectAndTrain, type SelectionSettings } from '../../src/tuning/selection.js';
import { auroc } from '../../src/tuning/stats.js';
import { cellLogit, trainDpo } from '../../src/tuning/trainer.js';

const mapping = (sources: Record<string, number[]>) => ({ sources, unmapped: [], combine: 'max' as const });

test('training binding: a category trains its one head row; shared rows and combined sources are refused with the reason', () => {
  const b = trainingBinding(mapping({ hate: [0], violence: [1], threat: [1], 'self-harm': [2, 3] }), ['hate', 'threat', 'sh1', 'sh2']);
  assert.deepEqual([...b.rows], [['hate', 0]]);
  assert.match(b.skipped.violence, /model label 'threat' also feeds 'threat': their labels would train one head row against each other/);
  assert.match(b.skipped.threat, /also feeds 'violence'/);
  assert.match(b.skipped['self-harm'], /fed by 2 model labels \('sh1', 'sh2'\)/);
});

const cell = (o: Partial<SettledCell> & Pick<SettledCell, 'itemId' | 'category' | 'label'>): SettledCell => ({
  id: 1,
  taskId: `task-${o.itemId}`,
  decisionId: `decision-${o.itemId}`,
  modelLabel: false,
  split: 'train',
  reason: 'audit',
  reviewers: ['m1'],
  blind: true,
  votesYes: o.label ? 1 : 0,
  votesTotal: 1,
  ...o,
});

test('trusted eval set: blind eval audits settled by two concurring reviewers or by a trusted key; nothing else', () => {
  const none = new Set<string>();
  const two = { itemId: 'a', category: 'hate', label: true, split: 'eval' as const, reviewers: ['m1', 'm2'], votesYes: 2, votesTotal: 2 };
  assert.equal(isTrusted(cell(two), none), true);
  assert.equal(isTrusted(cell({ ...two, label: false, votesYes: 0 }), none), true, 'concurring on no');
  assert.equal(isTrusted(cell({ ...two, votesYes: 2, votesTotal: 3, reviewers: ['m1', 'm2', 'm3'] }), none), false, 'a split vote');
  assert.equal(isTrusted(cell({ ...two, blind: false }), none), false, 'reviewers saw the model');
  assert.equal(isTrusted(cell({ ...two, reason: 'uncertain' }), none), false, 'not a random audit');
  assert.equal(isTrusted(cell({ ...two, split: 'train' }), none), false, 'train split');
  const one = { ...two, reviewers: ['senior'], votesYes: 1, votesTotal: 1 };
  assert.equal(isTrusted(cell(one), none), false, 'one reviewer, not trusted');
  assert.equal(isTrusted(cell(one), new Set(['senior'])), true, 'one trusted reviewer');
});

/** 2 labels, 2 features, a lexical part on tokens 7 and 9. */
const reference: Head = {
  numLabels: 2,
  dim: 2,
  weight: Float32Array.from([1, 0, 0, 1]),
  bias: Float32Array.from([-1, 0.5]),
  lexical: { tokens: Int32Array.from([7, 9]), weight: Float32Array.from([2, 0, 0, -4]) },
};
const items = new Map<string, ItemInputs>([
  ['a', { features: Float32Array.from([1, 2]), tokens: Int32Array.from([7, 7, 3]) }],
  ['b', { features: Float32Array.from([0, 1]), tokens: Int32Array.from([9]) }],
  ['c', { features: Float32Array.from([2, 0]), tokens: Int32Array.from([3, 9]) }],
]);
const binding = trainingBinding(mapping({ hate: [0], harassment: [1] }), ['hate', 'harassment']);
const options = { thresholds: { hate: 0.5, harassment: 0.4 }, classWeights: 'none' as const, pairs: 'all' as const, lexical: true };

test('every settled train cell is a pair, agreements and disagreements alike; reference logits come from the scorer', () => {
  const cells = [
    cell({ itemId: 'a', category: 'hate', label: true, modelLabel: true }),
    cell({ itemId: 'a', category: 'harassment', label: false, modelLabel: true }),
    cell({ itemId: 'b', category: 'hate', label: false }),
    cell({ itemId: 'c', category: 'hate', label: true, split: 'eval' }),
    cell({ itemId: 'c', category: 'harassment', label: false, split: 'eval' }),
  ];
  const d = buildDataset(cells, items, reference, binding, options);
  assert.equal(d.train.row.length, 3, 'the agreement (a/hate) trains too');
  assert.deepEqual([...d.train.sign], [1, -1, -1]);
  assert.deepEqual(d.trainItemIds, ['a', 'b']);
  assert.deepEqual(d.trainCategory, ['hate', 'harassment', 'hate']);
  assert.deepEqual([...d.train.row], [0, 1, 0]);
  assert.deepEqual([...d.vocabulary], [3, 7, 9], 'the train items’ tokens, ascending');
  assert.deepEqual([...d.train.tokens!.index], [1, 1, 0, 2], 'token ids as indices into the vocabulary');
  // z_ref: a/hate = 1 − 1 + (2 + 2 + 0)/3; a/harassment = 2 + 0.5 + 0; b/hate = −1 + 0 + 0.
  const logits = applyHead(reference, Float32Array.from([1, 2, 0, 1]), 2, { ids: Int32Array.from([7, 7, 3, 9]), offsets: Int32Array.from([0, 3, 4]) });
  assert.deepEqual([...d.train.zRef], [logits[0], logits[1], logits[2]]);
  assert.ok(Math.abs(d.train.zRef[0] - 4 / 3) < 1e-6);
  assert.deepEqual(d.eval.itemIds, ['c']);
  assert.deepEqual(d.eval.truth, [true, false]);
  assert.deepEqual([...d.eval.threshold], [0.5, 0.4]);
  assert.deepEqual(d.counts.hate, { train_positive: 1, train_negative: 1, eval_positive: 1, eval_negative: 0, train_disagreements: 0, weight_positive: 1, weight_negative: 1 });
  assert.equal(d.counts.harassment.train_disagreements, 1);
});

test('pairs: disagreements (for comparison) keeps only the cells where moderators overruled the model', () => {
  const cells = [cell({ itemId: 'a', category: 'hate', label: true, modelLabel: true }), cell({ itemId: 'b', category: 'hate', label: true })];
  const d = buildDataset(cells, items, reference, binding, { ...options, pairs: 'disagreements' });
  assert.deepEqual(d.trainItemIds, ['b']);
  assert.equal(d.counts.hate.train_positive, 2, 'counts still describe every settled label');
});

test('balanced class weights: each category’s positives and negatives weigh the same in total, mean weight 1', () => {
  const cells = [
    cell({ itemId: 'a', category: 'hate', label: true }),
    cell({ itemId: 'b', category: 'hate', label: false }),
    cell({ itemId: 'c', category: 'hate', label: false }),
    cell({ itemId: 'a', category: 'harassment', label: true }),
  ];
  const d = buildDataset(cells, items, reference, binding, { ...options, classWeights: 'balanced' });
  // hate: 1 positive, 2 negatives → 3/2 and 3/4; harassment has only positives → 1. Mean (1.5 + .75 + .75 + 1)/4 = 1.
  assert.deepEqual([...d.train.weight], [1.5, 0.75, 0.75, 1]);
  assert.equal(d.counts.hate.weight_positive, 1.5);
});

test('one label per item × category: a second one (a stale label an appeal replaced) is refused', () => {
  const cells = [cell({ itemId: 'a', category: 'hate', label: true, id: 1 }), cell({ itemId: 'a', category: 'hate', label: false, id: 2 })];
  assert.throws(() => buildDataset(cells, items, reference, binding, options), /two settled labels for item a, category 'hate': pass only the latest/);
});

test('paramsOf and headOf: a head survives the trip through trainable parameters; the trainer and the scorer agree', () => {
  const vocabulary = Int32Array.from([3, 7, 9]);
  const p = paramsOf(reference, vocabulary);
  assert.deepEqual([...p.lexical!], [0, 0, 2, 0, 0, -4]);
  const back = headOf(p, reference, vocabulary);
  assert.deepEqual([...back.lexical!.tokens], [7, 9], 'all-zero rows are dropped');
  assert.deepEqual([...back.lexical!.weight], [...reference.lexical!.weight]);
  // Train a little, then score the cells both ways.
  const cells = [cell({ itemId: 'a', category: 'hate', label: false }), cell({ itemId: 'b', category: 'harassment', label: true }), cell({ itemId: 'c', category: 'hate', label: true })];
  const d = buildDataset(cells, items, reference, binding, options);
  const trained = trainDpo(paramsOf(reference, d.vocabulary), d.train, {
    objective: { loss: { type: 'sigmoid', beta: 0.5, labelSmoothing: 0 }, rpoAlpha: 1, l2: 0.01, lexicalL2: 0.01 },
    learningRate: 0.3,
    epochs: 5,
    batchSize: 2,
    seed: 1,
  }).params;
  const headTrained = headOf(trained, reference, d.vocabulary);
  const logits = new Scorer(headTrained, 'sigmoid', mapping({ hate: [0], harassment: [1] })).logits({
    features: d.train.features,
    tokens: { ids: Int32Array.from(d.train.tokens!.index, (k) => d.vocabulary[k]), offsets: d.train.tokens!.offsets },
    n: d.trainItemIds.length,
  });
  for (let i = 0; i < d.train.row.length; i++) {
    const viaScorer = logits[d.train.item[i] * 2 + d.train.row[i]];
    assert.ok(Math.abs(viaScorer - cellLogit(trained, d.train, i)) < 1e-5, `cell ${i}: ${viaScorer} vs ${cellLogit(trained, d.train, i)}`);
  }
});

/**
 * The model never flags the category (its reference logit is −4 everywhere), so every disagreement
 * says "flag" and every agreement says "don't". Features: [1, x]; the truth is x > 0.
 */
function oneSigned(pairs: 'all' | 'disagreements') {
  const rng = mulberry32(3);
  const n = 200;
  const xs = Array.from({ length: n }, () => rng() * 2 - 1);
  const its = new Map<string, ItemInputs>(xs.map((x, i) => [`i${i}`, { features: Float32Array.from([1, x]), tokens: null }]));
  const ref: Head = { numLabels: 1, dim: 2, weight: Float32Array.from([0, 0]), bias: Float32Array.from([-4]), lexical: null };
  const cells = xs.map((x, i) => cell({ itemId: `i${i}`, category: 'hate', label: x > 0, modelLabel: false }));
  const d = buildDataset(cells, its, ref, trainingBinding(mapping({ hate: [0] }), ['hate']), { ...options, pairs, lexical: false });
  const out = trainDpo(paramsOf(ref, d.vocabulary), d.train, {
    objective: { loss: { type: 'sigmoid', beta: 0.1, labelSmoothing: 0 }, rpoAlpha: 0, l2: 0, lexicalL2: 0 },
    learningRate: 0.2,
    epochs: 30,
    batchSize: 16,
    seed: 1,
  });
  const z = xs.map((x) => out.params.bias[0] + out.params.weight[0] + out.params.weight[1] * x);
  const negativesFlagged = xs.filter((x, i) => x <= 0 && z[i] >= 0).length / xs.filter((x) => x <= 0).length;
  const positivesFlagged = xs.filter((x, i) => x > 0 && z[i] >= 0).length / xs.filter((x) => x > 0).length;
  return { auc: auroc(xs.map((x) => x > 0), z)!, negativesFlagged, positivesFlagged };
}

test('a category whose disagreements all have one sign still learns a contrast from its agreements', () => {
  const all = oneSigned('all');
  assert.ok(all.auc > 0.97, `AUROC ${all.auc}`);
  assert.ok(all.positivesFlagged > 0.9 && all.negativesFlagged < 0.1, JSON.stringify(all));
  // From disagreements alone every gradient says "flag more": the head flags the negatives too.
  const only = oneSigned('disagreements');
  assert.ok(only.negativesFlagged > 0.5, JSON.stringify(only));
});

test('selection: every grid combination is tried on the validation split, the best wins, its epochs are retrained on all cells', () => {
  const rng = mulberry32(9);
  const n = 400;
  const xs = Array.from({ length: n }, () => [rng() * 2 - 1, rng() * 2 - 1]);
  const its = new Map<string, ItemInputs>(xs.map((x, i) => [`item-${i}`, { features: Float32Array.from(x), tokens: Int32Array.from([i % 13, 100 + (i % 7)]) }]));
  const ref: Head = { numLabels: 1, dim: 2, weight: Float32Array.from([0, 0]), bias: Float32Array.from([0]), lexical: null };
  const cells = xs.map((x, i) => cell({ itemId: `item-${i}`, category: 'hate', label: x[0] + 0.3 * x[1] + (rng() - 0.5) * 0.4 > 0 }));
  const d = buildDataset(cells, its, ref, trainingBinding(mapping({ hate: [0] }), ['hate']), options);
  const settings: SelectionSettings = {
    loss: 'sigmoid',
    labelSmoothing: 0,
    grid: { beta: [0.1, 1], learningRate: [0.2], l2: [1e-6], lexicalL2: [1e-4, 10], rpoAlpha: [1] },
    maxEpochs: 30,
    patience: 3,
    batchSize: 32,
    seed: 1,
    validationFraction: 0.25,
    select: true,
  };
  assert.equal(combinations(settings.grid).length, 4);
  const configs: number[] = [];
  const r = selectAndTrain(paramsOf(ref, d.vocabulary), d.train, d.trainItemIds, d.trainCategory, settings, { onConfig: (i) => configs.push(i) });
  assert.deepEqual(configs, [1, 2, 3, 4]);
  const s = r.selection!;
  assert.equal(s.metric, 'auroc');
  assert.deepEqual(s.categories, ['hate']);
  assert.equal(s.train_items + s.validation_items, n);
  assert.ok(s.validation_items > 60 && s.validation_items < 140, String(s.validation_items));
  const best = Math.max(...s.grid.map((e) => e.validation));
  assert.equal(s.winner.validation, best);
  assert.equal(r.choice.epochs, s.winner.best_epoch);
  assert.equal(r.final.epochs.length, s.winner.best_epoch, 'the winner retrains for its best epoch count');
  assert.ok(s.grid.every((e) => e.epochs_run >= e.best_epoch && e.best_epoch >= 1));

  const off = selectAndTrain(paramsOf(ref, d.vocabulary), d.train, d.trainItemIds, d.trainCategory, { ...settings, select: false });
  assert.equal(off.selection, null);
  assert.match(off.note!, /selection is off/);
  assert.equal(off.final.epochs.length, 30);
  const small = buildDataset(cells.slice(0, 60), its, ref, trainingBinding(mapping({ hate: [0] }), ['hate']), options);
  const tiny = selectAndTrain(paramsOf(ref, small.vocabulary), small.train, small.trainItemIds, small.trainCategory, settings);
  assert.equal(tiny.selection, null, '60 items leave fewer than 20 for validation');
  assert.match(tiny.note!, /60 train items: too few to hold 20 out/);
});
