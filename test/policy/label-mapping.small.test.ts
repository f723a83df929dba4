import assert from 'node:assert/strict';
import { test } from 'node:test';
import { categoryScores, LabelMappingError, mapLabels } from '../../src/policy/label-mapping.js';
import { parsePolicy } from '../../src/policy/loader.js';

const policy = parsePolicy(
  'p',
  ['categories:', '  harassment: { flag: 0.5 }', '  hate: { flag: 0.5 }', 'labels:', '  toxic: harassment', '  insult: [harassment]', '  identity_hate: hate', '  neutral: null'].join('\n'),
);

test('labels map by name or by the policy, max for multi-label and sum for single-label', () => {
  const m = mapLabels(policy, { labels: ['toxic', 'insult', 'identity_hate', 'neutral', 'spam'], problemType: 'multi_label' });
  assert.deepEqual(m.sources, { harassment: [0, 1], hate: [2] });
  assert.deepEqual(m.unmapped, ['spam'], 'unmapped labels are reported; explicit null is not');
  assert.deepEqual(categoryScores(m, [0.2, 0.7, 0.1, 0.9, 0.9]), { harassment: 0.7, hate: 0.1 });
  const s = mapLabels(policy, { labels: ['toxic', 'insult', 'identity_hate', 'neutral'], problemType: 'single_label' });
  assert.deepEqual(categoryScores(s, [0.25, 0.25, 0.1, 0.4]), { harassment: 0.5, hate: 0.1 });
  const byName = mapLabels(parsePolicy('q', 'categories: { hate: { flag: 0.5 } }'), { labels: ['hate', 'other'], problemType: 'multi_label' });
  assert.deepEqual(byName.sources, { hate: [0] });
});

test('a category that no model label feeds is refused with the labels listed', () => {
  assert.throws(
    () => mapLabels(policy, { labels: ['toxic', 'obscene'], problemType: 'multi_label' }),
    (err: Error) =>
      err instanceof LabelMappingError &&
      /no model label feeds 'hate'/.test(err.message) &&
      /'toxic', 'obscene'/.test(err.message) &&
      /maps labels the model does not have: insult, identity_hate, neutral/.test(err.message),
  );
});

test("the model's own label map (from import) applies unless the policy maps the label itself", () => {
  const p = parsePolicy('m', 'categories:\n  harassment: { flag: 0.5 }\n  hate: { flag: 0.5 }\nlabels:\n  insult: hate\n');
  const m = mapLabels(p, {
    labels: ['toxic', 'insult', 'identity_hate', 'spam'],
    problemType: 'multi_label',
    labelMap: { toxic: ['harassment'], insult: ['harassment'], identity_hate: ['hate', 'hate/threatening'], spam: [] },
  });
  assert.deepEqual(m.sources, { harassment: [0], hate: [1, 2] }, "the policy's 'insult: hate' wins; categories the policy lacks are ignored");
  assert.deepEqual(m.unmapped, [], 'spam: [] is ignored on purpose');
});
