/**
 * Synthetic Hugging Face sequence classifiers in the optimum layout (model.onnx, tokenizer.json,
 * config.json, tokenizer_config.json, special_tokens_map.json), shaped like real BERT, DistilBERT, RoBERTa,
 * XLM-R and DeBERTa-v2 exports, with seeded random weights: test and benchmark material for model import.
 * With `quantize`, the transformers.js layout instead: onnx/model.onnx and its dynamically quantized
 * onnx/model_quantized.onnx (see quantize.ts). The same spec always gives byte-identical files.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { modelConfig, sortedJson, specialTokensMap, tokenizerConfig } from './configs.js';
import { resolveSpec, type ClassifierOptions, type ClassifierSpec } from './spec.js';
import { quantizeDynamic, type QuantizeOptions } from './quantize.js';
import { buildTokenizer } from './tokenizers.js';
import { buildClassifierGraph, type HeadInfo } from './transformer.js';

export * from './spec.js';
export { quantizeDynamic, type QuantizeOptions, type QuantizedModel } from './quantize.js';
export type { HeadInfo } from './transformer.js';

export interface BuildOptions {
  /** Also write onnx/model_quantized.onnx (and the float model as onnx/model.onnx, transformers.js' layout). */
  quantize?: QuantizeOptions | boolean;
}

export interface SyntheticFiles {
  spec: ClassifierSpec;
  /** File name → contents, in the order they are written. */
  files: Map<string, Uint8Array>;
  inputs: string[];
  outputs: string[];
  head: HeadInfo;
  config: Record<string, unknown>;
  /** Id of each special token in the tokenizer. */
  specialIds: Record<string, number>;
  /** The MatMul nodes onnx/model_quantized.onnx replaced by MatMulInteger (when quantized). */
  quantizedNodes?: string[];
}

export interface WrittenFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface SyntheticModel extends Omit<SyntheticFiles, 'files'> {
  outDir: string;
  files: WrittenFile[];
}

/** Builds every file in memory. */
export async function buildTransformerClassifierFiles(options: ClassifierOptions, build: BuildOptions = {}): Promise<SyntheticFiles> {
  const spec = resolveSpec(options);
  const tokenizer = await buildTokenizer(spec.arch, spec.vocabSize);
  if (tokenizer.vocabSize !== spec.vocabSize) {
    throw new Error(`tokenizer has ${tokenizer.vocabSize} tokens but the model was asked for ${spec.vocabSize}`);
  }
  const graph = buildClassifierGraph(spec);
  const config = modelConfig(spec);
  const text = (s: string) => new TextEncoder().encode(s);
  const quantized = build.quantize ? quantizeDynamic(graph.bytes, build.quantize === true ? {} : build.quantize) : null;
  const onnx: [string, Uint8Array][] = quantized
    ? [['onnx/model.onnx', graph.bytes], ['onnx/model_quantized.onnx', quantized.bytes]]
    : [['model.onnx', graph.bytes]];
  const files = new Map<string, Uint8Array>([
    ...onnx,
    ['config.json', text(sortedJson(config))],
    ['tokenizer.json', text(`${JSON.stringify(tokenizer.json, null, 2)}\n`)],
    ['tokenizer_config.json', text(sortedJson(tokenizerConfig(spec, tokenizer)))],
    ['special_tokens_map.json', text(sortedJson(specialTokensMap(tokenizer)))],
  ]);
  return {
    spec,
    files,
    inputs: graph.inputs,
    outputs: graph.outputs,
    head: graph.head,
    config,
    specialIds: { ...tokenizer.ids },
    ...(quantized ? { quantizedNodes: quantized.quantized } : {}),
  };
}

export class OutputExistsError extends Error {
  constructor(dir: string) {
    super(`${dir} already exists and is not empty`);
    this.name = 'OutputExistsError';
  }
}

/**
 * Builds the model and writes it to `outDir` atomically: the files go into a sibling temp directory that is
 * renamed into place, so readers never see a half-written model. An existing non-empty `outDir` is an error
 * unless `overwrite`, which swaps it out and deletes it.
 */
export async function buildTransformerClassifier(
  options: ClassifierOptions,
  outDirIn: string,
  { overwrite = false, ...build }: { overwrite?: boolean } & BuildOptions = {},
): Promise<SyntheticModel> {
  const outDir = resolve(outDirIn);
  const built = await buildTransformerClassifierFiles(options, build);
  const existing = await readdir(outDir).catch(() => null);
  if (existing && existing.length > 0 && !overwrite) throw new OutputExistsError(outDir);
  const parent = dirname(outDir);
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const work = join(parent, `.${basename(outDir)}.tmp-${suffix}`);
  const written: WrittenFile[] = [];
  try {
    await mkdir(work);
    for (const [name, bytes] of built.files) {
      await mkdir(dirname(join(work, name)), { recursive: true });
      await writeFile(join(work, name), bytes);
      written.push({ name, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    if (existing) {
      const old = join(parent, `.${basename(outDir)}.old-${suffix}`);
      await rename(outDir, old);
      await rename(work, outDir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(work, outDir);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const { files: _files, ...rest } = built;
  return { ...rest, outDir, files: written };
}
