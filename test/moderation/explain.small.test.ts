/**
 * Why a score, by hand: a head with a backbone part, a bias and an n-gram part on a text whose n-grams
 * and their values are computed here from the definition (log(1 + tf), L2-normalised per block), so every
 * contribution is checked against arithmetic, not against the code that produced it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyHead, type Head } from '../../src/inference/head.js';
import { NgramFeaturizer, ngramSource, type NgramConfig } from '../../src/inference/ngrams.js';
import { explainCategory, ngramWordShares } from '../../src/moderation/explain.js';

// Word unigrams only, one block: each distinct word of a text weighs log(1 + count), the block then has norm 1.
const CONFIG: NgramConfig = { buckets: 1 << 16, word: [1, 1], char: null };

/** The bucket of each word, as the featurizer hashes it. */
function bucketsOf(text: string): Map<string, number> {
  const m = new Map<string, number>();
  new NgramFeaturizer(CONFIG).row(text, (bucket, words) => m.set(words[0], bucket));
  return m;
}

function head(text: string, weights: Record<string, number>): Head {
  const b = bucketsOf(text);
  const entries = Object.entries(weights)
    .map(([w, x]) => [b.get(w)!, x] as const)
    .sort((a, c) => a[0] - c[0]);
  return {
    numLabels: 1,
    dim: 2,
    weight: Float32Array.from([0.5, -1]),
    bias: Float32Array.from([0.25]),
    lexical: null,
    ngrams: { config: CONFIG, rows: Int32Array.from([0]), buckets: Int32Array.from(entries.map((e) => e[0])), weight: Float32Array.from(entries.map((e) => e[1])) },
  };
}

test('n-gram shares: "kill you kill" has kill twice, you once; each share is weight × log(1+tf)/norm', () => {
  const text = 'kill you kill';
  const h = head(text, { kill: 2, you: -0.5 });
  const norm = Math.hypot(Math.log(3), Math.log(2));
  const kill = (2 * Math.log(3)) / norm;
  const you = (-0.5 * Math.log(2)) / norm;
  const s = ngramWordShares(h, text, 0);
  assert.ok(Math.abs(s.words.get('kill')! - kill) < 1e-6, `${s.words.get('kill')} vs ${kill}`);
  assert.ok(Math.abs(s.words.get('you')! - you) < 1e-6);
  assert.ok(Math.abs(s.total - (kill + you)) < 1e-6);
});

test('the parts add up to the logit: bias 0.25 + backbone (0.5·1 − 1·2) + n-grams; occlusion credits the backbone', () => {
  const text = 'kill you kill';
  const h = head(text, { kill: 2, you: -0.5 });
  const features = Float32Array.from([1, 2]);
  const logit = applyHead(h, features, 1, null, ngramSource([text])(CONFIG))[0];
  const norm = Math.hypot(Math.log(3), Math.log(2));
  const ngrams = (2 * Math.log(3) - 0.5 * Math.log(2)) / norm;
  assert.ok(Math.abs(logit - (0.25 - 1.5 + ngrams)) < 1e-6);
  // Without "you" the features would be [1, 0]: the backbone part 0.5 instead of −1.5, so "you" moved it by −2.
  const e = explainCategory(h, 'violence', 0, text, logit, features, null, [
    { word: 'kill', features: Float32Array.from([0, 2]) },
    { word: 'you', features: Float32Array.from([1, 0]) },
    { word: 'kill', features: Float32Array.from([0, 2]) },
  ]);
  assert.deepEqual(e.parts, { bias: 0.25, backbone: -1.5, lexical: 0, ngrams: Math.round(ngrams * 1e6) / 1e6 });
  assert.equal(e.logit, Math.round(logit * 1e6) / 1e6);
  assert.deepEqual(e.words.map((w) => w.word), ['kill', 'you']);
  // Occlusion, contribution = w·f with the word − w·f without it: without one "kill", w·f = −2, so each
  // "kill" gave −1.5 − (−2) = +0.5 (twice: +1); without "you", w·f = 0.5, so "you" gave −1.5 − 0.5 = −2.
  assert.deepEqual(e.backbone_words, [
    { word: 'you', contribution: -2 },
    { word: 'kill', contribution: 1 },
  ]);
});

test('a logit that the parts do not add up to is refused (the explanation would lie)', () => {
  const text = 'kill you';
  const h = head(text, { kill: 1 });
  assert.throws(() => explainCategory(h, 'violence', 0, text, 99, Float32Array.from([1, 2]), null), /explanation parts add up to/);
});
