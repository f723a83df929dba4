/**
 * Finds the final classification layer of a sequence-classification graph: the node that produces the
 * logits output (after optional Identity/Dropout no-ops) must be a Gemm, or an Add of a MatMul and a
 * bias, with constant weights. Its input is the feature vector modtune exposes; its weights become the
 * base head. Pure: works on the decoded graph, says what it found when it refuses.
 */
import { toNumber, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from '../../inference/onnx/model.js';

export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

export interface ClassifierMatch {
  op: 'Gemm' | 'MatMul+Add';
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
    "expected the classification layer: a Gemm, or a MatMul followed by an Add of a bias, with constant weights (optionally followed by Identity/Dropout)";
  if (!node) throw new ImportError(`the logits come from ${describe(node, tensor)}; ${expected}`);

  const dims = (t: TensorProto) => (t.dims ?? []).map(toNumber);
  const check = (w: TensorProto, layout: 'out_in' | 'in_out'): { labels: number; hidden: number } => {
    const d = dims(w);
    if (d.length !== 2) throw new ImportError(`the classifier weight '${w.name}' has dims [${d}], expected a matrix`);
    if (w.dataType !== 1) throw new ImportError(`the classifier weight '${w.name}' is ONNX type ${w.dataType}, expected float32 (a quantized classifier cannot be tuned)`);
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
