/**
 * `npm run bench:tokenize [-- --model DIR]`: what the character pre-cap saves. Tokenizes one request's worth
 * of long texts (64 × ~20,000 characters of words, and 64 unbroken runs of 20,000 characters) with the
 * model's tokenizer at max length 128, cut before tokenizing (the service) and whole (without the cap),
 * and prints the time per request and the ratio, measured in this one run (best of 5). Then the n-gram
 * features a tuned head's n-gram part reads (src/inference/ngrams.ts: the first 4,096 characters) for the
 * same requests and for 64 tweet-sized texts, against tokenizing them, measured in the same run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_NGRAMS, NgramFeaturizer } from '../src/inference/ngrams.js';
import { SequenceEncoder } from '../src/inference/tokenizer.js';

const { values } = parseArgs({ options: { model: { type: 'string' } } });
const dir = values.model ?? process.env.MODEL_DIR ?? 'models/default';
const json = JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'kill', 'you', 'tomorrow', 'again'];
const texts = {
  words: Array.from({ length: 4000 }, (_, i) => words[(i * 7) % words.length]).join(' ').slice(0, 20000),
  unbroken: 'x'.repeat(20000),
};

function best(work: (text: string) => unknown, text: string): number {
  let min = Infinity;
  for (let round = 0; round < 5; round++) {
    const s = performance.now();
    for (let i = 0; i < 64; i++) work(text);
    min = Math.min(min, performance.now() - s);
  }
  return min;
}

const capped = new SequenceEncoder(json, 128);
const whole = new SequenceEncoder(json, 128, 0);
console.log(`tokenizer of ${dir}, max length 128, 64 texts per request (best of 5 runs)`);
console.log('| text | whole text | cut before tokenizing | ratio |');
console.log('|---|---|---|---|');
for (const [name, text] of Object.entries(texts)) {
  const w = best((t) => whole.encode(t), text);
  const c = best((t) => capped.encode(t), text);
  console.log(`| ${name}, ${text.length} characters | ${w.toFixed(1)} ms | ${c.toFixed(1)} ms | ${(c / w).toFixed(2)} |`);
}

const ngrams = new NgramFeaturizer(DEFAULT_NGRAMS);
const tweet = 'RT @someone: you people are all the same, get out of this forum &amp; never come back https://t.co/abc';
console.log('\nn-gram features (word 1–2, char 2–5, 2^18 buckets; the first 4,096 characters) beside tokenizing (cut), 64 texts');
console.log('| text | tokenize | n-grams | n-grams / tokenize |');
console.log('|---|---|---|---|');
for (const [name, text] of [['tweet', tweet], ...Object.entries(texts)] as [string, string][]) {
  const t = best((x) => capped.encode(x), text);
  const g = best((x) => ngrams.row(x), text);
  console.log(`| ${name}, ${text.length} characters | ${t.toFixed(1)} ms | ${g.toFixed(1)} ms | ${(g / t).toFixed(2)} |`);
}
