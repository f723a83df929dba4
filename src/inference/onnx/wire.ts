/**
 * Lossless edits of ONNX files at the protobuf wire level. Decoding a model into objects and encoding
 * it again drops every field the schema subset does not know; these helpers instead copy all bytes as
 * they are and only append or replace the fields an edit is about.
 */
import protobuf from 'protobufjs';

export interface WireField {
  field: number;
  wireType: number;
  /** Byte range of the whole field (tag, length prefix, value). */
  start: number;
  end: number;
  /** For length-delimited fields: the value's range. */
  valueStart: number;
  valueEnd: number;
}

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const TENSOR_NAME = 8;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const VALUE_INFO_NAME = 1;

export function fields(bytes: Uint8Array): WireField[] {
  const r = protobuf.Reader.create(bytes);
  const out: WireField[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (wireType === 2) {
      const len = r.uint32();
      const valueStart = r.pos;
      r.skip(len);
      out.push({ field, wireType, start, end: r.pos, valueStart, valueEnd: r.pos });
    } else {
      r.skipType(wireType);
      out.push({ field, wireType, start, end: r.pos, valueStart: r.pos, valueEnd: r.pos });
    }
  }
  return out;
}

function lengthDelimited(field: number, value: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((field << 3) | 2).bytes(value);
  return w.finish();
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Rewrites the graph (field 7) of a ModelProto with `edit`, keeping every other byte. */
function editGraph(model: Uint8Array, edit: (graph: Uint8Array) => Uint8Array): Uint8Array {
  const fs = fields(model);
  const g = fs.filter((f) => f.field === MODEL_GRAPH && f.wireType === 2);
  if (g.length !== 1) throw new Error(`expected one graph in the model, found ${g.length}`);
  const graph = g[0];
  return concat([model.subarray(0, graph.start), lengthDelimited(MODEL_GRAPH, edit(model.subarray(graph.valueStart, graph.valueEnd))), model.subarray(graph.end)]);
}

/** Appends encoded ValueInfoProto messages as graph outputs. */
export function appendGraphOutputs(model: Uint8Array, valueInfos: Uint8Array[]): Uint8Array {
  return editGraph(model, (graph) => concat([graph, ...valueInfos.map((v) => lengthDelimited(GRAPH_OUTPUT, v))]));
}

function tensorName(tensor: Uint8Array): string | undefined {
  const f = fields(tensor).find((x) => x.field === TENSOR_NAME && x.wireType === 2);
  return f ? new TextDecoder().decode(tensor.subarray(f.valueStart, f.valueEnd)) : undefined;
}

/** Replaces the named initializers with new encoded TensorProtos; every name must be found once. */
export function replaceInitializers(model: Uint8Array, replacements: Map<string, Uint8Array>): Uint8Array {
  const found = new Set<string>();
  const out = editGraph(model, (graph) => {
    const parts: Uint8Array[] = [];
    for (const f of fields(graph)) {
      if (f.field === GRAPH_INITIALIZER && f.wireType === 2) {
        const name = tensorName(graph.subarray(f.valueStart, f.valueEnd));
        const replacement = name !== undefined ? replacements.get(name) : undefined;
        if (replacement) {
          if (found.has(name!)) throw new Error(`initializer '${name}' appears twice`);
          found.add(name!);
          parts.push(lengthDelimited(GRAPH_INITIALIZER, replacement));
          continue;
        }
      }
      parts.push(graph.subarray(f.start, f.end));
    }
    return concat(parts);
  });
  const missing = [...replacements.keys()].filter((n) => !found.has(n));
  if (missing.length) throw new Error(`initializers not found in the graph: ${missing.join(', ')}`);
  return out;
}

/**
 * The encoded TensorProtos of the named initializers, found by reading only each initializer's name:
 * nothing else in the model is decoded or copied (a model load needs two tensors of a file that can
 * hold hundreds of megabytes of weights). Names not found are absent from the result.
 */
export function readInitializers(model: Uint8Array, names: ReadonlySet<string>): Map<string, Uint8Array> {
  const g = fields(model).filter((f) => f.field === MODEL_GRAPH && f.wireType === 2);
  if (g.length !== 1) throw new Error(`expected one graph in the model, found ${g.length}`);
  const graph = model.subarray(g[0].valueStart, g[0].valueEnd);
  const out = new Map<string, Uint8Array>();
  for (const f of fields(graph)) {
    if (f.field !== GRAPH_INITIALIZER || f.wireType !== 2) continue;
    const tensor = graph.subarray(f.valueStart, f.valueEnd);
    const name = tensorName(tensor);
    if (name !== undefined && names.has(name)) {
      if (out.has(name)) throw new Error(`initializer '${name}' appears twice`);
      out.set(name, tensor);
    }
  }
  return out;
}

const text = (b: Uint8Array, f: WireField) => new TextDecoder().decode(b.subarray(f.valueStart, f.valueEnd));

/** Names in a graph: its inputs, and every node's inputs and outputs (in node order). */
export function graphNames(model: Uint8Array): { inputs: string[]; nodes: { inputs: string[]; outputs: string[] }[]; initializers: string[] } {
  const g = fields(model).find((f) => f.field === MODEL_GRAPH && f.wireType === 2);
  if (!g) throw new Error('expected a graph in the model');
  const graph = model.subarray(g.valueStart, g.valueEnd);
  const out = { inputs: [] as string[], nodes: [] as { inputs: string[]; outputs: string[] }[], initializers: [] as string[] };
  for (const f of fields(graph)) {
    if (f.wireType !== 2) continue;
    const value = graph.subarray(f.valueStart, f.valueEnd);
    if (f.field === GRAPH_INPUT) {
      const n = fields(value).find((x) => x.field === VALUE_INFO_NAME && x.wireType === 2);
      if (n) out.inputs.push(text(value, n));
    } else if (f.field === GRAPH_NODE) {
      const nf = fields(value);
      out.nodes.push({
        inputs: nf.filter((x) => x.field === NODE_INPUT && x.wireType === 2).map((x) => text(value, x)),
        outputs: nf.filter((x) => x.field === NODE_OUTPUT && x.wireType === 2).map((x) => text(value, x)),
      });
    } else if (f.field === GRAPH_INITIALIZER) {
      const name = tensorName(value);
      if (name !== undefined) out.initializers.push(name);
    }
  }
  return out;
}

/**
 * Renames the output `from` of the one node that produces it to `to` (a wire-level edit of that node's
 * output field; every other byte is kept), then appends nodes and initializers to the graph. Used to
 * insert computation between a node and the graph output it produced: the appended nodes read `to` and
 * write `from`.
 */
export function insertAfterOutput(model: Uint8Array, from: string, to: string, add: { nodes: Uint8Array[]; initializers: Uint8Array[] }): Uint8Array {
  let renamed = 0;
  return editGraph(model, (graph) => {
    const parts: Uint8Array[] = [];
    for (const f of fields(graph)) {
      if (f.field === GRAPH_NODE && f.wireType === 2) {
        const node = graph.subarray(f.valueStart, f.valueEnd);
        const nf = fields(node);
        if (nf.some((x) => x.field === NODE_OUTPUT && x.wireType === 2 && text(node, x) === from)) {
          renamed++;
          const edited = concat(
            nf.map((x) =>
              x.field === NODE_OUTPUT && x.wireType === 2 && text(node, x) === from
                ? lengthDelimited(NODE_OUTPUT, new TextEncoder().encode(to))
                : node.subarray(x.start, x.end),
            ),
          );
          parts.push(lengthDelimited(GRAPH_NODE, edited));
          continue;
        }
      }
      parts.push(graph.subarray(f.start, f.end));
    }
    if (renamed !== 1) throw new Error(`expected one node producing '${from}', found ${renamed}`);
    return concat([...parts, ...add.initializers.map((t) => lengthDelimited(GRAPH_INITIALIZER, t)), ...add.nodes.map((n) => lengthDelimited(GRAPH_NODE, n))]);
  });
}
