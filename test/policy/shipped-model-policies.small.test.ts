/**
 * What ships for well-known Hub classifiers: policies/label-maps/<owner>--<name>.yaml (label → default
 * policy categories) and policies/toxic-bert/ (a policy those labels can feed in full). The label map names
 * only the model's labels and real categories; the model policy binds to the labels and keeps every
 * setting of the default policy (so the two never drift apart).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadPolicies } from '../../src/policy/loader.js';
import { LabelMappingError, mapLabels } from '../../src/policy/label-mapping.js';
import { REPO } from '../helpers/repo.js';

const POLICIES = path.join(REPO, 'policies');
const JIGSAW = ['toxic', 'severe_toxic', 'obscene', 'threat', 'insult', 'identity_hate'];

test('the toxic-bert label map names its six labels and only default-policy categories; the default policy alone cannot bind to it', async () => {
  const map = parseYaml(await fs.readFile(path.join(POLICIES, 'label-maps', 'Xenova--toxic-bert.yaml'), 'utf8')) as Record<string, string | string[] | null>;
  assert.deepEqual(Object.keys(map).sort(), [...JIGSAW].sort());
  const def = (await loadPolicies(POLICIES)).get('default')!;
  for (const target of Object.values(map).flatMap((v) => (v === null ? [] : Array.isArray(v) ? v : [v]))) assert.ok(def.categories.includes(target), target);
  const labelMap = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, v === null ? [] : Array.isArray(v) ? v : [v]]));
  assert.throws(() => mapLabels(def, { labels: JIGSAW, problemType: 'multi_label', labelMap }), (err: Error) => err instanceof LabelMappingError && /no model label feeds 'hate\/threatening', 'illicit'/.test(err.message));
});

test('policies/toxic-bert binds to the Jigsaw labels and keeps every setting of the default policy', async () => {
  const def = (await loadPolicies(POLICIES)).get('default')!;
  const tb = (await loadPolicies(path.join(POLICIES, 'toxic-bert'))).get('default')!;
  const rest = ({ categories: _c, labels: _l, description: _d, ...s }: Record<string, unknown>) => s;
  assert.deepEqual(rest(tb.settings as never), rest(def.settings as never));
  for (const c of tb.categories) assert.deepEqual(tb.rules[c], def.rules[c], c);
  const m = mapLabels(tb, { labels: JIGSAW, problemType: 'multi_label' });
  assert.deepEqual(m.unmapped, ['obscene']);
  assert.deepEqual(m.sources['harassment/threatening'], [JIGSAW.indexOf('threat')]);
});
