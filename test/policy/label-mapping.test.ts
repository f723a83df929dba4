import assert from 'node:assert/strict';
import { test } from 'node:test';
import { categoryScores, LabelMappingError, mapLabels } from '../../src/policy/label-mapping.js';
import { parsePolicy } from '../../src/policy/loader.js';

const policy = parsePolicy(
  'p',
  ['categories:', '  harassment: { flag: 0.5 }', '  hate: { flag: 0.5 }', 'labels:', '  toxic: harassment', '  insult: [harassment]', '  identity_hate: hate', '  neutral: null'].join('\n'),
);

test('labels map by name or by the policy, max for multi-label and sum for single-label', () => {
  const m = mapLabels(policy, ['toxic', 'insult', 'identity_hate', 'neutral', 'spam'], 'multi_label');
  assert.deepEqual(m.sources, { harassment: [0, 1], hate: [2] });
  assert.deepEqual(m.unmapped, ['spam'], 'unmapped labels are reported; explicit null is not');
  assert.deepEqual(categoryScores(m, [0.2, 0.7, 0.1, 0.9, 0.9]), { harassment: 0.7, hate: 0.1 });
  const s = mapLabels(policy, ['toxic', 'insult', 'identity_hate', 'neutral'], 'single_label');
  assert.deepEqual(categoryScores(s, [0.25, 0.25, 0.1, 0.4]), { harassment: 0.5, hate: 0.1 });
  const byName = mapLabels(parsePolicy('q', 'categories: { hate: { flag: 0.5 } }'), ['hate', 'other'], 'multi_label');
  assert.deepEqual(byName.sources, { hate: [0] });
});

test('a category that no model label feeds is refused with the labels listed', () => {
  assert.throws(
    () => mapLabels(policy, ['toxic', 'obscene'], 'multi_label'),
    (err: Error) =>
      err instanceof LabelMappingError &&
      /no model label feeds 'hate'/.test(err.message) &&
      /'toxic', 'obscene'/.test(err.message) &&
      /maps labels the model does not have: insult, identity_hate, neutral/.test(err.message),
  );
});
