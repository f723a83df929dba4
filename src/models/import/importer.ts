/**
 * `model:import`: turns a Hugging Face / optimum sequence-classification export into a modtune model
 * directory. It finds the classification layer, exposes its input as a `features` output (a lossless
 * edit of the ONNX file), records the classifier's initializers as the base head in config.json, checks
 * that tokenizer and config agree, and verifies head(features) against the graph's logits on real
 * tokenized text by loading the result in the runtime. Anything it cannot handle it refuses, saying
 * what it found and what it expected.
 */
import { systemClock, type Clock } from '../../clock.js';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';
import { copyTokenizerSideFiles, loadModelDir, problemTypeOf, type ModelDir } from '../../inference/model-dir.js';
import { decodeModel, encodeValueInfo, toNumber, valueInfo, type GraphProto } from '../../inference/onnx/model.js';
import { DataType } from '../../inference/onnx/schema.js';
import { appendGraphOutputs } from '../../inference/onnx/wire.js';
import { ModelRuntime } from '../../inference/runtime.js';
import type { Logger } from '../../logger.js';
import { findClassifier, ImportError, type ClassifierMatch } from './find-classifier.js';

export { ImportError };

export const FEATURES_OUTPUT = 'features';
const FEEDABLE = new Set(['input_ids', 'attention_mask', 'token_type_ids']);

const configSchema = z.looseObject({
  id2label: z.record(z.string(), z.string()).optional(),
  problem_type: z.string().optional(),
  model_type: z.string().optional(),
  architectures: z.array(z.string()).optional(),
  vocab_size: z.number().int().positive().optional(),
  max_position_embeddings: z.number().int().positive().optional(),
  pad_token_id: z.number().int().nullable().optional(),
});

export type LabelMapInput = Record<string, string | string[] | null>;

export interface ImportOptions {
  sourceDir: string;
  outDir: string;
  /** Which ONNX file when the export has several (relative to sourceDir). */
  onnxFile?: string;
  labelMap?: LabelMapInput;
  /** Categories a label map may name (the loaded policies'); a typo is refused. */
  knownCategories?: string[];
  logger: Logger;
  /** Where the export came from (model:pull: the Hub repo, commit and file hashes), kept as modtune.import.hub. */
  provenance?: Record<string, unknown>;
  /** Stamps the import's time (default: the real clock). */
  clock?: Clock;
}

export interface ImportReport {
  outDir: string;
  sourceOnnx: string;
  architecture: string;
  modelType: string | null;
  problemType: 'multi_label' | 'single_label';
  inputs: string[];
  labels: string[];
  classifier: ClassifierMatch;
  maxLength: number | null;
  tokenizerVocab: number;
  /** Model label → categories after the label map and name matching. */
  labelMap: Record<string, string[]>;
  unmappedLabels: string[];
  verifiedMaxAbsDiff: number;
  model: ModelDir;
}

async function readJson(dir: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, file), 'utf8');
  } catch {
    throw new ImportError(`${file} is missing in ${dir} (expected an optimum export: model.onnx or onnx/model*.onnx, tokenizer.json, config.json)`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ImportError(`${file} is not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Whether `existing` (a model directory) is this very import: the same source ONNX file (by sha256) with the
 * same label map. A repeated import then registers it as it is instead of converting and copying again.
 */
export async function sameImport(existing: ModelDir, sourceDir: string, onnxFile: string | undefined, labelMap: LabelMapInput | undefined): Promise<boolean> {
  const imp = (existing.config.modtune as { import?: { source_sha256?: string }; label_map?: unknown } | undefined) ?? {};
  if (!imp.import?.source_sha256) return false;
  const onnxPath = await locateOnnx(path.resolve(sourceDir), onnxFile).catch(() => null);
  if (!onnxPath) return false;
  const sha = createHash('sha256').update(await fs.readFile(onnxPath)).digest('hex');
  return sha === imp.import.source_sha256 && JSON.stringify(imp.label_map ?? {}) === JSON.stringify(labelMap ?? {});
}

async function locateOnnx(dir: string, chosen?: string): Promise<string> {
  if (chosen) {
    const p = path.resolve(dir, chosen);
    await fs.access(p).catch(() => {
      throw new ImportError(`--onnx ${chosen}: no such file in ${dir}`);
    });
    return p;
  }
  for (const c of ['model.onnx', path.join('onnx', 'model.onnx')]) {
    if (await fs.access(path.join(dir, c)).then(() => true, () => false)) return path.join(dir, c);
  }
  const onnxDir = path.join(dir, 'onnx');
  const found = (await fs.readdir(onnxDir).catch(() => [] as string[])).filter((f) => /^model.*\.onnx$/.test(f)).sort();
  if (found.length === 1) return path.join(onnxDir, found[0]);
  if (found.length > 1) {
    throw new ImportError(
      `onnx/ holds several models (${found.join(', ')}); choose one with --onnx (e.g. --onnx onnx/model_quantized.onnx for the int8 variant, ` +
        "which imports when it is onnxruntime's quantize_dynamic form: its classifier is dequantized into the float base head)",
    );
  }
  throw new ImportError(`no ONNX model in ${dir} (looked for model.onnx, onnx/model.onnx, onnx/model*.onnx)`);
}

/** The embedding table's row count: the Gather that reads input_ids from a constant table. */
function embeddingRows(graph: GraphProto): number | null {
  const init = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  for (const n of graph.node) {
    if (n.opType === 'Gather' && n.input[1] === 'input_ids') {
      const t = init.get(n.input[0]);
      if (t?.dims?.length === 2) return toNumber(t.dims[0]);
    }
  }
  return null;
}

function maxLengthOf(config: z.infer<typeof configSchema>, tokenizerJson: Record<string, unknown>): number | null {
  let max = config.max_position_embeddings ?? null;
  // RoBERTa-style position ids start after the padding index, so two positions are not usable.
  if (max && (config.model_type === 'roberta' || config.model_type === 'xlm-roberta' || config.model_type === 'camembert')) {
    max -= (config.pad_token_id ?? 1) + 1;
  }
  const truncation = tokenizerJson.truncation as { max_length?: number } | null | undefined;
  if (truncation?.max_length) max = max ? Math.min(max, truncation.max_length) : truncation.max_length;
  return max;
}

function normaliseLabelMap(raw: LabelMapInput, labels: string[], known: string[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const problems: string[] = [];
  for (const [label, target] of Object.entries(raw)) {
    if (!labels.includes(label)) problems.push(`label map names '${label}', which is not one of the model's labels (${labels.join(', ')})`);
    const cats = target === null ? [] : Array.isArray(target) ? target : [target];
    for (const c of cats) {
      if (typeof c !== 'string' || (known && !known.includes(c))) problems.push(`label map sends '${label}' to '${String(c)}', which no policy defines`);
    }
    out[label] = cats;
  }
  if (problems.length) throw new ImportError(problems.join('; '));
  return out;
}

export async function importModel(opts: ImportOptions): Promise<ImportReport> {
  const source = path.resolve(opts.sourceDir);
  const onnxPath = await locateOnnx(source, opts.onnxFile);
  const parsed = configSchema.safeParse(await readJson(source, 'config.json'));
  if (!parsed.success) throw new ImportError(`config.json: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`);
  const config = parsed.data;
  const tokenizerJson = (await readJson(source, 'tokenizer.json')) as Record<string, unknown>;

  // Labels and problem type.
  if (!config.id2label || Object.keys(config.id2label).length === 0) {
    throw new ImportError('config.json has no id2label; a sequence-classification export names its labels there');
  }
  const ids = Object.keys(config.id2label).map(Number).sort((a, b) => a - b);
  if (ids.some((id, i) => id !== i)) throw new ImportError(`config.json id2label must number its labels 0..${ids.length - 1}`);
  const labels = ids.map((i) => config.id2label![String(i)]);
  if (config.problem_type && !['multi_label_classification', 'single_label_classification'].includes(config.problem_type)) {
    throw new ImportError(`config.json problem_type is '${config.problem_type}'; modtune imports classifiers (multi_label_classification or single_label_classification)`);
  }
  // transformers' rule (problemTypeOf); written out explicitly so every reader of the imported config agrees.
  const problemType = problemTypeOf(config.problem_type, labels.length);

  // Tokenizer: loadable, and consistent with the config and the embedding table.
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson, {});
  } catch (err) {
    throw new ImportError(`tokenizer.json cannot be loaded: ${(err as Error).message}`);
  }
  const vocab = tokenizer.get_vocab(true);
  const maxId = Math.max(...vocab.values());
  const bytes = new Uint8Array(await fs.readFile(onnxPath));
  let model;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new ImportError(`${path.relative(source, onnxPath)} is not an ONNX model (${(err as Error).message})`);
  }
  const graph = model.graph;
  if (graph.initializer.some((t) => t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0)) {
    throw new ImportError('the model keeps its weights in external data files; re-export it as a single file (models under 2 GB fit)');
  }
  const rows = embeddingRows(graph);
  const limits = [
    config.vocab_size ? { what: `config.json vocab_size ${config.vocab_size}`, n: config.vocab_size } : null,
    rows ? { what: `the embedding table's ${rows} rows`, n: rows } : null,
  ].filter((x): x is { what: string; n: number } => x !== null);
  for (const l of limits) {
    if (maxId >= l.n) {
      throw new ImportError(`tokenizer/config mismatch: tokenizer.json has token ids up to ${maxId} (${vocab.size} tokens) but ${l.what} — this tokenizer does not belong to this model`);
    }
  }
  const padToken = (tokenizerJson.padding as { pad_id?: number } | null)?.pad_id;
  if (config.pad_token_id != null && padToken !== undefined && padToken !== config.pad_token_id) {
    throw new ImportError(`tokenizer/config mismatch: tokenizer.json pads with id ${padToken}, config.json pad_token_id is ${config.pad_token_id}`);
  }

  // Inputs modtune can feed.
  const inits = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input.map((i) => i.name).filter((n) => !inits.has(n));
  const unknown = inputs.filter((n) => !FEEDABLE.has(n));
  if (unknown.length) throw new ImportError(`the graph needs inputs modtune cannot feed: ${unknown.join(', ')} (it feeds ${[...FEEDABLE].join(', ')})`);
  if (!inputs.includes('input_ids')) throw new ImportError(`the graph has no input_ids input (inputs: ${inputs.join(', ')})`);

  const classifier = findClassifier(graph, labels.length);
  const rewritten = graph.output.some((o) => o.name === classifier.featuresTensor)
    ? bytes
    : appendGraphOutputs(bytes, [encodeValueInfo(valueInfo(classifier.featuresTensor, DataType.FLOAT, ['batch_size', classifier.hidden]))]);

  const labelMap = normaliseLabelMap(opts.labelMap ?? {}, labels, opts.knownCategories);
  const maxLength = maxLengthOf(config, tokenizerJson);
  const outConfig = {
    ...config,
    problem_type: problemType === 'single_label' ? 'single_label_classification' : 'multi_label_classification',
    modtune: {
      features_output: classifier.featuresTensor,
      logits_output: classifier.logitsOutput,
      head: {
        weight: classifier.weight,
        bias: classifier.bias,
        layout: classifier.layout,
        alpha: classifier.alpha,
        beta: classifier.beta,
        // A MatMulInteger classifier: readBaseHead dequantizes weight to (W_q − zero_point) · scale.
        ...(classifier.quantized ? { quantized: { scale: classifier.quantized.scale, zero_point: classifier.quantized.zeroPoint } } : {}),
      },
      ...(maxLength ? { max_length: maxLength } : {}),
      label_map: opts.labelMap ?? {},
      import: {
        source: source,
        onnx_file: path.relative(source, onnxPath),
        source_sha256: createHash('sha256').update(bytes).digest('hex'),
        classifier: classifier.op,
        passed_over: classifier.passedOver,
        imported_at: (opts.clock ?? systemClock).date().toISOString(),
        ...(opts.provenance ? { hub: opts.provenance } : {}),
      },
    },
  };

  // Write next to the destination and rename into place: a half-written model is never loadable.
  const outDir = path.resolve(opts.outDir);
  if (await fs.access(outDir).then(() => true, () => false)) throw new ImportError(`${outDir} already exists; choose another --out or --name`);
  await fs.mkdir(path.dirname(outDir), { recursive: true });
  const tmp = `${outDir}.tmp-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp);
  try {
    await fs.writeFile(path.join(tmp, 'model.onnx'), rewritten);
    await fs.writeFile(path.join(tmp, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    await fs.writeFile(path.join(tmp, 'config.json'), `${JSON.stringify(outConfig, null, 2)}\n`);
    await copyTokenizerSideFiles(source, tmp);
    // Verification: the runtime refuses a model whose head(features) differs from its logits.
    const loaded = await loadModelDir(tmp);
    const runtime = await ModelRuntime.start(
      loaded,
      { providers: ['cpu'], workers: 1, threadsPerWorker: 1, maxSequenceLength: Math.min(128, maxLength ?? 128), batchMaxSize: 8, batchMaxWaitMs: 0 },
      opts.logger,
    ).catch((err: Error) => {
      throw new ImportError(`verification failed: ${err.message}`);
    });
    const diff = runtime.verifiedMaxAbsDiff;
    await runtime.stop();
    await fs.rename(tmp, outDir);
    const final = await loadModelDir(outDir);
    const mapped: Record<string, string[]> = {};
    const unmapped: string[] = [];
    for (const l of labels) {
      if (l in labelMap) mapped[l] = labelMap[l];
      else if (!opts.knownCategories || opts.knownCategories.includes(l)) mapped[l] = [l];
      else unmapped.push(l);
    }
    return {
      outDir,
      sourceOnnx: path.relative(source, onnxPath),
      architecture: config.architectures?.[0] ?? 'unknown',
      modelType: config.model_type ?? null,
      problemType,
      inputs,
      labels,
      classifier,
      maxLength,
      tokenizerVocab: vocab.size,
      labelMap: mapped,
      unmappedLabels: unmapped,
      verifiedMaxAbsDiff: diff,
      model: final,
    };
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
