/**
 * The batcher buckets texts by estimateTokens (they are tokenized later, in the workers). It must track
 * a real tokenizer closely enough that a bucket holds texts of similar real length.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CHARS_PER_TOKEN, estimateTokens, SequenceEncoder } from '../../src/inference/tokenizer.js';
import { mulberry32 } from '../../src/random.js';

test('one per run of ASCII letters and digits, one per other visible character, capped', () => {
  assert.equal(estimateTokens(''), 0);
  assert.equal(estimateTokens('hello world'), 2);
  assert.equal(estimateTokens("I'm fine!!"), 6);
  assert.equal(estimateTokens('  \n\t '), 0);
  assert.equal(estimateTokens('naïve café 🙂'), 7, 'na ï ve caf é and the emoji (a surrogate pair, two)');
  assert.equal(estimateTokens('word '.repeat(1000), 128), 128);
  // A million-character text that counts the characters read: one word, so only the cap on characters stops the loop.
  let read = 0;
  const long = { length: 1_000_000, charCodeAt: () => (read++, 120) } as unknown as string;
  assert.equal(estimateTokens(long, 128), 1);
  assert.equal(read, 128 * CHARS_PER_TOKEN, 'a long text is read only up to the cap (characters per token × cap)');
});

const BERT = path.resolve('..', 'shared', 'tokenizers', 'bert-base-uncased', 'tokenizer.json');

test('on the Hub BERT tokenizer, estimated order agrees with real order for texts of clearly different length', { skip: existsSync(BERT) ? false : `${BERT} not found (../shared is provided in CI)` }, () => {
  const enc = new SequenceEncoder(JSON.parse(readFileSync(BERT, 'utf8')), 512);
  const words = ['you', 'are', 'the', 'worst', 'people', "don't", 'ever', 'come', 'back', 'here', '!!', 'lol', '@someone', 'https://t.co/abc', '#tag', 'unbelievable'];
  const rng = mulberry32(3);
  const texts = Array.from({ length: 300 }, () => Array.from({ length: 1 + Math.floor(rng() * 40) }, () => words[Math.floor(rng() * words.length)]).join(' '));
  const real = texts.map((t) => enc.encode(t).tokenCount);
  const est = texts.map((t) => estimateTokens(t));
  let agree = 0;
  let pairs = 0;
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      if (real[i] > 1.5 * real[j] || real[j] > 1.5 * real[i]) {
        pairs++;
        if (Math.sign(real[i] - real[j]) === Math.sign(est[i] - est[j])) agree++;
      }
    }
  }
  assert.ok(agree / pairs > 0.97, `agreed on ${agree} of ${pairs} pairs`);
});
