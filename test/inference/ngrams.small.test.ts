import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNgramConfig, DEFAULT_NGRAMS, NGRAM_MAX_CHARS, NgramFeaturizer, normalizeForNgrams, rowOf } from '../../src/inference/ngrams.js';

const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

test('normalisation: entities decoded, URLs and mentions become placeholders, NFKC, lower case, apostrophes dropped', () => {
  assert.equal(normalizeForNgrams('RT @some_user: Don&#8217;t &amp; WON\u2019T  see https://t.co/abc?x=1 now'), 'rt @user : dont & wont see httpurl now');
  assert.equal(normalizeForNgrams('ＦＵＬＬＷＩＤＴＨ'), 'fullwidth');
  assert.equal(normalizeForNgrams('mail me at a@b.com'), 'mail me at a@b.com', 'an address is not a mention');
  assert.equal(normalizeForNgrams('&#xD800; &bogus;'), '&#xd800; &bogus;', 'invalid entities stay as they are');
});

test('a row is unit-norm, sorted, deterministic, and the same text always gives the same buckets', () => {
  const f = new NgramFeaturizer(DEFAULT_NGRAMS);
  const a = f.row('You are a zorblax, a total zorblax!');
  const b = new NgramFeaturizer(DEFAULT_NGRAMS).row('You are a zorblax, a total zorblax!');
  assert.deepEqual([...a.index], [...b.index]);
  assert.deepEqual([...a.value], [...b.value]);
  assert.ok(Math.abs(norm(a.value) - 1) < 1e-6, String(norm(a.value)));
  for (let i = 1; i < a.index.length; i++) assert.ok(a.index[i] > a.index[i - 1]);
  assert.ok(a.index.every((x) => x >= 0 && x < DEFAULT_NGRAMS.buckets));
  const empty = f.row('   ');
  assert.equal(empty.index.length, 0, 'no n-grams, no features');
});

test('every word is seen: two made-up words that a word-level vocabulary would both map to [UNK] get different features', () => {
  const f = new NgramFeaturizer(DEFAULT_NGRAMS);
  const a = f.row('you are a zorblax');
  const b = f.row('you are a quimberton');
  const shared = [...a.index].filter((x) => b.index.includes(x)).length;
  assert.ok(shared < a.index.length / 2, `${shared} of ${a.index.length} buckets shared`);
  // The word itself has a bucket that the other text does not.
  const word = new NgramFeaturizer({ ...DEFAULT_NGRAMS, char: null }).row('zorblax');
  assert.equal(word.index.length, 1);
  assert.ok(a.index.includes(word.index[0]) && !b.index.includes(word.index[0]));
});

test('log term frequency: a repeated word weighs log(1 + tf), not tf; word and character blocks are normalised apart', () => {
  const words = new NgramFeaturizer({ buckets: 1 << 20, word: [1, 1], char: null });
  const r = words.row('kill kill kill you');
  // Two buckets: log(4) and log(2), normalised.
  const expect = [Math.log(4), Math.log(2)];
  const n = Math.hypot(...expect);
  assert.deepEqual([...r.value].map((v) => Number(v.toFixed(6))).sort(), expect.map((v) => Number((v / n).toFixed(6))).sort());
  const both = new NgramFeaturizer({ buckets: 1 << 20, word: [1, 2], char: [2, 5] }).row('hello world');
  const w = new NgramFeaturizer({ buckets: 1 << 20, word: [1, 2], char: null }).row('hello world');
  // The word block carries half of the squared norm.
  let wordPart = 0;
  w.index.forEach((b) => {
    const k = both.index.indexOf(b);
    wordPart += both.value[k] ** 2;
  });
  assert.ok(Math.abs(wordPart - 0.5) < 1e-3, String(wordPart));
});

test('n-gram lengths: word bigrams and character 2–5-grams within space-padded chunks (counted exactly)', () => {
  // "ab": padded " ab ": 2-grams " a","ab","b " (3), 3-grams " ab","ab " (2), 4-gram " ab " (1) = 6 char n-grams.
  const chars = new NgramFeaturizer({ buckets: 1 << 22, word: null, char: [2, 5] }).row('ab');
  assert.equal(chars.index.length, 6);
  const words = new NgramFeaturizer({ buckets: 1 << 22, word: [1, 2], char: null }).row('a b c');
  assert.equal(words.index.length, 5, 'three unigrams and two bigrams');
});

test('the n-grams read the first 4,096 characters of the normalised text (counted in code points): a longer text costs no more', () => {
  const f = new NgramFeaturizer({ buckets: 1 << 20, word: [1, 1], char: null });
  const head = 'a'.repeat(NGRAM_MAX_CHARS - 2);
  // An astral character (two UTF-16 units, one code point) right at the edge, then a word past it.
  assert.deepEqual([...f.row(`${head} 😀 tail`).index], [...f.row(`${head} 😀`).index], 'the word past the cap is not read');
  assert.notDeepEqual([...f.row(`${head} x`).index], [...f.row(head).index], 'a word within the cap is');
});

test('rows(): CSR over many texts, each row as row() gives it', () => {
  const f = new NgramFeaturizer(DEFAULT_NGRAMS);
  const texts = ['first text', '', 'third one here'];
  const rows = f.rows(texts);
  texts.forEach((t, i) => assert.deepEqual([...rowOf(rows, i).index], [...f.row(t).index]));
});

test('config validation names the problem', () => {
  assert.throws(() => checkNgramConfig({ buckets: 1000, word: [1, 2], char: null }), /power of two/);
  assert.throws(() => checkNgramConfig({ buckets: 1024, word: [2, 1], char: null }), /word lengths/);
  assert.throws(() => checkNgramConfig({ buckets: 1024, word: null, char: null }), /a word block, a char block or both/);
});
