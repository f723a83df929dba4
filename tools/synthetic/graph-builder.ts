/**
 * Builds ONNX graphs named the way torch.onnx (PyTorch ≥ 1.13) names them: a node is `<module scope>/<Op>`
 * (`/bert/encoder/layer.0/attention/self/query/MatMul`, then `…/MatMul_1` for the next one in the same
 * scope), its output is `<node name>_output_0`, small constants are `Constant` nodes, parameters keep their
 * state-dict names and weights that the exporter transposed for a MatMul become `onnx::MatMul_<n>`.
 */
import { floatTensor, int64Tensor, node, type NodeProto, type TensorProto } from '../../src/inference/onnx/model.js';
import { AttributeType, DataType } from '../../src/inference/onnx/schema.js';

type AttrValue = Parameters<typeof node>[3] extends Record<string, infer V> | undefined ? V : never;

export class TorchStyleGraph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly nodeCount = new Map<string, number>();
  private readonly initializerNames = new Set<string>();
  /** torch numbers exporter-made values from the graph's value counter; any increasing sequence looks alike. */
  private valueNumber: number;

  constructor(firstValueNumber = 1000) {
    this.valueNumber = firstValueNumber;
  }

  private nodeName(scope: string, opType: string): string {
    const base = `${scope}/${opType}`;
    const n = this.nodeCount.get(base) ?? 0;
    this.nodeCount.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }

  /** Adds a node; returns its first output. `output` names the output instead (graph outputs such as logits). */
  op(scope: string, opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const name = this.nodeName(scope, opType);
    const out = output ?? `${name}_output_0`;
    this.nodes.push(node(opType, inputs, [out], attrs, name));
    return out;
  }

  private constantNode(scope: string, tensor: TensorProto): string {
    const name = this.nodeName(scope, 'Constant');
    const out = `${name}_output_0`;
    this.nodes.push({
      opType: 'Constant',
      name,
      input: [],
      output: [out],
      attribute: [{ name: 'value', type: AttributeType.TENSOR, t: { ...tensor, name: undefined } }],
    });
    return out;
  }

  /** An int64 Constant; `dims` [] makes a scalar. */
  int64(scope: string, values: number[], dims: number[] = [values.length]): string {
    return this.constantNode(scope, int64Tensor('', dims, values));
  }

  int32(scope: string, value: number): string {
    const arr = Int32Array.of(value);
    return this.constantNode(scope, { dims: [], dataType: DataType.INT32, rawData: new Uint8Array(arr.buffer) });
  }

  /** A float32 scalar Constant. */
  float(scope: string, value: number): string {
    return this.constantNode(scope, floatTensor('', [], [value]));
  }

  bool(scope: string, value: boolean): string {
    return this.constantNode(scope, { dims: [], dataType: DataType.BOOL, rawData: Uint8Array.of(value ? 1 : 0) });
  }

  initializer(tensor: TensorProto): string {
    const name = tensor.name!;
    if (this.initializerNames.has(name)) throw new Error(`initializer '${name}' added twice`);
    this.initializerNames.add(name);
    this.initializers.push(tensor);
    return name;
  }

  /** The name torch gives a weight it transposed and folded for a MatMul. */
  matmulWeightName(): string {
    return `onnx::MatMul_${this.valueNumber++}`;
  }
}
