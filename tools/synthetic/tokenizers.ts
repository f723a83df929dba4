/**
 * `tokenizer.json` files in each family's real format, with synthetic but plausible vocabularies built from
 * English words (no downloads), exactly `vocabSize` tokens each:
 * - BERT / DistilBERT: WordPiece like bert-base-uncased ([PAD]=0, [unused…], [UNK]=100, [CLS]=101, [SEP]=102,
 *   [MASK]=103, characters, words, ##pieces), BertNormalizer (lowercase), BertPreTokenizer,
 *   `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1 [SEP]:1`.
 * - RoBERTa: byte-level BPE like roberta-base (<s>=0, <pad>=1, </s>=2, <unk>=3, the 256 byte symbols, merges
 *   learnt from the words, <mask> last), ByteLevel pre-tokenizer and decoder, RobertaProcessing.
 * - XLM-R: SentencePiece Unigram with log-probability scores (<s>=0, <pad>=1, </s>=2, <unk>=3, <mask> last),
 *   Metaspace, `<s> $A </s>` / `<s> $A </s> </s> $B </s>`.
 * - DeBERTa-v2/v3: Unigram ([PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3, [MASK] last), Metaspace,
 *   `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1 [SEP]:1`.
 * SentencePiece models normalise with a precompiled nmt_nfkc charsmap; these files use the NFKC normalizer
 * instead, which is what that charsmap mostly does.
 */
import type { AddedTokenJson } from '../../src/starter/tokenizer-json.js';
import { trainBpe, type BpeWord } from './bpe.js';
import type { Arch } from './spec.js';
import { englishWords } from './words.js';

export type TokenizerJson = Record<string, unknown>;

export interface SpecialTokens {
  pad: string;
  unk: string;
  cls: string;
  sep: string;
  mask: string;
  bos?: string;
  eos?: string;
}

export interface BuiltTokenizer {
  json: TokenizerJson;
  vocabSize: number;
  special: SpecialTokens;
  /** Id of each special token. */
  ids: Record<string, number>;
}


function added(id: number, content: string, opts: Partial<AddedTokenJson> = {}): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...opts };
}

type TemplatePiece = { SpecialToken: { id: string; type_id: number } } | { Sequence: { id: 'A' | 'B'; type_id: number } };

function templateProcessing(single: TemplatePiece[], pair: TemplatePiece[], ids: Record<string, number>): Record<string, unknown> {
  const names = [...new Set([...single, ...pair].flatMap((p) => ('SpecialToken' in p ? [p.SpecialToken.id] : [])))];
  return {
    type: 'TemplateProcessing',
    single,
    pair,
    special_tokens: Object.fromEntries(names.map((n) => [n, { id: n, ids: [ids[n]], tokens: [n] }])),
  };
}

const special = (id: string, typeId = 0): TemplatePiece => ({ SpecialToken: { id, type_id: typeId } });
const seq = (id: 'A' | 'B', typeId = 0): TemplatePiece => ({ Sequence: { id, type_id: typeId } });

/** Common word endings (2–4 letters) of the given words, most frequent first: the ##pieces / bare pieces. */
function commonSuffixes(words: readonly string[], limit: number): string[] {
  const counts = new Map<string, number>();
  for (const w of words) {
    for (let len = 2; len <= 4; len++) {
      if (w.length < len + 3) break;
      const s = w.slice(-len);
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .filter(([, c]) => c >= 3)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([s]) => s);
}

function notEnough(kind: string, vocabSize: number, have: number): Error {
  return new Error(`cannot fill a ${vocabSize}-token ${kind} vocabulary from the word list (${have} tokens available)`);
}

const PRINTABLE_ASCII = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i));
const LOWER = 'abcdefghijklmnopqrstuvwxyz'.split('');
const DIGITS = '0123456789'.split('');

// ---- WordPiece (BERT, DistilBERT) ----

export async function wordPieceTokenizer(vocabSize: number): Promise<BuiltTokenizer> {
  const vocab: string[] = ['[PAD]'];
  for (let i = 0; i < 99; i++) vocab.push(`[unused${i}]`);
  vocab.push('[UNK]', '[CLS]', '[SEP]', '[MASK]');
  // bert-base-uncased keeps [unused99]…[unused993] before the characters; only a full-size vocabulary has room.
  if (vocabSize >= 30000) for (let i = 99; i < 994; i++) vocab.push(`[unused${i}]`);
  // Characters after lowercasing, then their continuation forms, so every a–z/0–9 word tokenizes without [UNK].
  vocab.push(...PRINTABLE_ASCII.filter((c) => !/[A-Z]/.test(c)));
  vocab.push(...[...LOWER, ...DIGITS].map((c) => `##${c}`));
  const taken = new Set(vocab);
  const room = vocabSize - vocab.length;
  if (room < 0) throw notEnough('WordPiece', vocabSize, vocab.length);
  const words = (await englishWords(room + 1000)).filter((w) => !taken.has(w));
  const pieces = commonSuffixes(words.slice(0, 20000), Math.floor(room / 8)).map((s) => `##${s}`);
  // Mostly whole words in frequency order, with a ##piece every eighth slot while they last.
  let wi = 0;
  let pi = 0;
  while (vocab.length < vocabSize) {
    const usePiece = pi < pieces.length && (vocab.length % 8 === 0 || wi >= words.length);
    const next = usePiece ? pieces[pi++] : words[wi++];
    if (next === undefined) throw notEnough('WordPiece', vocabSize, vocab.length);
    if (taken.has(next)) continue;
    taken.add(next);
    vocab.push(next);
  }
  const ids = Object.fromEntries(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => [t, vocab.indexOf(t)]));
  return {
    vocabSize: vocab.length,
    special: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', mask: '[MASK]' },
    ids,
    json: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: Object.entries(ids).map(([t, id]) => added(id, t)),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: templateProcessing(
        [special('[CLS]'), seq('A'), special('[SEP]')],
        [special('[CLS]'), seq('A'), special('[SEP]'), seq('B', 1), special('[SEP]', 1)],
        ids,
      ),
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: {
        type: 'WordPiece',
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      },
    },
  };
}

// ---- byte-level BPE (RoBERTa) ----

/** GPT-2's reversible byte → printable character map (space is Ġ, newline Ċ). */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = new Array<string>(256);
  for (const b of bs) map[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCharCode(256 + n++);
  return map;
}

export async function byteLevelBpeTokenizer(vocabSize: number): Promise<BuiltTokenizer> {
  const specials = ['<s>', '<pad>', '</s>', '<unk>'];
  const byteChars = bytesToUnicode();
  const alphabet = [...new Set(byteChars)];
  const target = vocabSize - specials.length - 1; // <mask> goes last
  const merges = target - alphabet.length;
  if (merges < 0) throw notEnough('BPE', vocabSize, specials.length + alphabet.length + 1);
  const space = byteChars[0x20];
  // A word mid-sentence follows a space (Ġword); sentence-initial and capitalised forms are rarer.
  const words = await englishWords(3000 + 2 * merges);
  const corpus: BpeWord[] = [];
  words.forEach((w, rank) => {
    const count = Math.round(2_000_000 / (rank + 20));
    corpus.push({ symbols: [space, ...w], count });
    corpus.push({ symbols: [...w], count: Math.ceil(count / 8) });
    if (rank < 2000) corpus.push({ symbols: [space, w[0].toUpperCase(), ...w.slice(1)], count: Math.ceil(count / 10) });
  });
  const model = trainBpe(corpus, alphabet, target);
  const vocab = [...specials, ...model.tokens, '<mask>'];
  const ids = Object.fromEntries([...specials, '<mask>'].map((t) => [t, vocab.indexOf(t)]));
  return {
    vocabSize: vocab.length,
    special: { pad: '<pad>', unk: '<unk>', cls: '<s>', sep: '</s>', mask: '<mask>', bos: '<s>', eos: '</s>' },
    ids,
    json: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [
        ...specials.map((t) => added(ids[t], t, { normalized: true })),
        added(ids['<mask>'], '<mask>', { lstrip: true }),
      ],
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: 'RobertaProcessing', sep: ['</s>', ids['</s>']], cls: ['<s>', ids['<s>']], trim_offsets: true, add_prefix_space: false },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: '',
        end_of_word_suffix: '',
        fuse_unk: false,
        byte_fallback: false,
        vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
        merges: model.merges.map(([a, b]) => `${a} ${b}`),
      },
    },
  };
}

// ---- SentencePiece Unigram (XLM-R, DeBERTa-v2/v3) ----

const META = '\u2581';

/**
 * Pieces with log-probability scores, best first: ▁word for frequent words (and ▁Word for the most
 * frequent), bare word endings, and every character (so no letter, digit or ASCII symbol is unknown).
 */
async function unigramPieces(count: number): Promise<[string, number][]> {
  const weights = new Map<string, number>();
  const add = (piece: string, w: number) => weights.set(piece, Math.max(weights.get(piece) ?? 0, w));
  const required = [META, ...PRINTABLE_ASCII];
  required.forEach((c, i) => add(c, (/[A-Za-z0-9]/.test(c) ? 0.2 : 2) / (i + 40)));
  const words = await englishWords(count);
  words.forEach((w, rank) => {
    add(META + w, 1 / (rank + 10));
    if (rank < count / 20) add(META + w[0].toUpperCase() + w.slice(1), 0.2 / (rank + 10));
  });
  commonSuffixes(words.slice(0, 20000), Math.ceil(count / 10)).forEach((s, i) => add(s, 0.5 / (i + 20)));
  const total = [...weights.values()].reduce((a, b) => a + b, 0);
  const scored = [...weights.entries()].map(([p, w]): [string, number] => [p, Math.fround(Math.log(w / total))]);
  const byScore = (a: [string, number], b: [string, number]) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1);
  const requiredSet = new Set(required);
  const optional = scored.filter(([p]) => !requiredSet.has(p)).sort(byScore);
  const chosen = [...scored.filter(([p]) => requiredSet.has(p)), ...optional.slice(0, Math.max(0, count - required.length))];
  if (chosen.length < count) throw notEnough('Unigram', count, chosen.length);
  return chosen.sort(byScore);
}

const METASPACE = { type: 'Metaspace', replacement: META, prepend_scheme: 'always', split: true };
const SPM_NORMALIZER = {
  type: 'Sequence',
  normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }],
};

async function unigramTokenizer(
  vocabSize: number,
  leading: string[],
  unk: string,
  mask: string,
  post: (ids: Record<string, number>) => Record<string, unknown>,
): Promise<{ json: TokenizerJson; ids: Record<string, number>; vocabSize: number }> {
  const pieces = await unigramPieces(vocabSize - leading.length - 1);
  const vocab: [string, number][] = [...leading.map((t): [string, number] => [t, 0]), ...pieces, [mask, 0]];
  const ids = Object.fromEntries([...leading, mask].map((t) => [t, vocab.findIndex(([p]) => p === t)]));
  return {
    vocabSize: vocab.length,
    ids,
    json: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [...leading.map((t) => added(ids[t], t)), added(ids[mask], mask, { lstrip: mask === '<mask>' })],
      normalizer: SPM_NORMALIZER,
      pre_tokenizer: METASPACE,
      post_processor: post(ids),
      decoder: METASPACE,
      model: { type: 'Unigram', unk_id: ids[unk], vocab, byte_fallback: false },
    },
  };
}

export async function xlmRobertaTokenizer(vocabSize: number): Promise<BuiltTokenizer> {
  const built = await unigramTokenizer(vocabSize, ['<s>', '<pad>', '</s>', '<unk>'], '<unk>', '<mask>', (ids) =>
    templateProcessing(
      [special('<s>'), seq('A'), special('</s>')],
      [special('<s>'), seq('A'), special('</s>'), special('</s>'), seq('B'), special('</s>')],
      ids,
    ),
  );
  return { ...built, special: { pad: '<pad>', unk: '<unk>', cls: '<s>', sep: '</s>', mask: '<mask>', bos: '<s>', eos: '</s>' } };
}

export async function debertaV2Tokenizer(vocabSize: number): Promise<BuiltTokenizer> {
  const built = await unigramTokenizer(vocabSize, ['[PAD]', '[CLS]', '[SEP]', '[UNK]'], '[UNK]', '[MASK]', (ids) =>
    templateProcessing(
      [special('[CLS]'), seq('A'), special('[SEP]')],
      [special('[CLS]'), seq('A'), special('[SEP]'), seq('B', 1), special('[SEP]', 1)],
      ids,
    ),
  );
  return { ...built, special: { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', mask: '[MASK]', bos: '[CLS]', eos: '[SEP]' } };
}

const built = new Map<string, Promise<BuiltTokenizer>>();

/** The family's tokenizer with exactly `vocabSize` tokens; memoised, as BPE training takes a moment. */
export function buildTokenizer(arch: Arch, vocabSize: number): Promise<BuiltTokenizer> {
  const family = arch === 'distilbert' ? 'bert' : arch;
  const key = `${family}:${vocabSize}`;
  let pending = built.get(key);
  if (!pending) {
    pending = buildUncached(family, vocabSize);
    built.set(key, pending);
    pending.catch(() => built.delete(key));
  }
  return pending;
}

function buildUncached(arch: Exclude<Arch, 'distilbert'>, vocabSize: number): Promise<BuiltTokenizer> {
  switch (arch) {
    case 'bert':
      return wordPieceTokenizer(vocabSize);
    case 'roberta':
      return byteLevelBpeTokenizer(vocabSize);
    case 'xlm-roberta':
      return xlmRobertaTokenizer(vocabSize);
    case 'deberta-v2':
      return debertaV2Tokenizer(vocabSize);
  }
}
