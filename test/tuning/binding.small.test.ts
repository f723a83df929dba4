/** Which categories a run can tune on which head row, for multi-label and single-label (softmax) models. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicy } from '../../src/policy/loader.js';
import { mapLabels } from '../../src/policy/label-mapping.js';
import { trainingBinding } from '../../src/tuning/math/dataset.js';

const policy = parsePolicy('p', 'categories:\n  harassment: { flag: 0.5, block: 0.9 }\n  hate: { flag: 0.5, block: 0.9 }\n');

test('a two-label softmax model tunes its flagged label against the other one', () => {
  const labels = ['neutral', 'toxic'];
  const b = trainingBinding(mapLabels(policy, { labels, problemType: 'single_label', labelMap: { toxic: ['harassment', 'hate'], neutral: [] } }), labels);
  // toxic feeds two categories: neither can own its row.
  assert.deepEqual([...b.rows], []);
  const one = parsePolicy('q', 'categories:\n  harassment: { flag: 0.5, block: 0.9 }\n');
  const c = trainingBinding(mapLabels(one, { labels, problemType: 'single_label', labelMap: { toxic: ['harassment'], neutral: [] } }), labels);
  assert.deepEqual([...c.rows], [['harassment', 1]]);
  assert.deepEqual([...c.base], [['harassment', 0]]);
});

test('a softmax over more than two labels, or whose other label feeds a category, is not tuned, with the reason', () => {
  const three = ['neutral', 'offensive', 'hate'];
  const b = trainingBinding(mapLabels(policy, { labels: three, problemType: 'single_label', labelMap: { offensive: ['harassment'], hate: ['hate'], neutral: [] } }), three);
  assert.equal(b.rows.size, 0);
  assert.match(b.skipped.hate, /single-label \(softmax\) over 3 labels: a category's probability depends on every label's logit/);
  const two = ['harassment', 'hate'];
  const c = trainingBinding(mapLabels(policy, { labels: two, problemType: 'single_label' }), two);
  assert.equal(c.rows.size, 0);
  assert.match(c.skipped.hate, /its other label 'harassment' feeds 'harassment': one softmax cannot be tuned for both/);
});

test('multi-label rows have no base row', () => {
  const labels = ['harassment', 'hate'];
  const b = trainingBinding(mapLabels(policy, { labels, problemType: 'multi_label' }), labels);
  assert.deepEqual([...b.rows].sort(), [['harassment', 0], ['hate', 1]]);
  assert.equal(b.base.size, 0);
});
