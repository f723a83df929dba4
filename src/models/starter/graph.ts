/**
 * The starter model's ONNX graph: Gather → masked mean pool → features → Gemm head → logits.
 * `features` is a graph output so the runtime can apply heads stored in the database.
 */
import { DataType, } from '../../inference/onnx/schema.js';
import { encodeModel, floatTensor, int64Tensor, node, valueInfo, type ModelProto } from '../../inference/onnx/model.js';

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
}

export const STARTER_NAMES = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  features: 'features',
  logits: 'logits',
  weight: 'classifier.weight',
  bias: 'classifier.bias',
} as const;

export function buildPooledClassifierModel(spec: PooledClassifierSpec): Uint8Array {
  const { vocabSize, dim, numLabels } = spec;
  if (spec.embeddings.length !== vocabSize * dim) throw new Error('embeddings size does not match vocabSize × dim');
  if (spec.weight.length !== numLabels * dim) throw new Error('weight size does not match numLabels × dim');
  if (spec.bias.length !== numLabels) throw new Error('bias size does not match numLabels');
  const n = STARTER_NAMES;
  const nodes = [
    node('Gather', ['embeddings.weight', n.inputIds], ['token_vectors'], { axis: 0 }),
    node('Cast', [n.attentionMask], ['mask_f'], { to: DataType.FLOAT }),
    node('Unsqueeze', ['mask_f', 'axis_last'], ['mask_3d']),
    node('Mul', ['token_vectors', 'mask_3d'], ['masked_vectors']),
    node('ReduceSum', ['masked_vectors', 'axis_seq'], ['vector_sum'], { keepdims: 0 }),
    node('ReduceSum', ['mask_f', 'axis_seq'], ['token_count'], { keepdims: 1 }),
    // An all-padding row would divide by zero; clamp the count to 1 so it pools to the zero vector.
    node('Max', ['token_count', 'one'], ['token_count_safe']),
    node('Div', ['vector_sum', 'token_count_safe'], [n.features]),
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
    floatTensor('one', [], [1]),
    floatTensor(n.weight, [numLabels, dim], spec.weight),
    floatTensor(n.bias, [numLabels], spec.bias),
  ];
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
      ],
      output: [
        valueInfo(n.logits, DataType.FLOAT, ['batch', numLabels]),
        valueInfo(n.features, DataType.FLOAT, ['batch', dim]),
      ],
    },
  };
  return encodeModel(model);
}
