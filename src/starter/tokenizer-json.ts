/**
 * The starter model's `tokenizer.json`: a word-level vocabulary in the Hugging Face tokenizers format.
 *
 * Both the Rust `tokenizers` library and `@huggingface/tokenizers` (JS) must load it. The JS library has no
 * `WordLevel` model (it would fall into a legacy path without an unknown-token id), so the vocabulary is
 * declared as `WordPiece` with no `##` continuation pieces: a word that is not in the vocabulary as a whole
 * can never be completed from pieces and becomes `[UNK]`, which is exactly word-level behaviour.
 */

export const PAD_TOKEN = '[PAD]';
export const UNK_TOKEN = '[UNK]';
export const PAD_ID = 0;
export const UNK_ID = 1;
/** Ids of the vocabulary words start after the special tokens. */
export const FIRST_WORD_ID = 2;

/** BERT's punctuation: Unicode P* plus every ASCII symbol (the same class the JS BertPreTokenizer uses). */
const PUNCTUATION = '\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E';
const PRE_TOKEN = new RegExp(`[^\\s${PUNCTUATION}]+|[${PUNCTUATION}]`, 'gu');
const SINGLE_PUNCTUATION = new RegExp(`^[${PUNCTUATION}]$`, 'u');
const PLAIN_WORD = /^[a-z0-9]+$/;

/**
 * Mirrors the tokenizer's normalizer and pre-tokenizer (NFKC, lowercase, split on whitespace and
 * punctuation). The builder uses it only to learn which words its seed phrases need in the vocabulary;
 * encoding itself always goes through the real tokenizer library.
 */
export function preTokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(PRE_TOKEN) ?? [];
}

/**
 * Whether the tokenizer can ever produce `word` as one token, so that a vocabulary entry for it is
 * reachable: plain lowercase ASCII words and digits, or a single punctuation character that normalisation
 * leaves alone.
 */
export function isIntactToken(word: string): boolean {
  if (PLAIN_WORD.test(word)) return true;
  return SINGLE_PUNCTUATION.test(word) && word.normalize('NFKC') === word && word.toLowerCase() === word;
}

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface TokenizerJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: { type: 'Sequence'; normalizers: { type: string }[] };
  pre_tokenizer: { type: 'BertPreTokenizer' };
  post_processor: {
    type: 'TemplateProcessing';
    single: { Sequence: { id: 'A'; type_id: 0 } }[];
    pair: { Sequence: { id: 'A' | 'B'; type_id: 0 | 1 } }[];
    special_tokens: Record<string, never>;
  };
  decoder: { type: 'WordPiece'; prefix: string; cleanup: boolean };
  model: {
    type: 'WordPiece';
    unk_token: string;
    continuing_subword_prefix: string;
    max_input_chars_per_word: number;
    vocab: Record<string, number>;
  };
}

function special(id: number, content: string): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** `words[i]` gets id `FIRST_WORD_ID + i`. Every word must satisfy {@link isIntactToken}. */
export function buildTokenizerJson(words: readonly string[]): TokenizerJson {
  const vocab: Record<string, number> = { [PAD_TOKEN]: PAD_ID, [UNK_TOKEN]: UNK_ID };
  let longest = 1;
  words.forEach((w, i) => {
    if (!isIntactToken(w)) throw new Error(`vocabulary word '${w}' can never be produced by the tokenizer`);
    if (Object.hasOwn(vocab, w)) throw new Error(`vocabulary word '${w}' appears twice`);
    vocab[w] = FIRST_WORD_ID + i;
    longest = Math.max(longest, [...w].length);
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(PAD_ID, PAD_TOKEN), special(UNK_ID, UNK_TOKEN)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    // No special tokens; a context (the second sequence of a pair) gets token type 1, which the graph
    // uses to weigh it below the text.
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: {},
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: UNK_TOKEN,
      continuing_subword_prefix: '##',
      // Longer words cannot be in the vocabulary; the cap also bounds WordPiece's quadratic prefix search.
      max_input_chars_per_word: longest,
      vocab,
    },
  };
}
