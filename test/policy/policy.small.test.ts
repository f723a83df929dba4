import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { loadPolicies, parsePolicy, PolicyError } from '../../src/policy/loader.js';
import { decide } from '../../src/policy/policy.js';

const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PolicyError, `expected a PolicyError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the policy to be refused');
};

test('the shipped default policy is valid and covers the 13 OpenAI categories', async () => {
  const policies = await loadPolicies(path.resolve('policies'));
  const p = policies.get('default')!;
  assert.deepEqual([...p.categories].sort(), [...OPENAI_CATEGORIES].sort());
  assert.match(p.version, /^[0-9a-f]{16}$/);
  assert.equal(p.settings.training.schedule, '0 3 * * *');
});

test('version is the content hash: same text same version, any edit a new one', () => {
  const src = 'categories:\n  hate: { flag: 0.5, block: 0.9 }\n';
  assert.equal(parsePolicy('a', src).version, parsePolicy('a', src).version);
  assert.notEqual(parsePolicy('a', src).version, parsePolicy('a', src.replace('0.9', '0.8')).version);
});

test('invalid policies name the file, the field and the reason', () => {
  const got = problems(() =>
    parsePolicy(
      'strict',
      [
        'categories:',
        '  hate: { flag: 0.5, blok: 0.9 }',
        '  violence: { flag: 1.5 }',
        '  sexual: { flag: 0.6, block: 0.4 }',
        'labels: { toxic: harrassment }',
        'training: { schedule: "61 * * * *", loss: bce }',
        'gate: { min_eval_items: 0 }',
      ].join('\n'),
      'policies/strict.yaml',
    ),
  );
  const has = (re: RegExp) => assert.ok(got.some((p) => re.test(p)), `no problem matching ${re} in:\n${got.join('\n')}`);
  has(/^policies\/strict\.yaml: categories\.hate: Unrecognized key: "blok"/);
  has(/^policies\/strict\.yaml: categories\.violence\.flag: .*<=1/);
  has(/^policies\/strict\.yaml: categories\.sexual\.block: block threshold must be at least the flag threshold/);
  has(/^policies\/strict\.yaml: labels\.toxic: maps to category 'harrassment', which this policy does not define/);
  has(/^policies\/strict\.yaml: training\.schedule: not a valid cron expression/);
  has(/^policies\/strict\.yaml: training\.loss: /);
  has(/^policies\/strict\.yaml: gate\.min_eval_items: /);
});

test('YAML syntax errors and duplicate keys are refused', () => {
  assert.match(problems(() => parsePolicy('x', 'categories: [\n'))[0], /^x\.yaml: YAML: /);
  assert.match(problems(() => parsePolicy('x', 'categories:\n  hate: { flag: 0.5 }\n  hate: { flag: 0.6 }\n'))[0], /YAML: .*[Mm]ap keys must be unique/);
  assert.match(problems(() => parsePolicy('x', ''))[0], /categories: /);
  assert.match(problems(() => parsePolicy('Bad Name', 'categories: { hate: { flag: 0.5 } }'))[0], /policy name 'Bad Name'/);
});

test('loadPolicies reports problems across files together and finds every policy', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-pol-'));
  await fs.writeFile(path.join(dir, 'a.yaml'), 'categories: { hate: { flag: 0.5 } }\n');
  await fs.writeFile(path.join(dir, 'b.yml'), 'categories: { hate: { flag: 0.5 } }\n');
  assert.deepEqual([...(await loadPolicies(dir)).keys()], ['a', 'b']);
  await fs.writeFile(path.join(dir, 'c.yaml'), 'categories: { hate: { flag: 2 } }\n');
  await fs.writeFile(path.join(dir, 'd.yaml'), 'nope: 1\ncategories: { hate: { flag: 0.5 } }\n');
  await assert.rejects(loadPolicies(dir), (err: PolicyError) => {
    assert.equal(err.problems.length, 2);
    assert.match(err.problems[0], /c\.yaml: categories\.hate\.flag/);
    assert.match(err.problems[1], /d\.yaml: \(top level\): Unrecognized key: "nope"/);
    return true;
  });
  await assert.rejects(loadPolicies(path.join(dir, 'missing')), /cannot read the policy directory/);
});

test('decide: block beats review beats allow; uncertainty band around the flag threshold', () => {
  const p = parsePolicy(
    'p',
    'categories:\n  hate: { flag: 0.5, block: 0.9 }\n  violence: { flag: 0.4, block: null, uncertainty_margin: 0.05 }\nreview: { uncertainty_margin: 0.1 }\n',
  );
  const allow = decide(p, { hate: 0.1, violence: 0.2 });
  assert.equal(allow.action, 'allow');
  assert.equal(allow.flagged, false);
  assert.deepEqual(allow.categories, { hate: false, violence: false });
  const review = decide(p, { hate: 0.55, violence: 0.99 });
  assert.equal(review.action, 'review', 'violence never blocks (block: null), hate is flagged only');
  assert.deepEqual(review.uncertain, ['hate']);
  assert.equal(decide(p, { hate: 0.9, violence: 0 }).action, 'block', 'the block threshold is inclusive');
  assert.deepEqual(decide(p, { hate: 0.3, violence: 0.36 }).uncertain, ['violence']);
  assert.deepEqual(decide(p, { hate: 0.3, violence: 0.34 }).uncertain, []);
  assert.deepEqual(decide(p, {}).categoryScores, { hate: 0, violence: 0 });
});

test('decide: scores are kept to 6 decimal places, and the thresholds test the score it reports', () => {
  const p = parsePolicy('p', 'categories:\n  hate: { flag: 0.5, block: 0.9 }\n  violence: { flag: 0.4, block: null }\n');
  const d = decide(p, { hate: 0.4999996, violence: 0.123456789 });
  assert.deepEqual(d.categoryScores, { hate: 0.5, violence: 0.123457 });
  assert.deepEqual(d.categories, { hate: true, violence: false }, 'flagged at the 0.5 it reports, not at 0.4999996 below it');
  assert.deepEqual(decide(p, { hate: 0.4999994, violence: 0 }).categories.hate, false);
});

test('removed training and gate settings are refused with what replaced them; searched settings take a number or a list', () => {
  const got = problems(() =>
    parsePolicy(
      'old',
      'categories:\n  hate: { flag: 0.5 }\ntraining: { anchor_weight: 0.1, weight_decay: 0.01, epochs: 60, learning_rate: 0.2, lexical_l2: 0.001, beta: [] }\ngate: { min_eval_items: 100, min_improvement: 0 }\n',
      'policies/old.yaml',
    ),
  );
  const has = (re: RegExp) => assert.ok(got.some((p) => re.test(p)), `${re}\n${got.join('\n')}`);
  has(/^policies\/old\.yaml: training\.anchor_weight: anchor_weight was removed: .*reference head \(l2\); delete the key/);
  has(/^policies\/old\.yaml: training\.weight_decay: weight_decay was removed/);
  has(/^policies\/old\.yaml: training\.epochs: epochs was removed: each category is now solved to its optimum/);
  has(/^policies\/old\.yaml: training\.learning_rate: learning_rate was removed/);
  has(/^policies\/old\.yaml: training\.lexical_l2: lexical_l2 was removed: the lexical part is now hashed n-grams/);
  has(/^policies\/old\.yaml: gate\.min_eval_items: min_eval_items was removed: the gate decides on the evidence/);
  has(/^policies\/old\.yaml: gate\.min_improvement: min_improvement was removed/);
  has(/^policies\/old\.yaml: training\.beta/);
  const p = parsePolicy('new', 'categories:\n  hate: { flag: 0.5 }\ntraining: { beta: 0.3, l2: 1, ngrams: { buckets: 65536 } }\n');
  assert.deepEqual(p.settings.training.beta, [0.3]);
  assert.deepEqual(p.settings.training.l2, [1]);
  assert.deepEqual(p.settings.training.ngrams, { buckets: 65536, word: [1, 2], char: [2, 5], min_df: 2, rare_penalty: 0 });
  assert.equal(p.settings.training.pairs, 'all');
  assert.equal(p.settings.gate.confidence, 0.95);
  assert.equal(parsePolicy('d', 'categories:\n  hate: { flag: 0.5 }\n').settings.training.beta, 'auto');
});

test('standardize: whiten, scale or none; the booleans of earlier policies read as whiten and none; anything else is refused', () => {
  const std = (v: string) => parsePolicy('s', `categories:\n  hate: { flag: 0.5 }\ntraining: { standardize: ${v} }\n`).settings.training.standardize;
  assert.equal(std('scale'), 'scale');
  assert.equal(std('whiten'), 'whiten');
  assert.equal(std('none'), 'none');
  assert.equal(std('true'), 'whiten');
  assert.equal(std('false'), 'none');
  const got = problems(() => parsePolicy('z', 'categories:\n  hate: { flag: 0.5 }\ntraining: { standardize: pca }\n', 'policies/z.yaml'));
  assert.ok(got.some((p) => /^policies\/z\.yaml: training\.standardize/.test(p)), got.join('\n'));
});

test('training settings the trainer cannot run together are refused, naming why', () => {
  const got = problems(() => parsePolicy('x', 'categories:\n  hate: { flag: 0.5 }\ntraining: { rpo_alpha: 1 }\n', 'policies/x.yaml'));
  assert.ok(got.some((p) => /training\.beta: beta auto needs rpo_alpha 0/.test(p)), got.join('\n'));
  const none = problems(() => parsePolicy('y', 'categories:\n  hate: { flag: 0.5 }\ntraining: { calibration: none }\n', 'policies/y.yaml'));
  assert.ok(none.some((p) => /training\.beta: beta auto is chosen together with the calibration/.test(p)), none.join('\n'));
  assert.equal(parsePolicy('z', 'categories:\n  hate: { flag: 0.5 }\ntraining: { rpo_alpha: 1, beta: 0.1 }\n').settings.training.rpo_alpha, 1);
  const buckets = problems(() => parsePolicy('w', 'categories:\n  hate: { flag: 0.5 }\ntraining: { ngrams: { buckets: 100000 } }\n', 'policies/w.yaml'));
  assert.ok(buckets.some((p) => /training\.ngrams\.buckets: must be a power of two/.test(p)), buckets.join('\n'));
});

test('ties: escalate by default; the older conflict_resolution still reads as the tie rule it meant', () => {
  const base = 'categories:\n  hate: { flag: 0.5 }\n';
  assert.equal(parsePolicy('a', base).settings.review.ties, 'escalate');
  assert.equal(parsePolicy('b', `${base}review: { conflict_resolution: majority }\n`).settings.review.ties, 'flag');
  assert.equal(parsePolicy('c', `${base}review: { conflict_resolution: drop_ties }\n`).settings.review.ties, 'drop');
  const both = problems(() => parsePolicy('d', `${base}review: { conflict_resolution: majority, ties: drop }\n`, 'policies/d.yaml'));
  assert.ok(both.some((p) => /^policies\/d\.yaml: review\.conflict_resolution: give either ties or the older conflict_resolution, not both/.test(p)), both.join('\n'));
});

test('a six-field cron (seconds first in croner) is refused with what it would have meant; five fields and @daily are read', () => {
  const problems = (schedule: string) => {
    try {
      parsePolicy('p', `categories:\n  hate: { flag: 0.5 }\ntraining: { schedule: "${schedule}" }`);
      return [];
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
  };
  const six = problems('0 3 * * * *');
  assert.equal(six.length, 1);
  assert.match(six[0], /training\.schedule: six fields: this reads seconds first \("0 3 \* \* \* \*" would run every hour at minute 3\); write the five fields/);
  assert.deepEqual(problems('0 3 * * *'), []);
  assert.deepEqual(problems('@daily'), []);
  assert.match(problems('0 3 * *')[0], /training\.schedule: not a valid cron expression \(five fields/);
});
