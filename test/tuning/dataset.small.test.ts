import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDataset, isTrusted, trainingBinding, type ItemInputs, type SettledCell } from '../../src/tuning/math/dataset.js';

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

/** Items a–h with 2 features, token ids and texts (item h's text was purged). */
const items = new Map<string, ItemInputs>(
  ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id, k) => [id, { features: Float32Array.from([k, 1]), tokens: Int32Array.from([k, k + 1]), text: id === 'h' ? null : `text ${id}`, key: `key-${id}` }]),
);
const binding = trainingBinding(mapping({ hate: [0], harassment: [1] }), ['hate', 'harassment']);
const options = { thresholds: { hate: 0.5, harassment: 0.4 }, classWeights: 'none' as const, pairs: 'all' as const };
/** hate on a–f: three flagged (a, b, c), three not; the model flagged a and d. */
const hateCells = ['a', 'b', 'c', 'd', 'e', 'f'].map((itemId, k) => cell({ itemId, category: 'hate', label: k < 3, modelLabel: itemId === 'a' || itemId === 'd' }));

test('every settled train cell is a pair, agreements and disagreements alike, in its category’s own cell set; texts travel with the items', () => {
  const cells = [
    ...hateCells,
    cell({ itemId: 'a', category: 'harassment', label: false, modelLabel: true }),
    cell({ itemId: 'g', category: 'hate', label: true, split: 'eval' }),
    cell({ itemId: 'h', category: 'harassment', label: false, split: 'eval' }),
  ];
  const d = buildDataset(cells, items, 2, binding, options);
  assert.equal(d.categories.length, 1, 'harassment has one train label: left out');
  assert.match(d.skipped.harassment, /0 flagged and 1 not-flagged train labels: a category trains with at least 3 of each/);
  const hate = d.categories[0];
  assert.equal(hate.category, 'hate');
  assert.equal(hate.row, 0);
  assert.deepEqual([...hate.sign], [1, 1, 1, -1, -1, -1], 'the agreements (a, e, f) train too');
  assert.deepEqual(d.trainItemIds, ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.deepEqual(d.trainItemKeys, ['key-a', 'key-b', 'key-c', 'key-d', 'key-e', 'key-f'], 'folds are drawn from the items’ keys');
  assert.deepEqual([...hate.item], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...d.train.features.subarray(2, 4)], [1, 1], 'item b’s features, packed in order');
  assert.deepEqual(d.train.texts, ['text a', 'text b', 'text c', 'text d', 'text e', 'text f']);
  assert.deepEqual(d.eval.itemIds, ['g', 'h']);
  assert.deepEqual(d.eval.items.texts, ['text g', null], 'a purged text is null: its item has no n-grams');
  assert.deepEqual(d.eval.truth, [true, false]);
  assert.deepEqual([...d.eval.threshold], [0.5, 0.4]);
  assert.deepEqual(d.counts.hate, { train_positive: 3, train_negative: 3, eval_positive: 1, eval_negative: 0, train_disagreements: 3, weight_positive: 1, weight_negative: 1 });
  assert.equal(d.counts.harassment.train_disagreements, 1);
});

test('pairs: disagreements (for comparison) keeps only the cells where moderators overruled the model', () => {
  // a–c flagged where the model did not; d–f and h not flagged where it did; g flagged as the model did.
  const cells = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((itemId, k) => cell({ itemId, category: 'hate', label: k < 3 || k === 6, modelLabel: k >= 3 }));
  const d = buildDataset(cells, items, 2, binding, { ...options, pairs: 'disagreements' });
  assert.deepEqual(d.trainItemIds, ['a', 'b', 'c', 'd', 'e', 'f', 'h']);
  assert.equal(d.counts.hate.train_positive, 4, 'counts still describe every settled label');
});

test('balanced class weights: each category’s positives and negatives weigh the same in total, mean weight 1', () => {
  const cells = [...hateCells, ...['g', 'h'].map((itemId) => cell({ itemId, category: 'hate', label: false }))];
  const d = buildDataset(cells, items, 2, binding, { ...options, classWeights: 'balanced' });
  // 3 positives, 5 negatives → 8/6 and 8/10.
  assert.deepEqual([...d.categories[0].weight], [8 / 6, 8 / 6, 8 / 6, 0.8, 0.8, 0.8, 0.8, 0.8]);
  assert.equal(d.counts.hate.weight_positive, 8 / 6);
});

test('one label per item × category: a second one (a stale label an appeal replaced) is refused', () => {
  const cells = [cell({ itemId: 'a', category: 'hate', label: true, id: 1 }), cell({ itemId: 'a', category: 'hate', label: false, id: 2 })];
  assert.throws(() => buildDataset(cells, items, 2, binding, options), /two settled labels for item a, category 'hate': pass only the latest/);
});
