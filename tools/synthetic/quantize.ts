/**
 * Dynamic int8 quantization of a model's ONNX bytes, as onnxruntime's `quantize_dynamic` does it (the
 * `onnx/model_quantized.onnx` of transformers.js repositories): every MatMul whose second input is a float
 * initializer becomes
 *   DynamicQuantizeLinear(x) → (x_q uint8, x_scale, x_zero_point)   (once per x, shared by its MatMuls)
 *   MatMulInteger(x_q, W_q, x_zero_point, W_zero_point) → int32
 *   Cast(to=float) → Mul(·, Mul(x_scale, W_scale))                    (writes the MatMul's old output)
 * with W_q int8 symmetric per tensor by default (uint8 and per-channel on request) in 7-bit range by default
 * (quantize_dynamic's reduce_range, which onnxruntime recommends for x86 CPUs without VNNI: there its u8·s8
 * kernels add pairs of products in 16 bits, which full-range weights overflow), named as onnxruntime
 * names them (`<x>_quantized`, `<W>_scale`, `<node>_quant`, …). Gemm is left alone, as quantize_dynamic
 * leaves it. Unlike quantize_dynamic it does not quantize Gather (embedding tables stay float).
 */
import { decodeModel, encodeModel, node, tensorToFloat32, toNumber, type NodeProto, type TensorProto } from '../../src/inference/onnx/model.js';
import { quantizeMatrix, quantTensor, type QuantizeOptions } from '../../src/inference/onnx/quantized.js';
import { DataType } from '../../src/inference/onnx/schema.js';

export type { QuantizeOptions } from '../../src/inference/onnx/quantized.js';

export interface QuantizedModel {
  bytes: Uint8Array;
  /** Names of the MatMul nodes that became MatMulInteger, in graph order. */
  quantized: string[];
}

export function quantizeDynamic(modelBytes: Uint8Array, options: QuantizeOptions = {}): QuantizedModel {
  const opts: QuantizeOptions = { reduceRange: true, ...options };
  const model = decodeModel(modelBytes);
  const g = model.graph;
  const floats = new Map(g.initializer.filter((t) => t.dataType === DataType.FLOAT && (t.dims ?? []).length === 2).map((t) => [t.name!, t]));
  const newInitializers: TensorProto[] = [];
  const weightDone = new Map<string, { q: string; scale: string; zeroPoint: string }>();
  const activationDone = new Map<string, { q: string; scale: string; zeroPoint: string }>();
  const nodes: NodeProto[] = [];
  const quantized: string[] = [];

  for (const n of g.node) {
    const weight = n.opType === 'MatMul' ? floats.get(n.input[1]) : undefined;
    if (!weight) {
      nodes.push(n);
      continue;
    }
    const x = n.input[0];
    let a = activationDone.get(x);
    if (!a) {
      a = { q: `${x}_quantized`, scale: `${x}_scale`, zeroPoint: `${x}_zero_point` };
      nodes.push(node('DynamicQuantizeLinear', [x], [a.q, a.scale, a.zeroPoint], {}, `${x}_QuantizeLinear`));
      activationDone.set(x, a);
    }
    let w = weightDone.get(weight.name!);
    if (!w) {
      const { dims, data } = tensorToFloat32(weight);
      const m = quantizeMatrix(data, [dims[0], dims[1]], 1, opts);
      const name = weight.name!;
      w = { q: `${name}_quantized`, scale: `${name}_scale`, zeroPoint: `${name}_zero_point` };
      const paramDims = opts.perChannel ? [dims[1]] : [];
      newInitializers.push(
        quantTensor(w.q, dims, m.type, m.q),
        { name: w.scale, dims: paramDims, dataType: DataType.FLOAT, rawData: new Uint8Array(m.scale.buffer) },
        quantTensor(w.zeroPoint, paramDims, m.type, m.zeroPoint),
      );
      weightDone.set(name, w);
    }
    const out = n.output[0];
    const mmName = `${n.name}_quant`;
    const intOut = `${out}_output_quantized`;
    const castOut = `${intOut}_cast_output`;
    const scales = `${mmName}_scales_mul:0`;
    nodes.push(
      node('MatMulInteger', [a.q, w.q, a.zeroPoint, w.zeroPoint], [intOut], {}, mmName),
      node('Cast', [intOut], [castOut], { to: DataType.FLOAT }, `${intOut}_cast`),
      node('Mul', [a.scale, w.scale], [scales], {}, `${mmName}_scales_mul`),
      node('Mul', [castOut, scales], [out], {}, `${mmName}_output_scale_mul`),
    );
    quantized.push(n.name ?? out);
  }

  // Float weights that only quantized MatMuls read are dropped, as quantize_dynamic drops them.
  const read = new Set(nodes.flatMap((n) => n.input));
  g.initializer = [...g.initializer.filter((t) => !weightDone.has(t.name!) || read.has(t.name!)), ...newInitializers];
  g.node = nodes;
  if (!model.opsetImport.some((o) => o.domain === 'com.microsoft')) model.opsetImport.push({ domain: 'com.microsoft', version: 1 });
  if (model.opsetImport.some((o) => (o.domain ?? '') === '' && toNumber(o.version) < 11)) throw new Error('DynamicQuantizeLinear needs opset 11 or later');
  return { bytes: encodeModel(model), quantized };
}
