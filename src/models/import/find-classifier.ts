/**
 * Finds the final classification layer of a sequence-classification graph: the node that produces the
 * logits output (after optional Identity/Dropout no-ops) must be a Gemm, or an Add of a MatMul and a
 * bias, with constant weights, or that MatMul as onnxruntime's quantize_dynamic rewrites it (int8 models,
 * transformers.js' model_quantized.onnx): DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q, x_zp, W_zp)
 * → Cast → Mul by Mul(x_scale, W_scale). Its (float) input is the feature vector modtune exposes; its
 * weights, dequantized if need be, become the base head. Pure: works on the decoded graph, says what it
 * found when it refuses.
 */
import { toNumber, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from '../../inference/onnx/model.js';
import { quantTypeOf } from '../../inference/onnx/quantized.js';

export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

export interface ClassifierMatch {
  op: 'Gemm' | 'MatMul+Add' | 'MatMulInteger';
  logitsOutput: string;
  /** The classifier's input: the features. */
  featuresTensor: string;
  weight: string;
  bias: string | null;
  /** out_in: [labels, hidden]; in_out: [hidden, labels]. */
  layout: 'out_in' | 'in_out';
  alpha: number;
  beta: number;
  numLabels: number;
  hidden: number;
  /** No-op nodes passed over between the classifier and the logits output. */
  passedOver: string[];
  /** A MatMulInteger classifier: `weight` is W_q (int8 or uint8), W = (W_q − zero point) · scale. */
  quantized?: { scale: string; zeroPoint: string | null };
}

const NO_OPS = new Set(['Identity', 'Dropout']);

function attr(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute?.find((a) => a.name === name);
}

function describe(n: NodeProto | undefined, name: string): string {
  return n ? `a ${n.opType} node${n.name ? ` ('${n.name}')` : ''}` : `'${name}', which no node produces (a graph input or initializer)`;
}

export function findClassifier(graph: GraphProto, numLabels: number, logitsName?: string): ClassifierMatch {
  const outputs = graph.output.map((o) => o.name);
  const logitsOutput = logitsName ?? (outputs.includes('logits') ? 'logits' : outputs.length === 1 ? outputs[0] : undefined);
  if (!logitsOutput || !outputs.includes(logitsOutput)) {
    throw new ImportError(`the graph has no 'logits' output (its outputs are ${outputs.map((o) => `'${o}'`).join(', ') || 'none'}); expected a sequence-classification export`);
  }
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output) producer.set(o, n);
  const init = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const constant = (name: string): TensorProto | undefined => {
    const t = init.get(name);
    if (t) return t;
    if (producer.get(name)?.opType === 'Constant') {
      throw new ImportError(`the classifier's '${name}' is a Constant node; modtune reads weights from graph initializers (torch.onnx's default: export without constant folding of parameters into nodes)`);
    }
    return undefined;
  };

  let tensor = logitsOutput;
  const passedOver: string[] = [];
  let node = producer.get(tensor);
  while (node && NO_OPS.has(node.opType)) {
    passedOver.push(node.opType);
    tensor = node.input[0];
    node = producer.get(tensor);
  }
  const expected =
    'expected the classification layer: a Gemm, or a MatMul followed by an Add of a bias, with constant weights ' +
    "(the MatMul possibly in onnxruntime's dynamically quantized form, DynamicQuantizeLinear → MatMulInteger → Cast → Mul by the scales; " +
    'optionally followed by Identity/Dropout)';
  if (!node) throw new ImportError(`the logits come from ${describe(node, tensor)}; ${expected}`);

  const dims = (t: TensorProto) => (t.dims ?? []).map(toNumber);
  const check = (w: TensorProto, layout: 'out_in' | 'in_out'): { labels: number; hidden: number } => {
    const d = dims(w);
    if (d.length !== 2) throw new ImportError(`the classifier weight '${w.name}' has dims [${d}], expected a matrix`);
    if (w.dataType !== 1) {
      throw new ImportError(
        `the classifier weight '${w.name}' is ONNX type ${w.dataType}, expected float32 (quantized weights are read in onnxruntime's quantize_dynamic form only: a MatMulInteger classifier)`,
      );
    }
    const labels = layout === 'out_in' ? d[0] : d[1];
    const hidden = layout === 'out_in' ? d[1] : d[0];
    if (labels !== numLabels) {
      throw new ImportError(`the classifier '${w.name}' [${d}] has ${labels} outputs but config.json's id2label has ${numLabels} labels`);
    }
    return { labels, hidden };
  };
  const checkBias = (b: TensorProto | undefined, name: string) => {
    if (!b) throw new ImportError(`the classifier bias '${name}' is not a constant; ${expected}`);
    const n = dims(b).reduce((a, x) => a * x, 1);
    if (n !== numLabels) throw new ImportError(`the classifier bias '${name}' has ${n} values, expected ${numLabels}`);
  };

  if (node.opType === 'Gemm') {
    const [x, wName, bName] = node.input;
    const w = constant(wName);
    if (!w) throw new ImportError(`the Gemm producing the logits multiplies by '${wName}', which is not a constant; ${expected}`);
    if (toNumber(attr(node, 'transA')?.i) !== 0) throw new ImportError('the classifier Gemm has transA=1; expected the features as its first input, untransposed');
    const layout = toNumber(attr(node, 'transB')?.i) === 1 ? 'out_in' : 'in_out';
    const { hidden } = check(w, layout);
    if (bName) checkBias(constant(bName), bName);
    return {
      op: 'Gemm',
      logitsOutput,
      featuresTensor: x,
      weight: w.name!,
      bias: bName ? bName : null,
      layout,
      alpha: attr(node, 'alpha')?.f ?? 1,
      beta: bName ? (attr(node, 'beta')?.f ?? 1) : 1,
      numLabels,
      hidden,
      passedOver,
    };
  }
  if (node.opType === 'Add') {
    const [a, b] = node.input;
    const [mmName, biasName] = constant(a) ? [b, a] : [a, b];
    const mm = producer.get(mmName);
    if (mm?.opType === 'Mul') {
      checkBias(constant(biasName), biasName);
      const q = matMulInteger(mm, { producer, constant, numLabels, expected });
      return { op: 'MatMulInteger', logitsOutput, featuresTensor: q.features, weight: q.weight, bias: biasName, layout: 'in_out', alpha: 1, beta: 1, numLabels, hidden: q.hidden, passedOver, quantized: { scale: q.scale, zeroPoint: q.zeroPoint } };
    }
    if (mm?.opType !== 'MatMul') {
      throw new ImportError(`the logits come from an Add of ${describe(mm, mmName)} and '${biasName}'; ${expected}`);
    }
    checkBias(constant(biasName), biasName);
    const [x, wName] = mm.input;
    const w = constant(wName);
    if (!w) throw new ImportError(`the MatMul before the logits multiplies by '${wName}', which is not a constant; ${expected}`);
    const { hidden } = check(w, 'in_out');
    return { op: 'MatMul+Add', logitsOutput, featuresTensor: x, weight: w.name!, bias: biasName, layout: 'in_out', alpha: 1, beta: 1, numLabels, hidden, passedOver };
  }
  throw new ImportError(`the logits come from ${describe(node, tensor)}; ${expected}`);
}

/**
 * Mul(Cast(MatMulInteger(x_q, W_q, x_zp, W_zp)), Mul(x_scale, W_scale)), either operand order, with x_q,
 * x_scale and x_zp the outputs of one DynamicQuantizeLinear(x): what quantize_dynamic makes of MatMul(x, W).
 */
function matMulInteger(
  mul: NodeProto,
  { producer, constant, numLabels, expected }: { producer: Map<string, NodeProto>; constant: (name: string) => TensorProto | undefined; numLabels: number; expected: string },
): { features: string; weight: string; scale: string; zeroPoint: string | null; hidden: number } {
  const dims = (t: TensorProto) => (t.dims ?? []).map(toNumber);
  const form = "expected onnxruntime's dynamically quantized MatMul: Mul(Cast(MatMulInteger(DynamicQuantizeLinear(x), W_q, x_zero_point, W_zero_point)), Mul(x_scale, W_scale))";
  const ops = mul.input.map((i) => producer.get(i));
  const castAt = ops.findIndex((n) => n?.opType === 'Cast');
  const cast = ops[castAt];
  const scales = ops[1 - castAt];
  if (mul.input.length !== 2 || !cast || scales?.opType !== 'Mul') {
    throw new ImportError(`the logits come from an Add of a Mul of ${mul.input.map((i, k) => describe(ops[k], i)).join(' and ')}; ${expected}`);
  }
  if (toNumber(attr(cast, 'to')?.i) !== 1) throw new ImportError(`the Cast before the classifier's scaling casts to ONNX type ${toNumber(attr(cast, 'to')?.i)}, not float; ${form}`);
  const mmi = producer.get(cast.input[0]);
  if (mmi?.opType !== 'MatMulInteger') throw new ImportError(`the Cast before the classifier's scaling reads ${describe(mmi, cast.input[0])}; ${form}`);
  const [xq, wqName, xzp, wzpName] = mmi.input;
  const dql = producer.get(xq);
  if (dql?.opType !== 'DynamicQuantizeLinear' || dql.output[0] !== xq) {
    throw new ImportError(`the classifier's MatMulInteger reads its features from ${describe(dql, xq)}; ${form}`);
  }
  if (xzp !== dql.output[2]) throw new ImportError(`the classifier's MatMulInteger does not use the features' zero point '${dql.output[2]}' (it has '${xzp ?? ''}'); ${form}`);
  const scaleName = scales.input.find((i) => i !== dql.output[1]);
  if (scales.input.length !== 2 || !scales.input.includes(dql.output[1]) || !scaleName) {
    throw new ImportError(`the classifier's scales are Mul(${scales.input.join(', ')}), not the features' scale '${dql.output[1]}' times the weight scale; ${form}`);
  }
  const wq = constant(wqName);
  if (!wq) throw new ImportError(`the classifier's MatMulInteger multiplies by '${wqName}', which is not a constant; ${form}`);
  const type = quantTypeOf(wq.dataType);
  if (!type) throw new ImportError(`the classifier weight '${wqName}' is ONNX type ${wq.dataType}, expected INT8 (3) or UINT8 (2)`);
  const d = dims(wq);
  if (d.length !== 2) throw new ImportError(`the classifier weight '${wqName}' has dims [${d}], expected a matrix`);
  if (d[1] !== numLabels) throw new ImportError(`the classifier '${wqName}' [${d}] has ${d[1]} outputs but config.json's id2label has ${numLabels} labels`);
  const count = (t: TensorProto) => dims(t).reduce((a, x) => a * x, 1);
  const scale = constant(scaleName);
  if (!scale || scale.dataType !== 1 || ![1, numLabels].includes(count(scale))) {
    throw new ImportError(`the classifier's weight scale '${scaleName}' must be a float constant with 1 (per tensor) or ${numLabels} (per channel) values`);
  }
  let zeroPoint: string | null = null;
  if (wzpName) {
    const zp = constant(wzpName);
    if (!zp || zp.dataType !== wq.dataType || ![1, numLabels].includes(count(zp))) {
      throw new ImportError(`the classifier's weight zero point '${wzpName}' must be a ${type} constant with 1 (per tensor) or ${numLabels} (per channel) values`);
    }
    zeroPoint = wzpName;
  }
  return { features: dql.input[0], weight: wqName, scale: scaleName, zeroPoint, hidden: d[0] };
}
