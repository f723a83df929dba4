/**
 * `model:export`: a standalone model directory whose classifier initializers hold a tuned head's
 * weights, so other runtimes (onnxruntime, transformers.js, optimum) serve the tuned model as is.
 * Everything else in the ONNX file is copied byte for byte.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { HeadWeights } from '../../inference/head.js';
import type { ModelDir } from '../../inference/model-dir.js';
import { decodeModel, encodeTensor, floatTensor, toNumber } from '../../inference/onnx/model.js';
import { replaceInitializers } from '../../inference/onnx/wire.js';

interface HeadSpec {
  weight: string;
  bias: string | null;
  layout: 'out_in' | 'in_out';
  alpha?: number;
  beta?: number;
}

export interface ExportedHead extends HeadWeights {
  id: string;
  version: number;
}

export async function exportHead(model: ModelDir, head: ExportedHead, outDir: string, backboneName: string): Promise<string> {
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
  const replacements = new Map<string, Uint8Array>([[spec.weight, encodeTensor(floatTensor(spec.weight, dimsOf(spec.weight), w))]]);
  if (spec.bias) {
    replacements.set(spec.bias, encodeTensor(floatTensor(spec.bias, dimsOf(spec.bias), Float32Array.from(head.bias, (b) => b / beta))));
  } else if (head.bias.some((b) => b !== 0)) {
    throw new Error("this head has a bias but the graph's classifier has none; it cannot be exported into this graph");
  }
  const out = replaceInitializers(bytes, replacements);

  const dest = path.resolve(outDir);
  if (await fs.access(dest).then(() => true, () => false)) throw new Error(`${dest} already exists`);
  const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { recursive: true });
  try {
    await fs.writeFile(path.join(tmp, 'model.onnx'), out);
    await fs.writeFile(path.join(tmp, 'tokenizer.json'), JSON.stringify(model.tokenizerJson));
    const config = {
      ...model.config,
      modtune: { ...modtune, export: { head_id: head.id, head_version: head.version, backbone: backboneName, exported_at: new Date().toISOString() } },
    };
    await fs.writeFile(path.join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    await fs.rename(tmp, dest);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return dest;
}
