/**
 * Reads a model directory in the Hugging Face / optimum layout (model.onnx or onnx/model.onnx,
 * tokenizer.json, config.json) and the `modtune` section of config.json that says which graph output
 * holds the features and which initializers are the classifier, so the base head can be read from the
 * graph itself.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { bytesToFloat32, bytesToInt32, checkNgramShape, type Head, type NgramHead } from './head.js';
import { decodeTensor, tensorToFloat32, type TensorProto } from './onnx/model.js';
import { dequantizeTensors } from './onnx/quantized.js';
import { readInitializers } from './onnx/wire.js';

export class ModelError extends Error {
  constructor(dir: string, message: string) {
    super(`model ${dir}: ${message}`);
    this.name = 'ModelError';
  }
}

const modtuneSection = z.object({
  features_output: z.string().min(1),
  logits_output: z.string().min(1),
  head: z.object({
    weight: z.string().min(1),
    bias: z.string().min(1).nullable().default(null),
    /** out_in: [numLabels, dim] like torch.nn.Linear; in_out: [dim, numLabels] like a Gemm without transB. */
    layout: z.enum(['out_in', 'in_out']).default('out_in'),
    /** A Gemm's alpha and beta, folded into the head: logits = alpha·W·f + beta·b. */
    alpha: z.number().default(1),
    beta: z.number().default(1),
    /**
     * A dynamically quantized classifier (onnxruntime's MatMulInteger form): `weight` is W_q (int8 or
     * uint8) and the base head is (W_q − zero_point) · scale, per tensor or per output channel.
     */
    quantized: z.object({ scale: z.string().min(1), zero_point: z.string().min(1).nullable().default(null) }).optional(),
  }),
  max_length: z.number().int().positive().optional(),
  /**
   * A lexical part already in the graph (a modtune export): the [vocabulary, labels + 1] table whose
   * rows the graph averages over the text's tokens and adds to the logits (the last column counts).
   */
  lexical: z.object({ table: z.string().min(1) }).optional(),
  /**
   * An n-gram part beside the graph (a modtune export of a head that has one): the file with its config
   * and weights. The graph's logits do not include it (ONNX cannot hash the text's n-grams).
   */
  ngrams: z.object({ file: z.string().min(1) }).optional(),
  /** Where the model came from (written by model:import; model:pull adds `hub`: repo, commit, file hashes). */
  import: z.record(z.string(), z.unknown()).optional(),
  /** Model label → policy categories (written by `npm run model:import --label-map`); null ignores a label. */
  label_map: z.record(z.string(), z.union([z.string(), z.array(z.string()), z.null()])).default({}),
});

const configSchema = z.looseObject({
  id2label: z.record(z.string().regex(/^\d+$/, 'id2label keys are label indices'), z.string().min(1)),
  problem_type: z.enum(['multi_label_classification', 'single_label_classification']).optional(),
  max_position_embeddings: z.number().int().positive().optional(),
  modtune: modtuneSection.optional(),
});

export type ProblemType = 'multi_label' | 'single_label';

/**
 * How transformers' text-classification pipeline reads a classifier's config (transformers.js follows it):
 * a sigmoid for one label whatever `problem_type` says, else `problem_type` when it is set, else softmax
 * over the labels (single-label). A config without `problem_type` is common on the Hub (SST-2 style and
 * many moderation models): reading it as multi-label would serve independent sigmoids of softmax logits.
 */
export function problemTypeOf(problemType: string | undefined, numLabels: number): ProblemType {
  if (numLabels === 1) return 'multi_label';
  if (problemType === 'single_label_classification') return 'single_label';
  if (problemType === 'multi_label_classification') return 'multi_label';
  return 'single_label';
}

export interface ModelDir {
  dir: string;
  onnxPath: string;
  sha256: string;
  name: string;
  config: Record<string, unknown>;
  labels: string[];
  problemType: ProblemType;
  featuresOutput: string;
  logitsOutput: string;
  /** The classifier as it is in the graph (with its lexical part, if it has one): what the head must reproduce. */
  baseHead: Head;
  tokenizerJson: Record<string, unknown>;
  /** Longest sequence the model accepts, if it says. */
  maxLength?: number;
  /** The model's own label → categories map (policies may override it). */
  labelMap: Record<string, string[]>;
}

export function labelMapOf(raw: Record<string, string | string[] | null> | undefined): Record<string, string[]> {
  return Object.fromEntries(Object.entries(raw ?? {}).map(([k, v]) => [k, v === null ? [] : Array.isArray(v) ? v : [v]]));
}

/**
 * Files beside tokenizer.json that other runtimes read to build the tokenizer (transformers.js needs
 * tokenizer_config.json; Python's transformers, the vocabulary files of slow tokenizers).
 */
export const TOKENIZER_SIDE_FILES = [
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.txt',
  'vocab.json',
  'merges.txt',
  'sentencepiece.bpe.model',
  'spm.model',
  'tokenizer.model',
];

/** Copies whichever of {@link TOKENIZER_SIDE_FILES} `from` has into `to`; returns their names. */
export async function copyTokenizerSideFiles(from: string, to: string): Promise<string[]> {
  const copied: string[] = [];
  for (const f of TOKENIZER_SIDE_FILES) {
    if (await exists(path.join(from, f))) {
      await fs.copyFile(path.join(from, f), path.join(to, f));
      copied.push(f);
    }
  }
  return copied;
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

async function readJson(dir: string, file: string): Promise<unknown> {
  const p = path.join(dir, file);
  let text: string;
  try {
    text = await fs.readFile(p, 'utf8');
  } catch {
    throw new ModelError(dir, `${file} is missing (expected the Hugging Face layout: model.onnx, tokenizer.json, config.json)`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ModelError(dir, `${file} is not valid JSON (${(err as Error).message})`);
  }
}

export async function findOnnxFile(dir: string): Promise<string> {
  for (const candidate of ['model.onnx', path.join('onnx', 'model.onnx')]) {
    if (await exists(path.join(dir, candidate))) return path.join(dir, candidate);
  }
  throw new ModelError(dir, 'no model.onnx (looked for model.onnx and onnx/model.onnx)');
}

export async function loadModelDir(dirIn: string): Promise<ModelDir> {
  const dir = path.resolve(dirIn);
  const onnxPath = await findOnnxFile(dir);
  const rawConfig = await readJson(dir, 'config.json');
  const tokenizerJson = (await readJson(dir, 'tokenizer.json')) as Record<string, unknown>;
  const parsed = configSchema.safeParse(rawConfig);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ModelError(dir, `config.json: ${first.path.join('.') || '(top level)'}: ${first.message}`);
  }
  const config = parsed.data;
  if (!config.modtune) {
    throw new ModelError(
      dir,
      "config.json has no 'modtune' section; it must name the graph output with the classifier's input " +
        "features and the classifier's initializers: {\"features_output\", \"logits_output\", \"head\": {\"weight\", \"bias\"}} " +
        "(see the README, 'Model directory')",
    );
  }
  const ids = Object.keys(config.id2label).map(Number).sort((a, b) => a - b);
  if (ids.some((id, i) => id !== i)) {
    throw new ModelError(dir, `config.json: id2label must number its labels 0..${ids.length - 1} without gaps`);
  }
  const labels = ids.map((i) => config.id2label[String(i)]);
  if (new Set(labels).size !== labels.length) throw new ModelError(dir, 'config.json: id2label repeats a label');

  const bytes = await fs.readFile(onnxPath);
  // The backbone's identity: model.onnx, and the n-gram file when the head has one (it is part of the head).
  const hash = createHash('sha256').update(bytes);
  const baseHead = readBaseHead(dir, bytes, config.modtune.head, labels.length, config.modtune.lexical?.table);
  if (config.modtune.ngrams) {
    const file = path.join(dir, config.modtune.ngrams.file);
    const raw = await fs.readFile(file).catch(() => {
      throw new ModelError(dir, `config.json names the n-gram file '${config.modtune!.ngrams!.file}', which is not there`);
    });
    hash.update(raw);
    baseHead.ngrams = readNgramFile(dir, raw, labels.length);
  }
  const sha256 = hash.digest('hex');

  const tokenizerModel = (tokenizerJson as { model?: unknown }).model;
  if (!tokenizerModel || typeof tokenizerModel !== 'object') {
    throw new ModelError(dir, "tokenizer.json has no 'model' section; is it a Hugging Face tokenizers file?");
  }
  return {
    dir,
    onnxPath,
    sha256,
    name: path.basename(dir),
    config: parsed.data as Record<string, unknown>,
    labels,
    problemType: problemTypeOf(config.problem_type, labels.length),
    featuresOutput: config.modtune.features_output,
    logitsOutput: config.modtune.logits_output,
    baseHead,
    tokenizerJson,
    maxLength: config.modtune.max_length ?? config.max_position_embeddings,
    labelMap: labelMapOf(config.modtune.label_map),
  };
}

function readBaseHead(
  dir: string,
  onnxBytes: Uint8Array,
  spec: z.infer<typeof modtuneSection>['head'],
  numLabels: number,
  lexicalTable?: string,
): Head {
  // Only the head's initializers are decoded, found at the wire level by name (wire.ts).
  const wanted = [spec.weight, spec.bias, lexicalTable, spec.quantized?.scale, spec.quantized?.zero_point].filter((n): n is string => !!n);
  let init: Map<string, TensorProto>;
  try {
    init = new Map([...readInitializers(onnxBytes, new Set(wanted))].map(([name, bytes]) => [name, decodeTensor(bytes)]));
  } catch (err) {
    throw new ModelError(dir, `model.onnx cannot be parsed as ONNX (${(err as Error).message})`);
  }
  const wt = init.get(spec.weight);
  if (!wt) throw new ModelError(dir, `the classifier weight '${spec.weight}' named in config.json is not an initializer of the graph`);
  let w: { dims: number[]; data: Float32Array };
  if (spec.quantized) {
    // The float head the integer MatMul multiplies by: (W_q − zero_point) · scale along the output axis.
    const q = spec.quantized;
    const st = init.get(q.scale);
    if (!st) throw new ModelError(dir, `the classifier weight scale '${q.scale}' named in config.json is not an initializer of the graph`);
    const zt = q.zero_point ? init.get(q.zero_point) : null;
    if (zt === undefined) throw new ModelError(dir, `the classifier weight zero point '${q.zero_point}' named in config.json is not an initializer of the graph`);
    try {
      w = dequantizeTensors(wt, st, zt, spec.layout === 'out_in' ? 0 : 1);
    } catch (err) {
      throw new ModelError(dir, `the quantized classifier weight '${spec.weight}' cannot be read: ${(err as Error).message}`);
    }
  } else {
    w = tensorToFloat32(wt);
  }
  if (w.dims.length !== 2) throw new ModelError(dir, `classifier weight '${spec.weight}' has dims [${w.dims}], expected a matrix`);
  const [rows, cols] = w.dims;
  const outIn = spec.layout === 'out_in';
  const C = outIn ? rows : cols;
  const D = outIn ? cols : rows;
  if (C !== numLabels) {
    throw new ModelError(
      dir,
      `classifier weight '${spec.weight}' [${w.dims}] (${spec.layout}) has ${C} outputs but config.json id2label has ${numLabels} labels`,
    );
  }
  const weight = outIn ? w.data : transpose(w.data, rows, cols);
  if (spec.alpha !== 1) for (let i = 0; i < weight.length; i++) weight[i] *= spec.alpha;
  let bias: Float32Array = new Float32Array(C);
  if (spec.bias) {
    const bt = init.get(spec.bias);
    if (!bt) throw new ModelError(dir, `the classifier bias '${spec.bias}' named in config.json is not an initializer of the graph`);
    const b = tensorToFloat32(bt);
    if (b.data.length !== C) throw new ModelError(dir, `classifier bias '${spec.bias}' has ${b.data.length} values, expected ${C}`);
    bias = b.data;
    if (spec.beta !== 1) for (let i = 0; i < bias.length; i++) bias[i] *= spec.beta;
  }
  let lexical: Head['lexical'] = null;
  if (lexicalTable) {
    const lt = init.get(lexicalTable);
    if (!lt) throw new ModelError(dir, `the lexical table '${lexicalTable}' named in config.json is not an initializer of the graph`);
    const t = tensorToFloat32(lt);
    if (t.dims.length !== 2 || t.dims[1] !== C + 1) throw new ModelError(dir, `lexical table '${lexicalTable}' has dims [${t.dims}], expected [vocabulary, ${C + 1}]`);
    const tokens: number[] = [];
    const rows: number[] = [];
    for (let v = 0; v < t.dims[0]; v++) {
      const row = t.data.subarray(v * (C + 1), v * (C + 1) + C);
      if (row.some((x) => x !== 0)) {
        tokens.push(v);
        rows.push(...row);
      }
    }
    lexical = tokens.length ? { tokens: Int32Array.from(tokens), weight: Float32Array.from(rows) } : null;
  }
  return { numLabels: C, dim: D, weight, bias, lexical };
}

const ngramFile = z.object({
  format: z.literal('modtune-ngrams/1'),
  config: z.object({
    buckets: z.number().int(),
    word: z.tuple([z.number().int(), z.number().int()]).nullable(),
    char: z.tuple([z.number().int(), z.number().int()]).nullable(),
  }),
  num_labels: z.number().int(),
  rows: z.array(z.number().int()),
  buckets: z.string(),
  weights: z.string(),
});

/** The n-gram part of an export (modtune_ngrams.json): validated like a stored head's. */
function readNgramFile(dir: string, raw: Buffer, numLabels: number): NgramHead {
  let spec: z.infer<typeof ngramFile>;
  try {
    spec = ngramFile.parse(JSON.parse(raw.toString('utf8')));
  } catch (err) {
    throw new ModelError(dir, `the n-gram file is not a modtune n-gram part: ${err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : (err as Error).message}`);
  }
  if (spec.num_labels !== numLabels) throw new ModelError(dir, `the n-gram file is for ${spec.num_labels} labels, config.json has ${numLabels}`);
  const b = Buffer.from(spec.buckets, 'base64');
  const w = Buffer.from(spec.weights, 'base64');
  const ngrams: NgramHead = { config: spec.config, rows: Int32Array.from(spec.rows), buckets: bytesToInt32(b), weight: bytesToFloat32(w) };
  try {
    checkNgramShape(ngrams, numLabels);
  } catch (err) {
    throw new ModelError(dir, `the n-gram file: ${(err as Error).message}`);
  }
  return ngrams;
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}
