/**
 * The ONNX graph of a Hugging Face `*ForSequenceClassification` model in eval mode, shaped like what
 * torch.onnx / optimum export (opset 14–17): the same inputs, the one `logits` output, the same embedding,
 * attention, feed-forward and head sub-graphs, torch-style node and value names and HF parameter names, with
 * seeded random weights. Model-import code is tested against these graphs, so the classification tails
 * (everything after the encoder) follow the real modules exactly; see `buildTail`.
 *
 * Simplifications, all in the encoder body and none in the tails:
 * - Reshapes into and out of attention heads use constant shapes ([0, 0, heads, headSize], [0, 0, hidden])
 *   instead of torch's Shape/Gather/Unsqueeze/Concat chains; they compute the same thing.
 * - DeBERTa-v2's disentangled relative attention (c2p/p2c terms over `rel_embeddings`) is not built: the
 *   layers use plain scaled dot-product attention with DeBERTa's XSoftmax masking. That is exactly what
 *   DeBERTa-v2 computes with `relative_attention: false, position_biased_input: true`, which is what
 *   config.json says; real deberta-v3 checkpoints use relative attention instead of absolute positions.
 */
import { encodeModel, floatTensor, int64Tensor, valueInfo, type ModelProto } from '../../src/inference/onnx/model.js';
import { DataType } from '../../src/inference/onnx/schema.js';
import { TorchStyleGraph } from './graph-builder.js';
import { inputNames, layerNormEps, paddingId, positionRows, type ClassifierSpec } from './spec.js';
import { WeightSource } from './weights.js';

/** torch.finfo(torch.float32).min: what transformers fills masked attention scores with. */
const FLOAT32_MIN = -3.4028234663852886e38;

/** Where the classifier sits in the graph: what an importer must find and expose. */
export interface HeadInfo {
  /** The tensor the final classification layer reads (the pooled features). */
  featuresTensor: string;
  /** Names of the final classification layer's nodes, in order; the last one writes `logits`. */
  nodes: string[];
  opTypes: string[];
  weight: string;
  bias: string;
  /** out_in: weight is [numLabels, hidden] (Gemm transB=1); in_out: [hidden, numLabels]. */
  layout: 'out_in' | 'in_out';
}

export interface BuiltGraph {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
  head: HeadInfo;
  /** Rows of the word embedding table (= config.vocab_size). */
  embeddingRows: number;
}

type MaskForm =
  | { kind: 'additive'; mask: string } // scores + (1 − mask)·min (BERT, RoBERTa, XLM-R)
  | { kind: 'where'; masked: string } // masked_fill(mask == 0, min) (DistilBERT)
  | { kind: 'xsoftmax'; masked: string }; // masked_fill before and after Softmax (DeBERTa's XSoftmax)

interface AttentionNames {
  scope: string;
  prefix: string;
  /** Module names of the q, k, v projections. */
  q: string;
  k: string;
  v: string;
  /** DistilBERT divides q by √d before the product; BERT divides the scores; DeBERTa divides kᵀ. */
  scaleAt: 'query' | 'scores' | 'keyT';
}

class ClassifierGraphBuilder {
  readonly g = new TorchStyleGraph();
  private readonly w: WeightSource;
  private readonly headSize: number;

  constructor(private readonly spec: ClassifierSpec) {
    this.w = new WeightSource(spec.seed, spec.initStd, spec.arch);
    this.headSize = spec.hidden / spec.heads;
  }

  private param(name: string, dims: number[], data: Float32Array): string {
    return this.g.initializer(floatTensor(name, dims, data));
  }

  private embeddingTable(name: string, rows: number, paddingRow?: number): string {
    return this.param(name, [rows, this.spec.hidden], this.w.embedding(name, rows, this.spec.hidden, paddingRow));
  }

  /** [out, in] weights drawn in nn.Linear's layout, so every export form of a layer holds the same numbers. */
  private linearWeight(prefix: string, inF: number, outF: number): Float32Array {
    return this.w.normal(`${prefix}.weight`, outF * inF);
  }

  /**
   * nn.Linear as torch.onnx exports it: on a 3-D input MatMul with the folded, transposed weight
   * (`onnx::MatMul_N`, [in, out]) then Add(bias, ·); on a 2-D input (`gemm`) Gemm with the original
   * weight and transB=1.
   */
  linear(
    scope: string,
    x: string,
    prefix: string,
    inF: number,
    outF: number,
    form: 'matmul' | 'gemm' = 'matmul',
    order: 'bias-first' | 'bias-last' = 'bias-first',
  ): string {
    const bias = this.param(`${prefix}.bias`, [outF], this.w.normal(`${prefix}.bias`, outF));
    const w = this.linearWeight(prefix, inF, outF);
    if (form === 'gemm') {
      const weight = this.param(`${prefix}.weight`, [outF, inF], w);
      return this.g.op(scope, 'Gemm', [x, weight, bias], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 });
    }
    const weight = this.param(this.g.matmulWeightName(), [inF, outF], transpose(w, outF, inF));
    const mm = this.g.op(scope, 'MatMul', [x, weight]);
    return this.g.op(scope, 'Add', order === 'bias-first' ? [bias, mm] : [mm, bias]);
  }

  layerNorm(scope: string, x: string, prefix: string): string {
    const { hidden } = this.spec;
    const eps = layerNormEps(this.spec.arch);
    const weight = this.param(`${prefix}.weight`, [hidden], new Float32Array(hidden).fill(1));
    const bias = this.param(`${prefix}.bias`, [hidden], new Float32Array(hidden));
    const g = this.g;
    if (this.spec.layerNorm === 'fused') {
      return g.op(scope, 'LayerNormalization', [x, weight, bias], { axis: -1, epsilon: { float: eps } });
    }
    // torch's layer_norm symbolic below opset 17.
    const mean = g.op(scope, 'ReduceMean', [x], { axes: [-1] });
    const centred = g.op(scope, 'Sub', [x, mean]);
    const squared = g.op(scope, 'Pow', [centred, g.float(scope, 2)]);
    const variance = g.op(scope, 'ReduceMean', [squared], { axes: [-1] });
    const shifted = g.op(scope, 'Add', [variance, g.float(scope, eps)]);
    const std = g.op(scope, 'Sqrt', [shifted]);
    const normed = g.op(scope, 'Div', [centred, std]);
    const scaled = g.op(scope, 'Mul', [normed, weight]);
    return g.op(scope, 'Add', [scaled, bias]);
  }

  /** transformers' "gelu" (GELUActivation) as torch exports it: x · (1 + erf(x / √2)) · 0.5. */
  gelu(scope: string, x: string): string {
    const g = this.g;
    const div = g.op(scope, 'Div', [x, g.float(scope, Math.SQRT2)]);
    const erf = g.op(scope, 'Erf', [div]);
    const plusOne = g.op(scope, 'Add', [erf, g.float(scope, 1)]);
    const mul = g.op(scope, 'Mul', [x, plusOne]);
    return g.op(scope, 'Mul', [mul, g.float(scope, 0.5)]);
  }

  dropout(scope: string, x: string): string {
    switch (this.spec.dropout) {
      case 'none':
        return x;
      case 'identity':
        return this.g.op(scope, 'Identity', [x]);
      case 'dropout':
        return this.g.op(scope, 'Dropout', [x, this.g.float(scope, 0.1), this.g.bool(scope, false)]);
    }
  }

  /** Multi-head self-attention up to the merged context [batch, seq, hidden] (before the output projection). */
  selfAttention(x: string, n: AttentionNames, mask: MaskForm): string {
    const { hidden, heads } = this.spec;
    const g = this.g;
    const s = n.scope;
    const sqrtD = Math.sqrt(this.headSize);
    const q = this.linear(`${s}/${n.q}`, x, `${n.prefix}.${n.q}`, hidden, hidden);
    const k = this.linear(`${s}/${n.k}`, x, `${n.prefix}.${n.k}`, hidden, hidden);
    const v = this.linear(`${s}/${n.v}`, x, `${n.prefix}.${n.v}`, hidden, hidden);
    const split = (t: string, perm: number[]) =>
      g.op(s, 'Transpose', [g.op(s, 'Reshape', [t, g.int64(s, [0, 0, heads, this.headSize])])], { perm });
    let qh = split(q, [0, 2, 1, 3]);
    // permute(0, 2, 1, 3) then transpose(-1, -2), folded by the exporter into one Transpose.
    let kT = split(k, [0, 2, 3, 1]);
    const vh = split(v, [0, 2, 1, 3]);
    if (n.scaleAt === 'query') qh = g.op(s, 'Div', [qh, g.float(s, sqrtD)]);
    if (n.scaleAt === 'keyT') kT = g.op(s, 'Div', [kT, g.float(s, sqrtD)]);
    let scores = g.op(s, 'MatMul', [qh, kT]);
    if (n.scaleAt === 'scores') scores = g.op(s, 'Div', [scores, g.float(s, sqrtD)]);
    let probs: string;
    if (mask.kind === 'additive') {
      probs = g.op(s, 'Softmax', [g.op(s, 'Add', [scores, mask.mask])], { axis: -1 });
    } else {
      const filled = g.op(s, 'Where', [mask.masked, g.float(s, FLOAT32_MIN), scores]);
      probs = g.op(s, 'Softmax', [filled], { axis: -1 });
      if (mask.kind === 'xsoftmax') probs = g.op(s, 'Where', [mask.masked, g.float(s, 0), probs]);
    }
    const context = g.op(s, 'MatMul', [probs, vh]);
    const merged = g.op(s, 'Transpose', [context], { perm: [0, 2, 1, 3] });
    return g.op(s, 'Reshape', [merged, g.int64(s, [0, 0, hidden])]);
  }

  /** The sequence length as a 1-element int64 tensor, from the input's shape. */
  seqLength(scope: string): { scalar: string; vector: string; shape: string } {
    const g = this.g;
    const shape = g.op(scope, 'Shape', ['input_ids']);
    const scalar = g.op(scope, 'Gather', [shape, g.int64(scope, [1], [])], { axis: 0 });
    const vector = g.op(scope, 'Unsqueeze', [scalar, g.int64(scope, [0])]);
    return { scalar, vector, shape };
  }

  /** `buffer[:, :seq_len]` on a registered [1, rows] int64 buffer. */
  sliceBuffer(scope: string, name: string, values: number[], seqLen: string): string {
    const g = this.g;
    g.initializer(int64Tensor(name, [1, values.length], values));
    return g.op(scope, 'Slice', [name, g.int64(scope, [0]), seqLen, g.int64(scope, [1]), g.int64(scope, [1])]);
  }

  // ---- embeddings ----

  bertEmbeddings(): string {
    const { vocabSize, maxPositions } = this.spec;
    const g = this.g;
    const s = '/bert/embeddings';
    const p = 'bert.embeddings';
    const word = this.embeddingTable(`${p}.word_embeddings.weight`, vocabSize, paddingId('bert'));
    const position = this.embeddingTable(`${p}.position_embeddings.weight`, maxPositions);
    const tokenType = this.embeddingTable(`${p}.token_type_embeddings.weight`, 2);
    const len = this.seqLength(s);
    const positionIds = this.sliceBuffer(s, `${p}.position_ids`, range(maxPositions), len.vector);
    const words = g.op(`${s}/word_embeddings`, 'Gather', [word, 'input_ids']);
    const types = g.op(`${s}/token_type_embeddings`, 'Gather', [tokenType, 'token_type_ids']);
    const sum = g.op(s, 'Add', [words, types]);
    const positions = g.op(`${s}/position_embeddings`, 'Gather', [position, positionIds]);
    return this.layerNorm(`${s}/LayerNorm`, g.op(s, 'Add', [sum, positions]), `${p}.LayerNorm`);
  }

  distilbertEmbeddings(): string {
    const { vocabSize, maxPositions } = this.spec;
    const g = this.g;
    const s = '/distilbert/embeddings';
    const p = 'distilbert.embeddings';
    const word = this.embeddingTable(`${p}.word_embeddings.weight`, vocabSize, paddingId('distilbert'));
    const position = this.embeddingTable(`${p}.position_embeddings.weight`, maxPositions);
    const words = g.op(`${s}/word_embeddings`, 'Gather', [word, 'input_ids']);
    const len = this.seqLength(s);
    // torch.arange(seq_length).unsqueeze(0)
    const arange = g.op(s, 'Range', [g.int64(s, [0], []), len.scalar, g.int64(s, [1], [])]);
    const positionIds = g.op(s, 'Unsqueeze', [arange, g.int64(s, [0])]);
    const positions = g.op(`${s}/position_embeddings`, 'Gather', [position, positionIds]);
    return this.layerNorm(`${s}/LayerNorm`, g.op(s, 'Add', [words, positions]), `${p}.LayerNorm`);
  }

  /** RoBERTa and XLM-R: positions from `create_position_ids_from_input_ids`, one all-zero token type. */
  robertaEmbeddings(): string {
    const { vocabSize } = this.spec;
    const g = this.g;
    const s = '/roberta/embeddings';
    const p = 'roberta.embeddings';
    const pad = paddingId(this.spec.arch);
    const rows = positionRows(this.spec);
    const word = this.embeddingTable(`${p}.word_embeddings.weight`, vocabSize, pad);
    const position = this.embeddingTable(`${p}.position_embeddings.weight`, rows, pad);
    const tokenType = this.embeddingTable(`${p}.token_type_embeddings.weight`, 1);
    // mask = input_ids.ne(padding_idx).int()
    const notPad = g.op(s, 'Not', [g.op(s, 'Equal', ['input_ids', g.int64(s, [pad], [])])]);
    const mask = g.op(s, 'Cast', [notPad], { to: DataType.INT32 });
    // incremental = (cumsum(mask, 1).type_as(mask) + past_key_values_length) * mask
    const cumsum = g.op(s, 'CumSum', [mask, g.int64(s, [1], [])]);
    const typed = g.op(s, 'Cast', [cumsum], { to: DataType.INT32 });
    const shifted = g.op(s, 'Add', [typed, g.int32(s, 0)]);
    const incremental = g.op(s, 'Mul', [shifted, mask]);
    // incremental.long() + padding_idx
    const positionIds = g.op(s, 'Add', [g.op(s, 'Cast', [incremental], { to: DataType.INT64 }), g.int64(s, [pad], [])]);
    // token_type_ids defaults to the zero buffer, sliced and expanded to the input's shape
    const len = this.seqLength(s);
    const zeros = this.sliceBuffer(s, `${p}.token_type_ids`, new Array<number>(rows).fill(0), len.vector);
    const tokenTypeIds = g.op(s, 'Expand', [zeros, len.shape]);
    const words = g.op(`${s}/word_embeddings`, 'Gather', [word, 'input_ids']);
    const types = g.op(`${s}/token_type_embeddings`, 'Gather', [tokenType, tokenTypeIds]);
    const sum = g.op(s, 'Add', [words, types]);
    const positions = g.op(`${s}/position_embeddings`, 'Gather', [position, positionIds]);
    return this.layerNorm(`${s}/LayerNorm`, g.op(s, 'Add', [sum, positions]), `${p}.LayerNorm`);
  }

  debertaEmbeddings(): string {
    const { vocabSize, maxPositions, tokenTypeIds } = this.spec;
    const g = this.g;
    const s = '/deberta/embeddings';
    const p = 'deberta.embeddings';
    const word = this.embeddingTable(`${p}.word_embeddings.weight`, vocabSize, paddingId('deberta-v2'));
    const position = this.embeddingTable(`${p}.position_embeddings.weight`, maxPositions);
    const len = this.seqLength(s);
    const positionIds = this.sliceBuffer(s, `${p}.position_ids`, range(maxPositions), len.vector);
    const words = g.op(`${s}/word_embeddings`, 'Gather', [word, 'input_ids']);
    const positions = g.op(`${s}/position_embeddings`, 'Gather', [position, positionIds]);
    let sum = g.op(s, 'Add', [words, positions]);
    if (tokenTypeIds) {
      const tokenType = this.embeddingTable(`${p}.token_type_embeddings.weight`, 2);
      sum = g.op(s, 'Add', [sum, g.op(`${s}/token_type_embeddings`, 'Gather', [tokenType, 'token_type_ids'])]);
    }
    const normed = this.layerNorm(`${s}/LayerNorm`, sum, `${p}.LayerNorm`);
    // embeddings * attention_mask.unsqueeze(2)
    const mask = g.op(s, 'Cast', [g.op(s, 'Unsqueeze', ['attention_mask', g.int64(s, [2])])], { to: DataType.FLOAT });
    return g.op(s, 'Mul', [normed, mask]);
  }

  // ---- attention masks ----

  /** get_extended_attention_mask: (1 − mask[:, None, None, :]) · finfo.min. */
  extendedMask(scope: string): MaskForm {
    const g = this.g;
    const u1 = g.op(scope, 'Unsqueeze', ['attention_mask', g.int64(scope, [1])]);
    const u2 = g.op(scope, 'Unsqueeze', [u1, g.int64(scope, [2])]);
    const f = g.op(scope, 'Cast', [u2], { to: DataType.FLOAT });
    const inverted = g.op(scope, 'Sub', [g.float(scope, 1), f]);
    return { kind: 'additive', mask: g.op(scope, 'Mul', [inverted, g.float(scope, FLOAT32_MIN)]) };
  }

  /** DistilBERT: (mask == 0).view(bs, 1, 1, k), then masked_fill in every layer. */
  distilbertMask(scope: string): MaskForm {
    const g = this.g;
    const isPad = g.op(scope, 'Equal', ['attention_mask', g.int64(scope, [0], [])]);
    return { kind: 'where', masked: g.op(scope, 'Unsqueeze', [isPad, g.int64(scope, [1, 2])]) };
  }

  /** DeBERTa's get_attention_mask (a [b, 1, s, s] outer product) and XSoftmax's `~mask.bool()`. */
  debertaMask(scope: string): MaskForm {
    const g = this.g;
    const u1 = g.op(scope, 'Unsqueeze', ['attention_mask', g.int64(scope, [1])]);
    const extended = g.op(scope, 'Unsqueeze', [u1, g.int64(scope, [2])]);
    const squeezed = g.op(scope, 'Squeeze', [extended, g.int64(scope, [-2])]);
    const column = g.op(scope, 'Unsqueeze', [squeezed, g.int64(scope, [-1])]);
    const outer = g.op(scope, 'Mul', [extended, column]);
    const asBool = g.op(scope, 'Cast', [outer], { to: DataType.BOOL });
    return { kind: 'xsoftmax', masked: g.op(scope, 'Not', [asBool]) };
  }

  // ---- encoder layers ----

  /** BertLayer, RobertaLayer and DebertaV2Layer share one module layout. */
  bertStyleLayer(x: string, base: 'bert' | 'roberta' | 'deberta', i: number, mask: MaskForm): string {
    const { hidden, intermediate } = this.spec;
    const g = this.g;
    const s = `/${base}/encoder/layer.${i}`;
    const p = `${base}.encoder.layer.${i}`;
    const deberta = base === 'deberta';
    const context = this.selfAttention(
      x,
      {
        scope: `${s}/attention/self`,
        prefix: `${p}.attention.self`,
        q: deberta ? 'query_proj' : 'query',
        k: deberta ? 'key_proj' : 'key',
        v: deberta ? 'value_proj' : 'value',
        scaleAt: deberta ? 'keyT' : 'scores',
      },
      mask,
    );
    const attnOut = this.linear(`${s}/attention/output/dense`, context, `${p}.attention.output.dense`, hidden, hidden);
    const attnRes = g.op(`${s}/attention/output`, 'Add', [attnOut, x]);
    const attn = this.layerNorm(`${s}/attention/output/LayerNorm`, attnRes, `${p}.attention.output.LayerNorm`);
    const inter = this.linear(`${s}/intermediate/dense`, attn, `${p}.intermediate.dense`, hidden, intermediate);
    const act = this.gelu(`${s}/intermediate/intermediate_act_fn`, inter);
    const out = this.linear(`${s}/output/dense`, act, `${p}.output.dense`, intermediate, hidden);
    const outRes = g.op(`${s}/output`, 'Add', [out, attn]);
    return this.layerNorm(`${s}/output/LayerNorm`, outRes, `${p}.output.LayerNorm`);
  }

  distilbertLayer(x: string, i: number, mask: MaskForm): string {
    const { hidden, intermediate } = this.spec;
    const g = this.g;
    const s = `/distilbert/transformer/layer.${i}`;
    const p = `distilbert.transformer.layer.${i}`;
    const context = this.selfAttention(
      x,
      { scope: `${s}/attention`, prefix: `${p}.attention`, q: 'q_lin', k: 'k_lin', v: 'v_lin', scaleAt: 'query' },
      mask,
    );
    const sa = this.linear(`${s}/attention/out_lin`, context, `${p}.attention.out_lin`, hidden, hidden);
    const saNorm = this.layerNorm(`${s}/sa_layer_norm`, g.op(s, 'Add', [sa, x]), `${p}.sa_layer_norm`);
    const lin1 = this.linear(`${s}/ffn/lin1`, saNorm, `${p}.ffn.lin1`, hidden, intermediate);
    const act = this.gelu(`${s}/ffn/activation`, lin1);
    const lin2 = this.linear(`${s}/ffn/lin2`, act, `${p}.ffn.lin2`, intermediate, hidden);
    return this.layerNorm(`${s}/output_layer_norm`, g.op(s, 'Add', [lin2, saNorm]), `${p}.output_layer_norm`);
  }

  encoder(): string {
    const { arch, layers } = this.spec;
    let x: string;
    switch (arch) {
      case 'bert': {
        x = this.bertEmbeddings();
        const mask = this.extendedMask('/bert');
        for (let i = 0; i < layers; i++) x = this.bertStyleLayer(x, 'bert', i, mask);
        return x;
      }
      case 'distilbert': {
        x = this.distilbertEmbeddings();
        const mask = this.distilbertMask('/distilbert/transformer');
        for (let i = 0; i < layers; i++) x = this.distilbertLayer(x, i, mask);
        return x;
      }
      case 'roberta':
      case 'xlm-roberta': {
        x = this.robertaEmbeddings();
        const mask = this.extendedMask('/roberta');
        for (let i = 0; i < layers; i++) x = this.bertStyleLayer(x, 'roberta', i, mask);
        return x;
      }
      case 'deberta-v2': {
        x = this.debertaEmbeddings();
        const mask = this.debertaMask('/deberta/encoder');
        for (let i = 0; i < layers; i++) x = this.bertStyleLayer(x, 'deberta', i, mask);
        return x;
      }
    }
  }

  // ---- tails ----

  /** hidden_states[:, 0]: Gather on the sequence axis with a scalar index, giving [batch, hidden]. */
  cls(scope: string, sequence: string): string {
    return this.g.op(scope, 'Gather', [sequence, this.g.int64(scope, [0], [])], { axis: 1 });
  }

  /**
   * The modules after the encoder, as each `*ForSequenceClassification` runs them in eval mode:
   * - BERT: CLS → pooler.dense → Tanh → (dropout) → classifier
   * - DistilBERT: CLS → pre_classifier → Relu → (dropout) → classifier
   * - RoBERTa / XLM-R (RobertaClassificationHead): CLS → classifier.dense → Tanh → (dropout) → classifier.out_proj
   * - DeBERTa-v2 (ContextPooler): CLS → pooler.dense → GELU (erf) → (dropout) → classifier
   */
  buildTail(sequence: string): HeadInfo {
    const { hidden, headDense, arch } = this.spec;
    const g = this.g;
    let features: string;
    let classifierScope: string;
    let classifierPrefix: string;
    switch (arch) {
      case 'bert': {
        const cls = this.cls('/bert/pooler', sequence);
        const dense = this.linear('/bert/pooler/dense', cls, 'bert.pooler.dense', hidden, hidden, headDense);
        const pooled = g.op('/bert/pooler/activation', 'Tanh', [dense]);
        features = this.dropout('/dropout', pooled);
        [classifierScope, classifierPrefix] = ['/classifier', 'classifier'];
        break;
      }
      case 'distilbert': {
        const cls = this.cls('', sequence);
        const dense = this.linear('/pre_classifier', cls, 'pre_classifier', hidden, hidden, headDense);
        const relu = g.op('', 'Relu', [dense]);
        features = this.dropout('/dropout', relu);
        [classifierScope, classifierPrefix] = ['/classifier', 'classifier'];
        break;
      }
      case 'roberta':
      case 'xlm-roberta': {
        const cls = this.cls('/classifier', sequence);
        const dense = this.linear('/classifier/dense', cls, 'classifier.dense', hidden, hidden, headDense);
        const tanh = g.op('/classifier', 'Tanh', [dense]);
        features = this.dropout('/classifier/dropout', tanh);
        [classifierScope, classifierPrefix] = ['/classifier/out_proj', 'classifier.out_proj'];
        break;
      }
      case 'deberta-v2': {
        const cls = this.cls('/pooler', sequence);
        const dense = this.linear('/pooler/dense', cls, 'pooler.dense', hidden, hidden, headDense);
        const act = this.gelu('/pooler', dense);
        features = this.dropout('/dropout', act);
        [classifierScope, classifierPrefix] = ['/classifier', 'classifier'];
        break;
      }
    }
    return this.classifier(classifierScope, features, classifierPrefix);
  }

  classifier(scope: string, features: string, prefix: string): HeadInfo {
    const { hidden, numLabels, classifier, biasAddOrder } = this.spec;
    const g = this.g;
    const first = g.nodes.length;
    const bias = this.param(`${prefix}.bias`, [numLabels], this.w.normal(`${prefix}.bias`, numLabels));
    const w = this.linearWeight(prefix, hidden, numLabels);
    let weight: string;
    let layout: HeadInfo['layout'];
    if (classifier === 'gemm') {
      weight = this.param(`${prefix}.weight`, [numLabels, hidden], w);
      layout = 'out_in';
      g.op(scope, 'Gemm', [features, weight, bias], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 }, 'logits');
    } else if (classifier === 'gemm-nt') {
      weight = this.param(`${prefix}.weight`, [hidden, numLabels], transpose(w, numLabels, hidden));
      layout = 'in_out';
      g.op(scope, 'Gemm', [features, weight, bias], { alpha: { float: 1 }, beta: { float: 1 } }, 'logits');
    } else {
      weight = this.param(g.matmulWeightName(), [hidden, numLabels], transpose(w, numLabels, hidden));
      layout = 'in_out';
      const mm = g.op(scope, 'MatMul', [features, weight]);
      g.op(scope, 'Add', biasAddOrder === 'bias-first' ? [bias, mm] : [mm, bias], {}, 'logits');
    }
    const nodes = g.nodes.slice(first).filter((n) => n.opType !== 'Constant');
    return {
      featuresTensor: features,
      nodes: nodes.map((n) => n.name!),
      opTypes: nodes.map((n) => n.opType),
      weight,
      bias,
      layout,
    };
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Row-major [rows, cols] → [cols, rows]. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

export function buildClassifierGraph(spec: ClassifierSpec): BuiltGraph {
  const b = new ClassifierGraphBuilder(spec);
  const head = b.buildTail(b.encoder());
  const inputs = inputNames(spec);
  const model: ModelProto = {
    // IR 7 goes with opset 13–14 and IR 8 with 15–18, as torch.onnx writes them.
    irVersion: spec.opset <= 14 ? 7 : 8,
    producerName: 'modtune-synthetic',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: spec.opset }],
    graph: {
      name: 'main_graph',
      node: b.g.nodes,
      initializer: b.g.initializers,
      input: inputs.map((name) => valueInfo(name, DataType.INT64, ['batch_size', 'sequence_length'])),
      output: [valueInfo('logits', DataType.FLOAT, ['batch_size', spec.numLabels])],
    },
  };
  return { bytes: encodeModel(model), inputs, outputs: ['logits'], head, embeddingRows: spec.vocabSize };
}
