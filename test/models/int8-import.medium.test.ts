/**
 * Int8 models as transformers.js repositories ship them (onnx/model_quantized.onnx, made by onnxruntime's
 * quantize_dynamic; here by tools/synthetic/quantize.ts from a tiny synthetic BERT): the quantized file runs
 * in onnxruntime close to the float model; its MatMulInteger classifier imports as a float head equal to
 * (W_q − zero_point)·scale, whose scores stay within the int8 bound of the graph's logits (a wrong scale does
 * not); a float Gemm classifier in a quantized graph imports as before; and an export of a tuned head stays
 * a quantized model whose logits match the tuned head within the int8 bounds.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { applyHead, type Head } from '../../src/inference/head.js';
import { loadModelDir, type ModelDir } from '../../src/inference/model-dir.js';
import { decodeModel, encodeModel, floatTensor, tensorToFloat32, toNumber, type ModelProto } from '../../src/inference/onnx/model.js';
import { activationQuantizationBound, tensorToInts } from '../../src/inference/onnx/quantized.js';
import { HEAD_TOLERANCE, INT8_BOUND_SLACK, ModelRuntime } from '../../src/inference/runtime.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { exportHead } from '../../src/models/export/exporter.js';
import { importModel, type ImportReport } from '../../src/models/import/importer.js';
import { mulberry32 } from '../../src/random.js';
import { buildTransformerClassifier, type ClassifierForm, type QuantizeOptions } from '../../tools/synthetic/index.js';
import { quietLogger } from '../helpers/db.js';

ort.env.logLevel = 'fatal';

const TEXTS = ['I will find you and kill you', 'have a nice day', 'you are a stupid idiot, a stupid stupid idiot', '', 'see you tomorrow at the lake'];
const QUANTIZED = path.join('onnx', 'model_quantized.onnx');
const RUNTIME = { providers: ['cpu' as const], workers: 1, threadsPerWorker: 1, maxSequenceLength: 64, batchMaxSize: 8, batchMaxWaitMs: 0, batchCalibrate: false };

let work: string;
before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-int8-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

interface Built {
  src: string;
  /** What the float classifier is called in onnx/model.onnx. */
  head: { weight: string; featuresTensor: string };
  imported: ImportReport;
  model: ModelDir;
}

let n = 0;
/** A tiny synthetic BERT in transformers.js' layout, quantized, and imported from its quantized file. */
async function buildAndImport(classifier: ClassifierForm, quantize: QuantizeOptions = {}): Promise<Built> {
  const src = path.join(work, `src-${n++}`);
  const built = await buildTransformerClassifier({ arch: 'bert', classifier, seed: 11 }, src, { quantize });
  const imported = await importModel({ sourceDir: src, outDir: path.join(work, `out-${n++}`), onnxFile: QUANTIZED, logger: quietLogger() });
  return { src, head: built.head, imported, model: imported.model };
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** A session with the inference workers' options: the same kernels give the same features. */
function session(file: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

/** One batch of `texts` through a session: its logits and (when the graph has that output) features. */
async function runBatch(s: ort.InferenceSession, model: Pick<ModelDir, 'tokenizerJson' | 'featuresOutput' | 'logitsOutput'>, texts: string[]): Promise<{ logits: Float32Array; features: Float32Array | null }> {
  const enc = new SequenceEncoder(model.tokenizerJson, 64);
  const b = SequenceEncoder.pad(texts.map((t) => enc.encode(t)), enc.padId);
  const dims = [b.size, b.seqLen];
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of s.inputNames) {
    feeds[name] = new ort.Tensor('int64', name === 'input_ids' ? b.inputIds : name === 'attention_mask' ? b.attentionMask : b.tokenTypeIds, dims);
  }
  const out = await s.run(feeds);
  const features = s.outputNames.includes(model.featuresOutput) ? Float32Array.from(out[model.featuresOutput].data as Float32Array) : null;
  return { logits: Float32Array.from(out[model.logitsOutput].data as Float32Array), features };
}

function initializer(m: ModelProto, name: string) {
  const t = m.graph.initializer.find((i) => i.name === name);
  assert.ok(t, `no initializer '${name}'`);
  return t;
}

/** The stated tolerance of a quantized classifier on a batch: INT8_BOUND_SLACK·(s/2)·max_j Σ_i|W_ji| + HEAD_TOLERANCE. */
const int8Tolerance = (features: Float32Array, head: Head) =>
  INT8_BOUND_SLACK * activationQuantizationBound(features, head.weight, head.numLabels, head.dim).bound + HEAD_TOLERANCE;

describe('the synthetic dynamic quantizer', () => {
  test('replaces every MatMul by a float initializer with MatMulInteger, and leaves Gemm and the other MatMuls', async () => {
    const src = path.join(work, 'layout');
    await buildTransformerClassifier({ arch: 'bert', classifier: 'gemm' }, src, { quantize: true });
    const float = decodeModel(await fs.readFile(path.join(src, 'onnx', 'model.onnx'))).graph;
    const quant = decodeModel(await fs.readFile(path.join(src, QUANTIZED))).graph;
    const floatInits = new Set(float.initializer.map((t) => t.name));
    const count = (g: typeof float, op: string, pred = (_: (typeof float.node)[number]) => true) => g.node.filter((x) => x.opType === op && pred(x)).length;
    const weighted = count(float, 'MatMul', (x) => floatInits.has(x.input[1]));
    assert.deepEqual(
      { matMulInteger: count(quant, 'MatMulInteger'), matMul: count(quant, 'MatMul'), gemm: count(quant, 'Gemm') },
      { matMulInteger: weighted, matMul: count(float, 'MatMul') - weighted, gemm: count(float, 'Gemm') },
    );
  });

  for (const [name, q] of [['int8 per tensor', {}], ['int8 per channel', { perChannel: true }], ['uint8', { type: 'uint8' }]] as const) {
    test(`${name}: onnxruntime runs the quantized file, its logits within 5 % of the float model's range (measured: 0.8–1.5 %)`, async () => {
      const src = path.join(work, `ort-${n++}`);
      await buildTransformerClassifier({ arch: 'bert', classifier: 'matmul' }, src, { quantize: q });
      const model = { tokenizerJson: JSON.parse(await fs.readFile(path.join(src, 'tokenizer.json'), 'utf8')), featuresOutput: 'none', logitsOutput: 'logits' };
      const f = await session(path.join(src, 'onnx', 'model.onnx'));
      const i8 = await session(path.join(src, QUANTIZED));
      const a = (await runBatch(f, model, TEXTS)).logits;
      const b = (await runBatch(i8, model, TEXTS)).logits;
      await f.release();
      await i8.release();
      const range = Math.max(...a) - Math.min(...a);
      assert.ok(maxAbs(a, b) <= 0.05 * range, `int8 vs float logits: ${maxAbs(a, b)} (range ${range})`);
    });
  }
});

describe('import of an int8 BERT whose classifier is a quantized MatMul', () => {
  let int8: Built;
  let uint8: Built;
  before(async () => {
    int8 = await buildAndImport('matmul');
    uint8 = await buildAndImport('matmul', { type: 'uint8', perChannel: true });
  });

  test('finds the MatMulInteger classifier on the pooled features, with its weight scale and zero point', () => {
    const c = int8.imported.classifier;
    assert.deepEqual(
      { op: c.op, features: c.featuresTensor, weight: c.weight, quantized: c.quantized, layout: c.layout },
      {
        op: 'MatMulInteger',
        features: int8.head.featuresTensor,
        weight: `${int8.head.weight}_quantized`,
        quantized: { scale: `${int8.head.weight}_scale`, zeroPoint: `${int8.head.weight}_zero_point` },
        layout: 'in_out',
      },
    );
  });

  for (const which of ['int8 per tensor', 'uint8 per channel'] as const) {
    test(`${which}: the base head is (W_q − zero_point)·scale exactly, in [labels, hidden]`, async () => {
      const b = which === 'int8 per tensor' ? int8 : uint8;
      const g = decodeModel(await fs.readFile(b.model.onnxPath));
      const c = b.imported.classifier;
      const q = tensorToInts(initializer(g, c.weight));
      const scale = tensorToFloat32(initializer(g, c.quantized!.scale)).data;
      const zp = tensorToInts(initializer(g, c.quantized!.zeroPoint!)).data;
      const [hidden, labels] = q.dims;
      const expected = new Float32Array(labels * hidden);
      for (let i = 0; i < hidden; i++) {
        for (let j = 0; j < labels; j++) {
          const k = scale.length === 1 ? 0 : j;
          expected[j * hidden + i] = Math.fround((q.data[i * labels + j] - zp[zp.length === 1 ? 0 : j]) * scale[k]);
        }
      }
      assert.deepEqual([...b.model.baseHead.weight], [...expected]);
    });
  }

  test('the uint8 per-channel case is not a trivial one: one scale and a non-zero zero point per label', async () => {
    const g = decodeModel(await fs.readFile(uint8.model.onnxPath));
    const zp = tensorToInts(initializer(g, uint8.imported.classifier.quantized!.zeroPoint!));
    assert.ok(zp.type === 'uint8' && zp.data.length === 6 && zp.data.every((z) => z > 0), `zero points ${[...zp.data]} (${zp.type})`);
  });

  test("the load-time check applied the int8 bound, and the graph's logits were within it", async () => {
    const runtime = await ModelRuntime.start(int8.model, RUNTIME, quietLogger());
    const { diff, tolerance } = { diff: runtime.verifiedMaxAbsDiff, tolerance: runtime.verifiedTolerance };
    await runtime.stop();
    assert.ok(tolerance > HEAD_TOLERANCE && diff <= tolerance, `verified ${diff} against tolerance ${tolerance}`);
  });

  test("the runtime's scores are within the int8 bound of onnxruntime's logits on the quantized file, text by text", async () => {
    const runtime = await ModelRuntime.start(int8.model, RUNTIME, quietLogger());
    const s = await session(int8.model.onnxPath);
    const misses: string[] = [];
    for (const text of TEXTS) {
      // One text per batch on both sides: an int8 backbone's features depend on the batch (see README).
      const e = await runtime.embed([{ text }]);
      const scores = applyHead(int8.model.baseHead, e.features, 1);
      const graph = await runBatch(s, int8.model, [text]);
      const tolerance = int8Tolerance(graph.features!, int8.model.baseHead);
      if (!(maxAbs(scores, graph.logits) <= tolerance)) misses.push(`'${text}': ${maxAbs(scores, graph.logits)} > ${tolerance}`);
    }
    await s.release();
    await runtime.stop();
    assert.deepEqual(misses, []);
  });

  test('a wrong weight scale (one 25 % too large) is refused by verification, which names the int8 tolerance', async () => {
    const dir = path.join(work, `wrong-scale-${n++}`);
    await fs.cp(int8.model.dir, dir, { recursive: true });
    const onnxFile = path.join(dir, 'model.onnx');
    const m = decodeModel(await fs.readFile(onnxFile));
    const scaleName = int8.imported.classifier.quantized!.scale;
    const right = tensorToFloat32(initializer(m, scaleName));
    m.graph.initializer.push(floatTensor('wrong_scale', right.dims, right.data.map((x) => x * 1.25)));
    await fs.writeFile(onnxFile, encodeModel(m));
    const config = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8'));
    config.modtune.head.quantized.scale = 'wrong_scale';
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
    await assert.rejects(ModelRuntime.start(await loadModelDir(dir), RUNTIME, quietLogger()), /head verification failed: .*tolerance [\d.e+-]+, the int8 classifier's bound/);
  });
});

describe('import of an int8 BERT whose classifier is still a float Gemm', () => {
  test('imports the Gemm as a float head, verified to 1e-4, in the otherwise quantized graph', async () => {
    const b = await buildAndImport('gemm');
    const c = b.imported.classifier;
    const graph = decodeModel(await fs.readFile(b.model.onnxPath)).graph;
    assert.deepEqual(
      { op: c.op, weight: c.weight, quantized: c.quantized, verified: b.imported.verifiedMaxAbsDiff <= HEAD_TOLERANCE, quantizedGraph: graph.node.some((x) => x.opType === 'MatMulInteger') },
      { op: 'Gemm', weight: b.head.weight, quantized: undefined, verified: true, quantizedGraph: true },
    );
  });
});

describe('export of a tuned head on an int8 backbone', () => {
  let b: Built;
  let tuned: Head & { id: string; version: number };
  let out: string;
  let exported: ModelDir;
  before(async () => {
    b = await buildAndImport('matmul', { perChannel: true });
    const base = b.model.baseHead;
    const rng = mulberry32(3);
    tuned = {
      numLabels: base.numLabels,
      dim: base.dim,
      weight: Float32Array.from(base.weight, (w) => w + (rng() - 0.5) * 0.2),
      bias: Float32Array.from(base.bias, (x) => x + (rng() - 0.5)),
      lexical: null,
      id: 'tuned',
      version: 2,
    };
    out = await exportHead(b.model, tuned, path.join(work, 'export', 'tuned'), 'int8-bert');
    exported = await loadModelDir(out);
  });

  test('the exported weights are the tuned ones quantized again: each within half a step (scale/2) of its tuned value', async () => {
    const g = decodeModel(await fs.readFile(exported.onnxPath));
    const scale = tensorToFloat32(initializer(g, b.imported.classifier.quantized!.scale)).data;
    const D = tuned.dim;
    const far = [...exported.baseHead.weight].map((w, k) => ({ k, off: Math.abs(w - tuned.weight[k]), half: scale[Math.floor(k / D)] / 2 })).filter((x) => x.off > x.half * (1 + 1e-6));
    assert.deepEqual(far, []);
  });

  test("onnxruntime runs the export, and its logits are within the int8 bounds of the tuned head's scores", async () => {
    const s = await session(exported.onnxPath);
    const graph = await runBatch(s, exported, TEXTS);
    await s.release();
    const f = graph.features!;
    const C = tuned.numLabels;
    const D = tuned.dim;
    const ours = applyHead(tuned, f, TEXTS.length);
    // The graph's rounding of the features (its own batch's step) plus the rounding of the tuned weights to
    // the exported grid: |Σ_i (W − W')_ji f_i| ≤ (scale_j / 2)·Σ_i |f_i|.
    const scale = tensorToFloat32(initializer(decodeModel(await fs.readFile(exported.onnxPath)), b.imported.classifier.quantized!.scale)).data;
    const misses: string[] = [];
    for (let r = 0; r < TEXTS.length; r++) {
      let l1 = 0;
      for (let i = 0; i < D; i++) l1 += Math.abs(f[r * D + i]);
      for (let j = 0; j < C; j++) {
        const bound = int8Tolerance(f, exported.baseHead) + (scale[j] / 2) * l1 * INT8_BOUND_SLACK;
        const d = Math.abs(ours[r * C + j] - graph.logits[r * C + j]);
        if (!(d <= bound)) misses.push(`text ${r} label ${j}: ${d} > ${bound}`);
      }
    }
    assert.deepEqual(misses, []);
  });

  test("weights quantized in 7-bit range (reduce_range, the synthetic quantizer's default) stay in it after the export", async () => {
    const q = (m: ModelProto) => [...tensorToInts(initializer(m, b.imported.classifier.weight)).data];
    const before = q(decodeModel(await fs.readFile(b.model.onnxPath)));
    const after = q(decodeModel(await fs.readFile(exported.onnxPath)));
    assert.ok(before.every((v) => v >= -64 && v <= 64) && before.some((v) => Math.abs(v) > 32), 'the original uses the 7-bit range, not a narrower one');
    assert.deepEqual(after.filter((v) => v < -64 || v > 64), []);
  });

  test('the export keeps the int8 classifier: W_q, scale and zero point with the types and dims the graph had', async () => {
    const before = decodeModel(await fs.readFile(b.model.onnxPath));
    const after = decodeModel(await fs.readFile(exported.onnxPath));
    const c = b.imported.classifier;
    const shape = (m: ModelProto) =>
      [c.weight, c.quantized!.scale, c.quantized!.zeroPoint!].map((name) => ({ name, type: initializer(m, name).dataType, dims: (initializer(m, name).dims ?? []).map(toNumber) }));
    assert.deepEqual(shape(after), shape(before));
  });

  test('transformers.js loads the int8 export and gives the logits onnxruntime gives on it', async () => {
    const { env, AutoModelForSequenceClassification, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = path.join(work, 'export');
    const tokenizer = await AutoTokenizer.from_pretrained('tuned', { local_files_only: true });
    const model = await AutoModelForSequenceClassification.from_pretrained('tuned', { local_files_only: true, subfolder: '', dtype: 'fp32', device: 'cpu' });
    const s = await session(exported.onnxPath);
    try {
      for (const text of TEXTS) {
        const logits = (await model(await tokenizer(text))).logits.data as Float32Array;
        const graph = (await runBatch(s, exported, [text])).logits;
        // The same file, the same single text: the same quantization step, so the same numbers.
        for (let j = 0; j < graph.length; j++) assert.ok(Math.abs(logits[j] - graph[j]) < 1e-5, `'${text}' label ${j}: transformers.js ${logits[j]} vs onnxruntime ${graph[j]}`);
      }
    } finally {
      await s.release();
      await model.dispose();
    }
  });

  test('modtune loads the export back and verifies it with the int8 bound', async () => {
    const runtime = await ModelRuntime.start(exported, RUNTIME, quietLogger());
    const { diff, tolerance } = { diff: runtime.verifiedMaxAbsDiff, tolerance: runtime.verifiedTolerance };
    await runtime.stop();
    assert.ok(tolerance > HEAD_TOLERANCE && diff <= tolerance, `verified ${diff} against tolerance ${tolerance}`);
  });
});
