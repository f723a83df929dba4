/**
 * Typed helpers over the ONNX protobuf schema: decode/encode whole models, read initializers as typed
 * arrays, and build nodes, tensors and value infos for graphs that modtune writes itself.
 */
import { AttributeType, DataType, ModelProtoType, NodeProtoType, TensorProtoType, ValueInfoProtoType } from './schema.js';

type Int64 = number | { toNumber(): number };

export interface TensorProto {
  name?: string;
  dims?: Int64[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: Int64[];
  doubleData?: number[];
  externalData?: { key: string; value: string }[];
  dataLocation?: number;
}

export interface AttributeProto {
  name: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: Int64[];
}

export interface NodeProto {
  name?: string;
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: AttributeProto[];
}

export interface ValueInfoProto {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: Int64; dimParam?: string }[] } } };
}

export interface GraphProto {
  name?: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
}

export interface ModelProto {
  irVersion?: Int64;
  producerName?: string;
  producerVersion?: string;
  opsetImport: { domain?: string; version: Int64 }[];
  graph: GraphProto;
  metadataProps?: { key: string; value: string }[];
}

export function toNumber(v: Int64 | undefined): number {
  if (v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  const model = ModelProtoType.decode(bytes) as unknown as ModelProto;
  if (!model.graph) throw new Error('not an ONNX model: no graph in the protobuf');
  const g = model.graph;
  g.node ??= [];
  g.initializer ??= [];
  g.input ??= [];
  g.output ??= [];
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  const err = ModelProtoType.verify(model);
  if (err) throw new Error(`invalid ONNX model: ${err}`);
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}

/** Reads a FLOAT initializer as a Float32Array (copying, so the result is aligned and owned). */
export function tensorToFloat32(t: TensorProto): { dims: number[]; data: Float32Array } {
  const dims = (t.dims ?? []).map(toNumber);
  const size = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0) {
    throw new Error(`tensor '${t.name}' stores its data in an external file, which modtune does not read`);
  }
  if (t.dataType !== DataType.FLOAT) {
    throw new Error(`tensor '${t.name}' has ONNX data type ${t.dataType}, expected FLOAT (1)`);
  }
  let data: Float32Array;
  if (t.rawData && t.rawData.byteLength > 0) {
    const copy = new Uint8Array(t.rawData.byteLength);
    copy.set(t.rawData);
    data = new Float32Array(copy.buffer);
  } else {
    data = Float32Array.from(t.floatData ?? []);
  }
  if (data.length !== size) {
    throw new Error(`tensor '${t.name}' holds ${data.length} values but its dims [${dims}] need ${size}`);
  }
  return { dims, data };
}

export function floatTensor(name: string, dims: number[], data: Float32Array | number[]): TensorProto {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return {
    name,
    dims,
    dataType: DataType.FLOAT,
    rawData: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength),
  };
}

export function int64Tensor(name: string, dims: number[], data: number[]): TensorProto {
  const arr = BigInt64Array.from(data.map((v) => BigInt(v)));
  return { name, dims, dataType: DataType.INT64, rawData: new Uint8Array(arr.buffer) };
}

type AttrValue = number | string | number[] | { float: number } | { ints: number[] } | { floats: number[] };

function attribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'string') {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  return { name, type: AttributeType.INTS, ints: value.ints };
}

export function node(
  opType: string,
  input: string[],
  output: string[],
  attrs: Record<string, AttrValue> = {},
  name?: string,
): NodeProto {
  return {
    opType,
    input,
    output,
    name: name ?? `${opType}_${output[0]}`,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  };
}

export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function encodeValueInfo(v: ValueInfoProto): Uint8Array {
  return ValueInfoProtoType.encode(ValueInfoProtoType.fromObject(v)).finish();
}

/** Decodes one encoded TensorProto (as readInitializers in wire.ts returns them). */
export function decodeTensor(bytes: Uint8Array): TensorProto {
  return TensorProtoType.decode(bytes) as unknown as TensorProto;
}

export function encodeTensor(t: TensorProto): Uint8Array {
  return TensorProtoType.encode(TensorProtoType.fromObject(t)).finish();
}

export function encodeNode(n: NodeProto): Uint8Array {
  return NodeProtoType.encode(NodeProtoType.fromObject(n)).finish();
}
