/**
 * `model:export`: a standalone model directory whose classifier initializers hold a tuned head's
 * weights, so other runtimes (onnxruntime, transformers.js, optimum) serve the tuned model as is.
 * What the export carries, exactly:
 *   - in model.onnx: the backbone, the linear head, and a token-level lexical part (Gather over
 *     input_ids → masked mean → Add to the logits); everything else is copied byte for byte;
 *   - beside it: the n-gram part, which ONNX cannot compute (it hashes the raw text's word and character
 *     n-grams, and a graph only sees token ids): modtune_ngrams.json (config and weights) and
 *     modtune_ngrams.py (the features and their logits in plain Python). model.onnx's logits plus that
 *     file's logits are the served logits; modtune reads the export back with both.
 * config.json's modtune.export.carries says which parts are where. A dynamically quantized classifier
 * (MatMulInteger) stays quantized: the tuned weights are quantized again onto its int8/uint8 grid.
 */
import { systemClock, type Clock } from '../../clock.js';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { float32ToBytes, int32ToBytes, type Head } from '../../inference/head.js';
import { NGRAMS_PY } from './ngrams-python.js';
import { copyTokenizerSideFiles, type ModelDir } from '../../inference/model-dir.js';
import { decodeModel, encodeNode, encodeTensor, floatTensor, int64Tensor, node, toNumber, type TensorProto } from '../../inference/onnx/model.js';
import { quantizeMatrix, quantTensor, quantTypeOf, tensorToInts } from '../../inference/onnx/quantized.js';
import { DataType } from '../../inference/onnx/schema.js';
import { graphNames, insertAfterOutput, replaceInitializers } from '../../inference/onnx/wire.js';

interface HeadSpec {
  weight: string;
  bias: string | null;
  layout: 'out_in' | 'in_out';
  alpha?: number;
  beta?: number;
  quantized?: { scale: string; zero_point: string | null };
}

export interface ExportedHead extends Head {
  id: string;
  version: number;
}

export async function exportHead(model: ModelDir, head: ExportedHead, outDir: string, backboneName: string, clock: Clock = systemClock): Promise<string> {
  const modtune = model.config.modtune as { head: HeadSpec } & Record<string, unknown>;
  const spec = modtune.head;
  if (head.numLabels !== model.labels.length || head.dim !== model.baseHead.dim) {
    throw new Error(`head ${head.id} is [${head.numLabels} × ${head.dim}], the model's classifier is [${model.labels.length} × ${model.baseHead.dim}]`);
  }
  const bytes = new Uint8Array(await fs.readFile(model.onnxPath));
  const graph = decodeModel(bytes).graph;
  const original = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const alpha = spec.alpha ?? 1;
  const beta = spec.beta ?? 1;
  const C = head.numLabels;
  const D = head.dim;
  // Undo the Gemm scaling the head was read with, and write the layout the graph expects.
  const w = new Float32Array(C * D);
  for (let c = 0; c < C; c++) {
    for (let j = 0; j < D; j++) {
      const v = head.weight[c * D + j] / alpha;
      if (spec.layout === 'out_in') w[c * D + j] = v;
      else w[j * C + c] = v;
    }
  }
  const dimsOf = (name: string) => (original.get(name)?.dims ?? []).map(toNumber);
  const replacements = spec.quantized
    ? requantized(bytes, spec, spec.quantized, original, w)
    : new Map<string, Uint8Array>([[spec.weight, encodeTensor(floatTensor(spec.weight, dimsOf(spec.weight), w))]]);
  if (spec.bias) {
    replacements.set(spec.bias, encodeTensor(floatTensor(spec.bias, dimsOf(spec.bias), Float32Array.from(head.bias, (b) => b / beta))));
  } else if (head.bias.some((b) => b !== 0)) {
    throw new Error("this head has a bias but the graph's classifier has none; it cannot be exported into this graph");
  }
  // A graph that already has a lexical part (an earlier export) gets its table replaced, not a second one.
  const existing = (modtune.lexical as { table?: string } | undefined)?.table;
  if (existing) replacements.set(existing, encodeTensor(lexicalTable(existing, dimsOf(existing)[0], head)));
  let out = replaceInitializers(bytes, replacements);
  if (head.lexical && !existing) out = withLexicalPart(out, model, head);

  const dest = path.resolve(outDir);
  if (await fs.access(dest).then(() => true, () => false)) throw new Error(`${dest} already exists`);
  const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { recursive: true });
  try {
    await fs.writeFile(path.join(tmp, 'model.onnx'), out);
    await fs.writeFile(path.join(tmp, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
    await copyTokenizerSideFiles(model.dir, tmp);
    if (head.ngrams) {
      await fs.writeFile(path.join(tmp, NGRAM_FILE), `${JSON.stringify(ngramFileOf(head, model.labels))}\n`);
      await fs.writeFile(path.join(tmp, 'modtune_ngrams.py'), NGRAMS_PY);
    }
    const { ngrams: _previous, ...rest } = modtune as Record<string, unknown>;
    const config = {
      ...model.config,
      modtune: {
        ...rest,
        // The graph's logits include the lexical part: a loader reads it back from this table.
        ...(head.lexical && !existing ? { lexical: { table: `${LEX}/table` } } : {}),
        ...(head.ngrams ? { ngrams: { file: NGRAM_FILE, python: 'modtune_ngrams.py' } } : {}),
        export: {
          head_id: head.id,
          head_version: head.version,
          backbone: backboneName,
          exported_at: clock.date().toISOString(),
          carries: {
            'model.onnx': ['backbone', spec.quantized ? 'linear head (quantized again to 8 bits)' : 'linear head', ...(head.lexical || existing ? ['token-level lexical part'] : [])],
            ...(head.ngrams ? { [NGRAM_FILE]: ['n-gram part (not in model.onnx: add modtune_ngrams.py logits to the graph logits)'] } : {}),
          },
        },
      },
    };
    await fs.writeFile(path.join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    await fs.rename(tmp, dest);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return dest;
}

/**
 * The tuned weights `w` (in the graph's layout) for a MatMulInteger classifier, quantized the way
 * quantize_dynamic quantizes (int8 symmetric, uint8 asymmetric; per channel where the graph's scale has
 * one value per label): new W_q, scale and zero point, with the types and dims the graph has, so the
 * export stays a quantized model onnxruntime runs. Each weight moves by at most half a step (scale/2).
 * Weights quantized in 7-bit range (quantize_dynamic's reduce_range: every int8 weight within ±64, every
 * uint8 one within 0–127) stay in it, so an export runs without overflow where the original did (x86 CPUs
 * without VNNI add pairs of u8·s8 products in 16 bits).
 */
function requantized(bytes: Uint8Array, spec: HeadSpec, q: NonNullable<HeadSpec['quantized']>, original: Map<string, TensorProto>, w: Float32Array): Map<string, Uint8Array> {
  const names = [spec.weight, q.scale, ...(q.zero_point ? [q.zero_point] : [])];
  const [wt, st, zt] = names.map((n) => original.get(n));
  if (!wt || !st || (q.zero_point && !zt)) throw new Error(`the quantized classifier's initializers (${names.join(', ')}) are not all in the graph`);
  // Shared with another node, a new scale would change that node too.
  const readers = graphNames(bytes).nodes;
  for (const n of names) {
    const count = readers.filter((r) => r.inputs.includes(n)).length;
    if (count !== 1) throw new Error(`'${n}' is read by ${count} nodes; only a classifier's own quantization parameters can be replaced`);
  }
  const type = quantTypeOf(wt.dataType);
  if (!type) throw new Error(`the classifier weight '${spec.weight}' is ONNX type ${wt.dataType}, expected INT8 or UINT8`);
  const dims = (t: TensorProto) => (t.dims ?? []).map(toNumber);
  const size = (t: TensorProto) => dims(t).reduce((a, b) => a * b, 1);
  const [rows, cols] = dims(wt);
  const perChannel = size(st) > 1;
  if (!zt && type === 'uint8') throw new Error(`the classifier's uint8 weights have no zero point in the graph; tuned weights cannot be quantized to them`);
  const m = quantizeMatrix(w, [rows, cols], spec.layout === 'out_in' ? 0 : 1, { type, perChannel, reduceRange: inReducedRange(tensorToInts(wt).data, type) });
  const out = new Map<string, Uint8Array>([
    [spec.weight, encodeTensor(quantTensor(spec.weight, [rows, cols], type, m.q))],
    [q.scale, encodeTensor(floatTensor(q.scale, dims(st), m.scale))],
  ]);
  if (zt) {
    if (size(zt) === 1 && m.zeroPoint.some((z) => z !== m.zeroPoint[0])) throw new Error(`the classifier has one weight zero point but its tuned weights need one per label`);
    const zeroPoint = size(zt) === 1 ? [m.zeroPoint[0]] : Array.from({ length: size(zt) }, (_, i) => m.zeroPoint[perChannel ? i : 0]);
    out.set(q.zero_point!, encodeTensor(quantTensor(q.zero_point!, dims(zt), type, zeroPoint)));
  }
  return out;
}

/** Whether quantized weights use only quantize_dynamic's reduce_range (7 bits: int8 within ±64, uint8 within 0–127). */
export function inReducedRange(q: ArrayLike<number>, type: 'int8' | 'uint8'): boolean {
  for (let i = 0; i < q.length; i++) if (type === 'int8' ? q[i] < -64 || q[i] > 64 : q[i] > 127) return false;
  return true;
}

/** Token ids the tokenizer can produce: one past the highest id in its vocabulary and added tokens. */
export function tokenizerVocabularySize(json: Record<string, unknown>): number {
  let max = -1;
  const vocab = (json.model as { vocab?: unknown } | undefined)?.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1; // Unigram: [piece, score] pairs, id = position
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab as Record<string, number>)) max = Math.max(max, id);
  for (const t of (json.added_tokens as { id: number }[] | undefined) ?? []) max = Math.max(max, t.id);
  return max + 1;
}

const LEX = 'modtune_lexical';
const NGRAM_FILE = 'modtune_ngrams.json';

/** The n-gram part as a file other tools read (modtune_ngrams.py, model-dir.ts). */
function ngramFileOf(head: Head, labels: string[]) {
  const g = head.ngrams!;
  return {
    format: 'modtune-ngrams/1',
    description:
      'Hashed word and character n-grams of the text (see modtune_ngrams.py): per row, the logit adds Σ value(bucket) · weights[bucket][row]. ' +
      'model.onnx does not include this part.',
    config: g.config,
    num_labels: head.numLabels,
    rows: [...g.rows],
    labels: [...g.rows].map((r) => labels[r]),
    buckets: Buffer.from(int32ToBytes(g.buckets)).toString('base64'),
    weights: Buffer.from(float32ToBytes(g.weight)).toString('base64'),
  };
}

/** The dense [vocabulary, labels + 1] table: each token's lexical weights, then a 1 (the count column). */
function lexicalTable(name: string, vocab: number, head: ExportedHead): ReturnType<typeof floatTensor> {
  const C = head.numLabels;
  const table = new Float32Array(vocab * (C + 1));
  for (let t = 0; t < vocab; t++) table[t * (C + 1) + C] = 1;
  const lex = head.lexical;
  lex?.tokens.forEach((t, i) => {
    if (t >= vocab) throw new Error(`lexical token id ${t} is beyond the graph's table of ${vocab} rows`);
    for (let c = 0; c < C; c++) table[t * (C + 1) + c] = lex.weight[i * C + c];
  });
  return floatTensor(name, [vocab, C + 1], table);
}

/**
 * Adds the lexical part to the graph: logits = linear logits + (1/L) Σ_t V[input_ids_t] over the attended
 * tokens. The table gets one more column of ones, so one batched MatMul of the mask with the gathered
 * rows gives both the sums and the token count; only ops whose signatures every opset since 13 shares
 * (Gather, Cast, Reshape, MatMul, Max, Div, Add).
 */
function withLexicalPart(bytes: Uint8Array, model: ModelDir, head: ExportedHead): Uint8Array {
  const lex = head.lexical!;
  const C = head.numLabels;
  const names = graphNames(bytes);
  for (const needed of ['input_ids', 'attention_mask']) {
    if (!names.inputs.includes(needed)) throw new Error(`this head has a lexical part, which reads '${needed}', but the graph has no such input`);
  }
  const logits = model.logitsOutput;
  if (names.nodes.some((n) => n.inputs.includes(logits))) {
    throw new Error(`'${logits}' feeds other nodes of the graph; the lexical part can only be added where the logits are a final output`);
  }
  const taken = new Set([...names.initializers, ...names.nodes.flatMap((n) => n.outputs)]);
  if ([...taken].some((n) => n.startsWith(LEX))) throw new Error(`the graph already has names starting with '${LEX}'`);
  const vocab = Math.max(tokenizerVocabularySize(model.tokenizerJson), lex.tokens.length ? lex.tokens[lex.tokens.length - 1] + 1 : 0);
  const n = (x: string) => `${LEX}/${x}`;
  const initializers = [
    lexicalTable(n('table'), vocab, head),
    int64Tensor(n('shape_b1l'), [3], [0, 1, -1]),
    int64Tensor(n('shape_bc'), [2], [0, -1]),
    int64Tensor(n('labels'), [C], Array.from({ length: C }, (_, c) => c)),
    int64Tensor(n('count'), [1], [C]),
    floatTensor(n('min_count'), [], [1e-6]),
  ].map(encodeTensor);
  const nodes = [
    node('Gather', [n('table'), 'input_ids'], [n('rows')], { axis: 0 }, n('gather_rows')),
    node('Cast', ['attention_mask'], [n('mask')], { to: DataType.FLOAT }, n('cast_mask')),
    node('Reshape', [n('mask'), n('shape_b1l')], [n('mask_b1l')], {}, n('reshape_mask')),
    node('MatMul', [n('mask_b1l'), n('rows')], [n('sums_b1c')], {}, n('masked_sum')),
    node('Reshape', [n('sums_b1c'), n('shape_bc')], [n('sums')], {}, n('reshape_sums')),
    node('Gather', [n('sums'), n('labels')], [n('label_sums')], { axis: 1 }, n('gather_label_sums')),
    node('Gather', [n('sums'), n('count')], [n('tokens')], { axis: 1 }, n('gather_count')),
    node('Max', [n('tokens'), n('min_count')], [n('tokens_safe')], {}, n('count_safe')),
    node('Div', [n('label_sums'), n('tokens_safe')], [n('logits')], {}, n('mean')),
    node('Add', [n('linear_logits'), n('logits')], [logits], {}, n('add')),
  ].map(encodeNode);
  return insertAfterOutput(bytes, logits, n('linear_logits'), { nodes, initializers });
}
