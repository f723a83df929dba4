/**
 * The starter model's ONNX graph: Gather → masked mean pool → (optional L2 normalisation) → features →
 * Gemm head → logits. `features` is a graph output so the runtime can apply heads stored in the database.
 */
import { DataType, } from '../inference/onnx/schema.js';
import { encodeModel, floatTensor, int64Tensor, node, valueInfo, type ModelProto } from '../inference/onnx/model.js';

export interface PooledClassifierSpec {
  /** Row-major [vocabSize, dim] embedding table (already weighted per token). */
  embeddings: Float32Array;
  vocabSize: number;
  dim: number;
  /** Row-major [numLabels, dim] (PyTorch Linear layout). */
  weight: Float32Array;
  bias: Float32Array;
  numLabels: number;
  /** Extra constant added to the graph's logits only; used by tests to build a model whose head cannot be verified. */
  logitOffset?: number;
  /**
   * When set, features are the pooled vector divided by sqrt(‖pooled‖² + ε²): its direction, whatever the
   * text's length. A linear head on raw means extrapolates wildly on short texts (one rare word pools to a
   * whole, long embedding row); ε keeps all-unknown text, which pools to zero, at zero.
   */
  normalizeEpsilon?: number;
  /**
   * When set, the graph takes `token_type_ids`, pools the text (type 0) and the context (type 1, the
   * second sequence of a pair) separately and adds the context's mean at this weight.
   */
  contextWeight?: number;
  /**
   * `mean-max-min`: features are the pooled mean (as above) followed by the per-dimension maximum and
   * minimum over the text's tokens that have a vector ([3 × dim]; zeros for a text with none), so one
   * strong word is not averaged away. `known` says which rows have a vector. Default `mean`.
   */
  pooling?: 'mean' | 'mean-max-min';
  /** Per embedding row: 1 where it has a vector (required with mean-max-min). */
  known?: Float32Array;
}

/** A large value standing in for ±∞ in the masked max and min (ONNX has no masked reductions). */
const MASK_BIG = 1e4;

export const STARTER_NAMES = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  tokenTypeIds: 'token_type_ids',
  features: 'features',
  logits: 'logits',
  weight: 'classifier.weight',
  bias: 'classifier.bias',
} as const;

/** Σ mask·vectors / max(Σ mask, tiny): an all-masked row pools to the zero vector. */
function maskedMean(mask: string, out: string) {
  return [
    node('Unsqueeze', [mask, 'axis_last'], [`${mask}_3d`]),
    node('Mul', ['token_vectors', `${mask}_3d`], [`${mask}_vectors`]),
    node('ReduceSum', [`${mask}_vectors`, 'axis_seq'], [`${mask}_sum`], { keepdims: 0 }),
    node('ReduceSum', [mask, 'axis_seq'], [`${mask}_count`], { keepdims: 1 }),
    node('Max', [`${mask}_count`, 'min_count'], [`${mask}_count_safe`]),
    node('Div', [`${mask}_sum`, `${mask}_count_safe`], [out]),
  ];
}

export function buildPooledClassifierModel(spec: PooledClassifierSpec): Uint8Array {
  const { vocabSize, dim, numLabels } = spec;
  const extremes = spec.pooling === 'mean-max-min';
  const featureDim = extremes ? 3 * dim : dim;
  if (spec.embeddings.length !== vocabSize * dim) throw new Error('embeddings size does not match vocabSize × dim');
  if (spec.weight.length !== numLabels * featureDim) throw new Error('weight size does not match numLabels × feature dim');
  if (extremes && spec.known?.length !== vocabSize) throw new Error('mean-max-min pooling needs `known` for every embedding row');
  // With max and min, the pooled mean is an intermediate; otherwise it is the features output.
  const meanOut = extremes ? 'features_mean' : STARTER_NAMES.features;
  if (spec.bias.length !== numLabels) throw new Error('bias size does not match numLabels');
  const n = STARTER_NAMES;
  const weighted = spec.contextWeight !== undefined;
  if (weighted && !(spec.contextWeight! > 0 && spec.contextWeight! <= 1)) throw new Error('contextWeight must be in (0, 1]');
  const eps = spec.normalizeEpsilon !== undefined;
  // x / sqrt(‖x‖² + ε²) when normalisation is on, else x itself.
  const direction = (x: string, out: string) =>
    eps
      ? [
          node('Mul', [x, x], [`${x}_squared`]),
          node('ReduceSum', [`${x}_squared`, 'axis_last'], [`${x}_norm_squared`], { keepdims: 1 }),
          node('Add', [`${x}_norm_squared`, 'epsilon_squared'], [`${x}_norm_squared_safe`]),
          node('Sqrt', [`${x}_norm_squared_safe`], [`${x}_norm`]),
          node('Div', [x, `${x}_norm`], [out]),
        ]
      : [node('Identity', [x], [out])];
  const nodes = [
    node('Gather', ['embeddings.weight', n.inputIds], ['token_vectors'], { axis: 0 }),
    node('Cast', [n.attentionMask], ['mask_f'], { to: DataType.FLOAT }),
    ...(weighted
      ? [
          // Text (type 0) and context (type 1) are pooled apart and combined as
          // features = dir(dir(text_mean) + contextWeight · dir(context_mean)): the context turns the
          // result by a bounded angle whatever its length or its words' norms, so a threat followed by
          // a paragraph of small talk still reads as a threat. Without a context this is
          // dir(dir(text_mean)), which features.ts computes for the head's training data.
          node('Cast', [n.tokenTypeIds], ['type_f'], { to: DataType.FLOAT }),
          node('Mul', ['mask_f', 'type_f'], ['context_mask']),
          node('Sub', ['mask_f', 'context_mask'], ['text_mask']),
          ...maskedMean('text_mask', 'text_mean'),
          ...maskedMean('context_mask', 'context_mean'),
          ...direction('text_mean', 'text_dir'),
          ...direction('context_mean', 'context_dir'),
          node('Mul', ['context_dir', 'context_weight'], ['context_part']),
          node('Add', ['text_dir', 'context_part'], ['combined']),
          ...direction('combined', meanOut),
        ]
      : [...maskedMean('mask_f', 'pooled'), ...direction('pooled', meanOut)]),
    ...(extremes
      ? [
          // The text's tokens with a vector: known[id] × (attention and, with a context, type 0).
          node('Gather', ['row_known', n.inputIds], ['token_known'], { axis: 0 }),
          node('Mul', ['token_known', weighted ? 'text_mask' : 'mask_f'], ['extreme_mask']),
          node('Unsqueeze', ['extreme_mask', 'axis_last'], ['extreme_mask_3d']),
          // Masked-out positions are pushed far below (for the max) or above (for the min) any vector value.
          node('Sub', ['extreme_mask_3d', 'one'], ['extreme_off']),
          node('Mul', ['extreme_off', 'mask_big'], ['extreme_shift']),
          node('Add', ['token_vectors', 'extreme_shift'], ['for_max']),
          node('Sub', ['token_vectors', 'extreme_shift'], ['for_min']),
          node('ReduceMax', ['for_max'], ['raw_max'], { axes: [1], keepdims: 0 }),
          node('ReduceMin', ['for_min'], ['raw_min'], { axes: [1], keepdims: 0 }),
          // A text with no such token gets zeros.
          node('ReduceSum', ['extreme_mask', 'axis_seq'], ['extreme_count'], { keepdims: 1 }),
          node('Greater', ['extreme_count', 'zero'], ['has_extreme']),
          node('Where', ['has_extreme', 'raw_max', 'zero'], ['text_max']),
          node('Where', ['has_extreme', 'raw_min', 'zero'], ['text_min']),
          node('Concat', [meanOut, 'text_max', 'text_min'], [n.features], { axis: -1 }),
        ]
      : []),
    node('Gemm', [n.features, n.weight, n.bias], spec.logitOffset ? ['head_logits'] : [n.logits], {
      transB: 1,
      alpha: { float: 1 },
      beta: { float: 1 },
    }),
  ];
  const initializer = [
    floatTensor('embeddings.weight', [vocabSize, dim], spec.embeddings),
    int64Tensor('axis_last', [1], [-1]),
    int64Tensor('axis_seq', [1], [1]),
    floatTensor('min_count', [], [1e-6]),
    floatTensor(n.weight, [numLabels, featureDim], spec.weight),
    floatTensor(n.bias, [numLabels], spec.bias),
  ];
  if (extremes) {
    initializer.push(
      floatTensor('row_known', [vocabSize], spec.known!),
      floatTensor('one', [], [1]),
      floatTensor('zero', [], [0]),
      floatTensor('mask_big', [], [MASK_BIG]),
    );
  }
  if (weighted) initializer.push(floatTensor('context_weight', [], [spec.contextWeight!]));
  if (spec.normalizeEpsilon !== undefined) {
    initializer.push(floatTensor('epsilon_squared', [], [spec.normalizeEpsilon * spec.normalizeEpsilon]));
  }
  if (spec.logitOffset) {
    initializer.push(floatTensor('logit_offset', [], [spec.logitOffset]));
    nodes.push(node('Add', ['head_logits', 'logit_offset'], [n.logits]));
  }
  const model: ModelProto = {
    irVersion: 8,
    producerName: 'modtune',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'modtune_starter',
      node: nodes,
      initializer,
      input: [
        valueInfo(n.inputIds, DataType.INT64, ['batch', 'sequence']),
        valueInfo(n.attentionMask, DataType.INT64, ['batch', 'sequence']),
        ...(weighted ? [valueInfo(n.tokenTypeIds, DataType.INT64, ['batch', 'sequence'])] : []),
      ],
      output: [
        valueInfo(n.logits, DataType.FLOAT, ['batch', numLabels]),
        valueInfo(n.features, DataType.FLOAT, ['batch', featureDim]),
      ],
    },
  };
  return encodeModel(model);
}
