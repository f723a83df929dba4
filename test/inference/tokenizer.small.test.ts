import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';

const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', 'world', 'you', 'are', 'nice', '!', 'the', 'context', 'is', 'here', 'a'];
const special = (id: number, content: string) => ({ id, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false });

/** A BERT-style tokenizer: WordPiece, [CLS] A [SEP] B [SEP], token type ids 0 for A and 1 for B. */
const bertLike = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [special(0, '[PAD]'), special(1, '[UNK]'), special(2, '[CLS]'), special(3, '[SEP]')],
  normalizer: { type: 'Lowercase' },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: '[CLS]', type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: '[SEP]', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 1 } },
      { SpecialToken: { id: '[SEP]', type_id: 1 } },
    ],
    special_tokens: {
      '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
      '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
    },
  },
  decoder: null,
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((w, i) => [w, i])) },
};
const id = (w: string) => vocab.indexOf(w);

test('single text: special tokens, lowercase, unknown words', () => {
  const enc = new SequenceEncoder(bertLike, 16);
  assert.equal(enc.specialsSingle, 2);
  assert.equal(enc.specialsPair, 3);
  const e = enc.encode('Hello WORLD zebra!');
  assert.deepEqual(e.ids, [2, id('hello'), id('world'), 1, id('!'), 3]);
  assert.deepEqual(e.typeIds, [0, 0, 0, 0, 0, 0]);
  assert.equal(e.tokenCount, 4);
  assert.equal(e.truncated, false);
});

test('pair: context is the second sequence with token type 1', () => {
  const e = new SequenceEncoder(bertLike, 16).encode('you are nice', 'the context is here');
  assert.deepEqual(e.ids, [2, id('you'), id('are'), id('nice'), 3, id('the'), id('context'), id('is'), id('here'), 3]);
  assert.deepEqual(e.typeIds, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
});

test('truncation keeps the text and gives the context what is left', () => {
  const enc = new SequenceEncoder(bertLike, 8);
  // Budget 8 - 3 specials = 5: text takes 3, context keeps 2 of its 4.
  const e = enc.encode('you are nice', 'the context is here');
  assert.deepEqual(e.ids, [2, id('you'), id('are'), id('nice'), 3, id('the'), id('context'), 3]);
  assert.equal(e.truncated, true);
  assert.equal(e.tokenCount, 7);
  // A text longer than the budget fills it entirely; the context gets nothing.
  const long = enc.encode('a a a a a a a a a a', 'the context');
  assert.deepEqual(long.ids, [2, ...Array(5).fill(id('a')), 3, 3]);
  assert.equal(long.ids.length, 8);
  assert.equal(long.truncated, true);
  // Single text: budget 8 - 2.
  const single = enc.encode('a a a a a a a a a a');
  assert.deepEqual(single.ids, [2, ...Array(6).fill(id('a')), 3]);
});

test('pad: a batch is padded to its longest member with a zero attention mask', () => {
  const enc = new SequenceEncoder(bertLike, 16);
  const b = SequenceEncoder.pad([enc.encode('hello'), enc.encode('you are nice', 'the context'), enc.encode('')], enc.padId);
  assert.equal(b.size, 3);
  assert.equal(b.seqLen, 8);
  const row = (a: BigInt64Array, r: number) => [...a.subarray(r * 8, r * 8 + 8)].map(Number);
  assert.deepEqual(row(b.inputIds, 0), [2, id('hello'), 3, 0, 0, 0, 0, 0]);
  assert.deepEqual(row(b.attentionMask, 0), [1, 1, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(row(b.tokenTypeIds, 1), [0, 0, 0, 0, 0, 1, 1, 1]);
  assert.deepEqual(row(b.attentionMask, 1), [1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(row(b.inputIds, 2), [2, 3, 0, 0, 0, 0, 0, 0], 'an empty text is just the special tokens');
});

test('a tokenizer without a post-processor adds nothing; an empty batch row still has length 1', () => {
  const plain = { ...bertLike, post_processor: null };
  const enc = new SequenceEncoder(plain, 4);
  assert.deepEqual(enc.encode('hello world you are nice').ids, [id('hello'), id('world'), id('you'), id('are')]);
  assert.deepEqual(enc.encode('hello', 'world').ids, [id('hello'), id('world')]);
  const b = SequenceEncoder.pad([enc.encode('')], enc.padId);
  assert.equal(b.seqLen, 1);
  assert.deepEqual([...b.attentionMask].map(Number), [0]);
});

test('a max length that leaves no room for text is refused', () => {
  assert.throws(() => new SequenceEncoder(bertLike, 3), /leaves no room/);
});
