/**
 * Long texts are cut at a whitespace before tokenizing (CHARS_PER_TOKEN): the model must see exactly
 * the same input ids and token types as if the whole text had been tokenized and then truncated, on
 * the starter tokenizer and on the Hub's BERT (WordPiece) and RoBERTa (byte-level BPE) tokenizers.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CHARS_PER_TOKEN, SequenceEncoder } from '../../src/inference/tokenizer.js';
import { mulberry32 } from '../../src/random.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

const SHARED = path.resolve('..', 'shared', 'tokenizers');
const WORDS = ['kill', 'you', 'now', 'the', 'a', 'tomorrow', 'antidisestablishmentarianism', 'https://example.com/a/b?c=d', '🙂', 'naïve', 'café', "don't", 'x'.repeat(40), '!!!', '12,345', 'THE', 'End.'];

function longText(rng: () => number, chars: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const w = WORDS[Math.floor(rng() * WORDS.length)];
    const sep = rng() < 0.1 ? '\n' : rng() < 0.05 ? '  ' : ' ';
    parts.push(w, sep);
    n += w.length + sep.length;
  }
  return parts.join('');
}

async function tokenizers(): Promise<[string, Record<string, unknown>][]> {
  const out: [string, Record<string, unknown>][] = [['starter', JSON.parse(readFileSync(path.join(await tinyModelDir(), 'tokenizer.json'), 'utf8'))]];
  for (const name of ['bert-base-uncased', 'roberta-base']) {
    const f = path.join(SHARED, name, 'tokenizer.json');
    if (existsSync(f)) out.push([name, JSON.parse(readFileSync(f, 'utf8'))]);
  }
  return out;
}

test('a long text cut before tokenizing gives the model exactly the ids of the whole text, truncated', async (t) => {
  const all = await tokenizers();
  if (all.length < 3) t.diagnostic(`../shared/tokenizers not found: checked on the starter tokenizer only`);
  const rng = mulberry32(11);
  for (const [name, json] of all) {
    for (const maxLength of [16, 128]) {
      const capped = new SequenceEncoder(json, maxLength);
      const whole = new SequenceEncoder(json, maxLength, 0);
      for (let i = 0; i < 40; i++) {
        const text = longText(rng, maxLength * CHARS_PER_TOKEN * (1 + rng() * 4));
        const context = rng() < 0.5 ? longText(rng, maxLength * CHARS_PER_TOKEN * 2) : null;
        const a = capped.encode(text, context);
        const b = whole.encode(text, context);
        assert.deepEqual(a.ids, b.ids, `${name}, max ${maxLength}, text ${i}: ids`);
        assert.deepEqual(a.typeIds, b.typeIds, `${name}, max ${maxLength}, text ${i}: token types`);
        assert.equal(a.truncated, true);
        assert.ok(a.tokenCount <= b.tokenCount && a.tokenCount > maxLength - 4, 'the count is of the part read');
      }
      // One unbroken run of characters has no whitespace to cut at: the whole text is tokenized.
      const unbroken = 'y'.repeat(maxLength * CHARS_PER_TOKEN * 2);
      assert.deepEqual(capped.encode(unbroken), whole.encode(unbroken));
    }
  }
});
