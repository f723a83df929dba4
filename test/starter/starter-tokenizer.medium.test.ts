import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import {
  buildTokenizerJson,
  isIntactToken,
  PAD_ID,
  preTokenize,
  UNK_ID,
} from '../../src/starter/tokenizer-json.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

const WORDS = ['i', 'will', 'kill', 'you', '!', ',', '.', "'", 'don', 't', 'hello', 'world', 'k', 'ki'];
const ids = (words: string[]) => words.map((w) => WORDS.indexOf(w) + 2);

function tokenizer(words = WORDS): Tokenizer {
  return new Tokenizer(buildTokenizerJson(words), {});
}

describe('starter tokenizer.json', () => {
  it('lowercases, splits off punctuation and adds no special tokens', () => {
    assert.deepEqual(tokenizer().encode('I will KILL you!').ids, ids(['i', 'will', 'kill', 'you', '!']));
    assert.deepEqual(tokenizer().encode("don't,you").ids, ids(['don', "'", 't', ',', 'you']));
  });

  it('normalises compatibility characters (NFKC) before lowercasing', () => {
    assert.deepEqual(tokenizer().encode('ＨＥＬＬＯ　ｗｏｒｌｄ').ids, ids(['hello', 'world']));
  });

  it('turns a word that is not in the vocabulary into one [UNK], never into pieces', () => {
    // 'killing' starts with 'kill', 'ki' and 'k', all in the vocabulary: WordPiece must still give up.
    const enc = tokenizer().encode('killing you softly');
    assert.deepEqual(enc.ids, [UNK_ID, ...ids(['you']), UNK_ID]);
    assert.deepEqual(enc.tokens, ['[UNK]', 'you', '[UNK]']);
    assert.deepEqual(tokenizer().encode('supercalifragilistic').ids, [UNK_ID]);
  });

  it('reserves [PAD] = 0 and [UNK] = 1 as special tokens', () => {
    const json = buildTokenizerJson(WORDS);
    assert.equal(json.model.vocab['[PAD]'], PAD_ID);
    assert.equal(json.model.vocab['[UNK]'], UNK_ID);
    assert.deepEqual(
      json.added_tokens.map((t) => [t.id, t.content, t.special]),
      [
        [0, '[PAD]', true],
        [1, '[UNK]', true],
      ],
    );
    assert.equal(json.model.max_input_chars_per_word, 5);
    assert.deepEqual(tokenizer().encode('').ids, []);
  });

  it('refuses vocabulary words the tokenizer could never produce', () => {
    assert.throws(() => buildTokenizerJson(['well-known']), /never be produced/);
    assert.throws(() => buildTokenizerJson(['Kill']), /never be produced/);
    assert.throws(() => buildTokenizerJson(['kill', 'kill']), /twice/);
  });

  it('has a TypeScript pre-tokenizer that agrees with the library', () => {
    const texts = ['I will KILL you!', "Don't — you…dare?", 'e-mail foo@bar.com', 'ＡＢＣ déjà vu', '  tabs\tand\nlines '];
    for (const text of texts) {
      const words = [...new Set(preTokenize(text))].filter(isIntactToken);
      const tok = new Tokenizer(buildTokenizerJson(words), {});
      assert.deepEqual(tok.encode(text).tokens, preTokenize(text).map((w) => (isIntactToken(w) ? w : '[UNK]')), text);
    }
  });

  it('knows which words can be tokens', () => {
    for (const w of ['kill', 'abc123', ',', '!', '“', '$']) assert.ok(isIntactToken(w), w);
    for (const w of ['Kill', 'well-known', "n't", '…', 'café', '', 'two words']) assert.ok(!isIntactToken(w), w);
  });

  it('encodes "I will KILL you!" as i will kill you ! in the tiny model', async () => {
    const dir = await tinyModelDir();
    const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as ReturnType<typeof buildTokenizerJson>;
    const tok = new Tokenizer(json, {});
    const vocab = json.model.vocab;
    assert.deepEqual(
      tok.encode('I will KILL you!').ids,
      ['i', 'will', 'kill', 'you', '!'].map((w) => vocab[w]),
    );
    assert.ok(!tok.encode('I will KILL you!').ids.includes(UNK_ID));
    assert.deepEqual(tok.encode('xqzvplorb').ids, [UNK_ID]);
  });
});
