/**
 * Importing Hugging Face-shaped exports: every architecture and classifier form is recognised, the
 * recovered head reproduces the graph's logits, the imported model.onnx is the source file byte for byte
 * plus one graph output (also for an export carrying fields modtune's ONNX schema subset does not know),
 * and what cannot be handled is refused with a message that says what was found and what was expected.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { loadModelDir } from '../../src/inference/model-dir.js';
import { decodeModel, encodeModel, node, tensorToFloat32, valueInfo } from '../../src/inference/onnx/model.js';
import { DataType } from '../../src/inference/onnx/schema.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { importModel, sameImport, type ImportOptions } from '../../src/models/import/importer.js';
import { buildTransformerClassifierFiles, type Arch, type ClassifierForm, type DropoutForm } from '../../tools/synthetic/index.js';
import { quietLogger } from '../helpers/db.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';

ort.env.logLevel = 'fatal';

const CASES: { arch: Arch; classifier: ClassifierForm; dropout: DropoutForm }[] = [
  { arch: 'bert', classifier: 'gemm', dropout: 'none' },
  { arch: 'bert', classifier: 'matmul', dropout: 'dropout' },
  { arch: 'distilbert', classifier: 'matmul', dropout: 'none' },
  { arch: 'distilbert', classifier: 'gemm-nt', dropout: 'identity' },
  { arch: 'roberta', classifier: 'gemm', dropout: 'identity' },
  { arch: 'roberta', classifier: 'matmul', dropout: 'none' },
  { arch: 'xlm-roberta', classifier: 'gemm-nt', dropout: 'none' },
  { arch: 'xlm-roberta', classifier: 'matmul', dropout: 'dropout' },
  { arch: 'deberta-v2', classifier: 'gemm', dropout: 'dropout' },
  { arch: 'deberta-v2', classifier: 'matmul', dropout: 'identity' },
];

/**
 * The imported file must be the source file with one graph output appended: the bytes before and after the
 * graph field are equal, the graph's bytes are equal up to the appended field, and only the graph's length
 * prefix differs. Read here with protobufjs' wire reader, not with the importer's wire.ts. Returns the
 * appended ValueInfoProto's bytes.
 */
function appendedGraphOutput(source: Uint8Array, imported: Uint8Array): Uint8Array {
  const s = graphField(source);
  const i = graphField(imported);
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  assert.equal(i.start, s.start, 'the graph field starts where it did');
  assert.ok(same(imported.subarray(0, i.start), source.subarray(0, s.start)), 'bytes before the graph field differ');
  assert.ok(same(imported.subarray(i.end), source.subarray(s.end)), 'bytes after the graph field differ');
  const kept = s.valueEnd - s.valueStart;
  assert.ok(i.valueEnd - i.valueStart > kept, 'nothing was appended to the graph');
  assert.ok(same(imported.subarray(i.valueStart, i.valueStart + kept), source.subarray(s.valueStart, s.valueEnd)), "the graph's own bytes differ");
  const added = protobuf.Reader.create(imported.subarray(i.valueStart + kept, i.valueEnd));
  assert.equal(added.uint32(), (12 << 3) | 2, 'the appended field is not a graph output (GraphProto field 12)');
  const value = added.bytes();
  assert.equal(added.pos, added.len, 'more than one field was appended');
  return value;
}

/** ValueInfoProto.name (field 1). */
function valueInfoName(bytes: Uint8Array): string | undefined {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) return r.string();
    r.skipType(tag & 7);
  }
  return undefined;
}

/** The one ModelProto.graph field (7, length-delimited): its whole range and its value's. */
function graphField(model: Uint8Array): { start: number; end: number; valueStart: number; valueEnd: number } {
  const r = protobuf.Reader.create(model);
  const found = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    if (tag === ((7 << 3) | 2)) {
      const len = r.uint32();
      found.push({ start, valueStart: r.pos, valueEnd: r.pos + len, end: r.pos + len });
      r.skip(len);
    } else {
      r.skipType(tag & 7);
    }
  }
  assert.equal(found.length, 1, 'expected one graph field');
  return found[0];
}

/** A generated protobufjs message class (its .d.ts sits outside the package's exports, so it is typed here). */
interface Codec {
  decode(bytes: Uint8Array): any;
  encode(message: unknown): { finish(): Uint8Array };
  toObject(message: unknown, options?: object): any;
}
type FullOnnx = Record<'ModelProto' | 'GraphProto' | 'NodeProto' | 'ValueInfoProto', Codec>;

/**
 * The full ONNX schema (onnx.proto at IR 9) as generated by onnxruntime for onnxruntime-web, installed with
 * the @huggingface/transformers devDependency: an ONNX codec written outside this project. Null when that
 * package no longer ships it.
 */
function fullOnnxSchema(): FullOnnx | null {
  try {
    const req = createRequire(import.meta.url);
    const ortWeb = createRequire(req.resolve('@huggingface/transformers')).resolve('onnxruntime-web');
    const file = path.join(path.dirname(ortWeb), '..', 'lib', 'onnxjs', 'ort-schema', 'protobuf', 'onnx.js');
    return (req(file) as { onnx: FullOnnx }).onnx;
  } catch {
    return null;
  }
}

/** One field no ONNX schema defines (as a newer exporter's would look to this one). */
function unknownField(field: number, value: string): Uint8Array {
  return protobuf.Writer.create().uint32((field << 3) | 2).string(value).finish();
}

const lengthDelimited = (field: number, value: Uint8Array) => protobuf.Writer.create().uint32((field << 3) | 2).bytes(value).finish();

/**
 * `source` decoded and re-encoded by the full schema, carrying what real exports carry and modtune's schema
 * subset lacks: model-local functions, training info, a sparse initializer, a quantization annotation, a
 * Constant node with a SPARSE_TENSOR attribute, value_info with a denotation, doc strings, metadata, and
 * fields no schema knows in the model, the graph and a node. onnxruntime still loads it.
 */
function foreignExport(onnx: FullOnnx, source: Uint8Array): Uint8Array {
  const m = onnx.ModelProto.decode(source);
  m.irVersion = 8; // model-local functions need IR 8
  m.docString = 'exported by another tool';
  m.metadataProps.push({ key: 'exporter', value: 'not modtune' });
  m.opsetImport.push({ domain: 'test.local', version: 1 });
  m.functions = [
    {
      name: 'Twice',
      domain: 'test.local',
      input: ['x'],
      output: ['y'],
      node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'] }],
      opsetImport: [{ domain: '', version: 14 }],
      docString: 'a local function no node calls',
    },
  ];
  m.trainingInfo = [{ algorithm: { name: 'no_training' } }];
  const g = m.graph;
  g.docString = 'the graph, documented';
  g.quantizationAnnotation = [{ tensorName: 'logits', quantParameterTensorNames: [{ key: 'SCALE_TENSOR', value: 'no_scale' }] }];
  g.sparseInitializer = [
    { dims: [4], values: { name: 'unused_sparse', dataType: DataType.FLOAT, dims: [1], floatData: [2.5] }, indices: { name: 'unused_sparse_idx', dataType: DataType.INT64, dims: [1], int64Data: [3] } },
  ];
  const gather = g.node.find((x: { opType: string; input: string[] }) => x.opType === 'Gather' && x.input[1] === 'input_ids');
  g.valueInfo.push({ name: gather.output[0], docString: 'word embeddings', type: { denotation: 'TENSOR', tensorType: { elemType: DataType.FLOAT } } });
  const sparseConstant = onnx.NodeProto.encode({
    opType: 'Constant',
    name: 'sparse_constant',
    output: ['unused_constant'],
    docString: 'an attribute of type SPARSE_TENSOR',
    attribute: [{ name: 'sparse_value', type: 11, sparseTensor: { dims: [3], values: { dataType: DataType.FLOAT, dims: [1], floatData: [1] }, indices: { dataType: DataType.INT64, dims: [1], int64Data: [1] } } }],
  }).finish();
  m.graph = null;
  const graph = Buffer.concat([onnx.GraphProto.encode(g).finish(), lengthDelimited(1, Buffer.concat([sparseConstant, unknownField(1002, 'node extension')])), unknownField(1001, 'graph extension')]);
  return Buffer.concat([onnx.ModelProto.encode(m).finish(), lengthDelimited(7, graph), unknownField(1000, 'model extension')]);
}

let work: string;
before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-import-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

let n = 0;
const run = (sourceDir: string, extra: Partial<ImportOptions> = {}) =>
  importModel({ sourceDir, outDir: path.join(work, `out-${n++}`), logger: quietLogger(), ...extra });

/** A copy of a fixture to edit. */
async function copyFixture(dir: string): Promise<string> {
  const dest = path.join(work, `src-${n++}`);
  await fs.cp(dir, dest, { recursive: true });
  return dest;
}

describe('import of each architecture', () => {
  for (const c of CASES) {
    test(`${c.arch}, classifier ${c.classifier}, dropout ${c.dropout}`, async () => {
      const src = await fixtureModelDir(c.arch, { classifier: c.classifier, dropout: c.dropout });
      const expected = (await buildTransformerClassifierFiles({ arch: c.arch, classifier: c.classifier, dropout: c.dropout })).head;
      const r = await run(src);
      assert.equal(r.classifier.featuresTensor, expected.featuresTensor);
      assert.equal(r.classifier.weight, expected.weight);
      assert.equal(r.classifier.layout, expected.layout);
      assert.equal(r.classifier.op, c.classifier === 'matmul' ? 'MatMul+Add' : 'Gemm');
      // Dropout in these exports sits before the classifier: the features are its (identical) output.
      assert.deepEqual(r.classifier.passedOver, []);
      assert.ok(r.verifiedMaxAbsDiff <= 1e-4, `head(features) vs logits: ${r.verifiedMaxAbsDiff}`);
      assert.deepEqual(r.labels, ['toxic', 'severe_toxic', 'obscene', 'threat', 'insult', 'identity_hate']);
      assert.equal(r.problemType, 'multi_label');
      const wantInputs = c.arch === 'bert' || c.arch === 'deberta-v2' ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask'];
      assert.deepEqual([...r.inputs].sort(), [...wantInputs].sort());

      // The imported directory is a modtune model: features exposed, base head = the classifier.
      const m = await loadModelDir(r.outDir);
      assert.equal(m.featuresOutput, expected.featuresTensor);
      const session = await ort.InferenceSession.create(m.onnxPath, { executionProviders: ['cpu'] });
      assert.deepEqual([...session.outputNames].sort(), ['logits', expected.featuresTensor].sort());
      // Everything but the added output is the original file byte for byte, so the original logits still come out.
      const added = appendedGraphOutput(await fs.readFile(path.join(src, 'model.onnx')), await fs.readFile(m.onnxPath));
      assert.equal(valueInfoName(added), expected.featuresTensor);
      const original = await ort.InferenceSession.create(path.join(src, 'model.onnx'), { executionProviders: ['cpu'] });
      const enc = new SequenceEncoder(m.tokenizerJson, 64);
      const b = SequenceEncoder.pad([enc.encode('the weather is lovely today', 'have a nice day'), enc.encode('you are a stupid idiot')], enc.padId);
      const dims = [b.size, b.seqLen];
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) {
        feeds[name] = new ort.Tensor('int64', name === 'input_ids' ? b.inputIds : name === 'attention_mask' ? b.attentionMask : b.tokenTypeIds, dims);
      }
      const a = (await session.run(feeds)).logits.data as Float32Array;
      const o = (await original.run(feeds)).logits.data as Float32Array;
      assert.deepEqual([...a], [...o]);
      await session.release();
      await original.release();
      const w = decodeModel(await fs.readFile(m.onnxPath)).graph.initializer.find((t) => t.name === expected.weight)!;
      const raw = tensorToFloat32(w).data;
      if (expected.layout === 'out_in') assert.deepEqual([...m.baseHead.weight], [...raw]);
      else assert.equal(m.baseHead.weight[1], raw[m.baseHead.numLabels], 'in_out weights are transposed into [labels, hidden]');
    });
  }

  test('no-op nodes between the classifier and the logits output are passed over', async () => {
    const dir = await copyFixture(await fixtureModelDir('bert', { classifier: 'matmul' }));
    const model = decodeModel(await fs.readFile(path.join(dir, 'model.onnx')));
    const last = model.graph.node.find((x) => x.output.includes('logits'))!;
    last.output = ['classifier_out'];
    model.graph.node.push(node('Identity', ['classifier_out'], ['logits']));
    await fs.writeFile(path.join(dir, 'model.onnx'), encodeModel(model));
    const r = await run(dir);
    assert.deepEqual(r.classifier.passedOver, ['Identity']);
    assert.equal(r.classifier.op, 'MatMul+Add');
    assert.ok(r.verifiedMaxAbsDiff <= 1e-4);
  });

  test("single-label exports use a softmax; without problem_type, transformers' rule: softmax over several labels, a sigmoid for one", async () => {
    const single = await run(await fixtureModelDir('bert', { problemType: 'single_label_classification', labels: ['neutral', 'toxic'] }));
    assert.equal(single.problemType, 'single_label');
    const missing = await run(await fixtureModelDir('distilbert', { writeProblemType: false }));
    assert.equal(missing.problemType, 'single_label');
    // The imported config says it, so every reader (modtune, transformers, transformers.js) agrees.
    assert.equal(JSON.parse(await fs.readFile(path.join(missing.outDir, 'config.json'), 'utf8')).problem_type, 'single_label_classification');
    assert.equal((await loadModelDir(missing.outDir)).problemType, 'single_label');
    const one = await run(await fixtureModelDir('bert', { writeProblemType: false, labels: ['toxic'] }));
    assert.equal(one.problemType, 'multi_label');
    // The pipeline applies a sigmoid to a single label even where the config says single-label.
    const oneSingle = await run(await fixtureModelDir('bert', { problemType: 'single_label_classification', labels: ['toxic'] }));
    assert.equal(oneSingle.problemType, 'multi_label');
    const multi = await run(await fixtureModelDir('bert', { problemType: 'multi_label_classification', labels: ['neutral', 'toxic'] }));
    assert.equal(multi.problemType, 'multi_label');
  });

  test('a label map is recorded in the model and reported; labels it does not cover are reported as unmapped', async () => {
    const r = await run(await fixtureModelDir('bert'), {
      labelMap: { toxic: 'harassment', insult: ['harassment'], threat: 'violence', identity_hate: ['hate', 'hate/threatening'], obscene: null },
      knownCategories: ['harassment', 'violence', 'hate', 'hate/threatening', 'sexual'],
    });
    assert.deepEqual(r.labelMap.obscene, []);
    assert.deepEqual(r.labelMap.identity_hate, ['hate', 'hate/threatening']);
    assert.deepEqual(r.unmappedLabels, ['severe_toxic']);
    const m = await loadModelDir(r.outDir);
    assert.deepEqual(m.labelMap.threat, ['violence']);
  });
});

describe('lossless editing of an export made elsewhere', () => {
  const onnx = fullOnnxSchema();

  test('fields modtune\'s ONNX schema does not know survive the import byte for byte', { skip: onnx ? false : 'onnxruntime-web no longer ships its onnx.proto module' }, async () => {
    const dir = await copyFixture(await fixtureModelDir('bert', { classifier: 'matmul' }));
    const foreign = foreignExport(onnx!, await fs.readFile(path.join(dir, 'model.onnx')));
    await fs.writeFile(path.join(dir, 'model.onnx'), foreign);
    // What a decode and re-encode through modtune's schema subset would lose: the reason edits are made on the wire.
    const roundTrip = onnx!.ModelProto.decode(encodeModel(decodeModel(foreign)));
    assert.deepEqual([roundTrip.functions.length, roundTrip.trainingInfo.length, roundTrip.graph.sparseInitializer.length, roundTrip.graph.quantizationAnnotation.length], [0, 0, 0, 0]);
    assert.equal(roundTrip.graph.node.find((x: { name: string }) => x.name === 'sparse_constant').attribute[0].sparseTensor, null);

    const r = await run(dir);
    assert.equal(r.classifier.op, 'MatMul+Add');
    assert.ok(r.verifiedMaxAbsDiff <= 1e-4, `head(features) vs logits: ${r.verifiedMaxAbsDiff}`);
    const imported = await fs.readFile(path.join(r.outDir, 'model.onnx'));
    const added = onnx!.ValueInfoProto.toObject(onnx!.ValueInfoProto.decode(appendedGraphOutput(foreign, imported)), { longs: Number });
    assert.deepEqual(added, {
      name: r.classifier.featuresTensor,
      type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'batch_size' }, { dimValue: r.classifier.hidden }] } } },
    });
    // Read back by the full schema, the imported model is the export plus that output.
    const asObject = (bytes: Uint8Array) => onnx!.ModelProto.toObject(onnx!.ModelProto.decode(bytes), { longs: String, bytes: String });
    const after = asObject(imported);
    after.graph.output.pop();
    assert.deepEqual(after, asObject(foreign));
  });
});

describe('import refusals', () => {
  test('a graph whose last layer is not a recognisable classifier', async () => {
    const dir = await copyFixture(await fixtureModelDir('bert'));
    const model = decodeModel(await fs.readFile(path.join(dir, 'model.onnx')));
    // logits = Softmax(the classifier's output): a probability head, not logits from a linear layer.
    const last = model.graph.node.find((x) => x.output.includes('logits'))!;
    last.output = ['raw_logits'];
    model.graph.node.push(node('Softmax', ['raw_logits'], ['logits'], { axis: -1 }));
    await fs.writeFile(path.join(dir, 'model.onnx'), encodeModel(model));
    await assert.rejects(run(dir), /the logits come from a Softmax node .*expected the classification layer: a Gemm, or a MatMul followed by an Add of a bias, with constant weights/);

    const tokenLevel = await copyFixture(await fixtureModelDir('bert'));
    const m2 = decodeModel(await fs.readFile(path.join(tokenLevel, 'model.onnx')));
    m2.graph.output = [valueInfo('hidden', DataType.FLOAT, ['b', 's', 32])];
    m2.graph.node.push(node('Identity', [m2.graph.node.find((x) => x.opType === 'Gather' && x.input.includes('input_ids'))!.output[0]], ['hidden']));
    await fs.writeFile(path.join(tokenLevel, 'model.onnx'), encodeModel(m2));
    await assert.rejects(run(tokenLevel), /the logits come from an Identity|no 'logits' output|the logits come from a Gather/);
  });

  test('a tokenizer that does not belong to the model', async () => {
    const small = await copyFixture(await fixtureModelDir('bert'));
    const config = JSON.parse(await fs.readFile(path.join(small, 'config.json'), 'utf8'));
    config.vocab_size = 500;
    await fs.writeFile(path.join(small, 'config.json'), JSON.stringify(config));
    await assert.rejects(run(small), /tokenizer\/config mismatch: tokenizer\.json has token ids up to \d+ .* but config\.json vocab_size 500/);

    const extra = await copyFixture(await fixtureModelDir('bert'));
    const tok = JSON.parse(await fs.readFile(path.join(extra, 'tokenizer.json'), 'utf8'));
    const rows = JSON.parse(await fs.readFile(path.join(extra, 'config.json'), 'utf8')).vocab_size;
    tok.added_tokens.push({ id: rows + 10, content: '<new_token>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    await fs.writeFile(path.join(extra, 'tokenizer.json'), JSON.stringify(tok));
    await assert.rejects(run(extra), new RegExp(`tokenizer/config mismatch: tokenizer\\.json has token ids up to ${rows + 10}`));

    const swapped = await copyFixture(await fixtureModelDir('bert'));
    await fs.copyFile(path.join(await fixtureModelDir('roberta', { vocabSize: 2000 }), 'tokenizer.json'), path.join(swapped, 'tokenizer.json'));
    await assert.rejects(run(swapped), /tokenizer\/config mismatch/);
  });

  test('inputs it cannot feed, missing files, several ONNX files, a bad label map, an existing destination', async () => {
    const extraInput = await copyFixture(await fixtureModelDir('distilbert'));
    const model = decodeModel(await fs.readFile(path.join(extraInput, 'model.onnx')));
    model.graph.input.push(valueInfo('position_ids', DataType.INT64, ['batch_size', 'sequence_length']));
    await fs.writeFile(path.join(extraInput, 'model.onnx'), encodeModel(model));
    await assert.rejects(run(extraInput), /the graph needs inputs modtune cannot feed: position_ids/);

    const noTok = await copyFixture(await fixtureModelDir('bert'));
    await fs.rm(path.join(noTok, 'tokenizer.json'));
    await assert.rejects(run(noTok), /tokenizer\.json is missing/);

    const several = await copyFixture(await fixtureModelDir('bert'));
    await fs.mkdir(path.join(several, 'onnx'));
    await fs.rename(path.join(several, 'model.onnx'), path.join(several, 'onnx', 'model_fp16.onnx'));
    await fs.copyFile(path.join(several, 'onnx', 'model_fp16.onnx'), path.join(several, 'onnx', 'model_quantized.onnx'));
    await assert.rejects(run(several), /onnx\/ holds several models \(model_fp16\.onnx, model_quantized\.onnx\); choose one with --onnx/);
    const chosen = await run(several, { onnxFile: 'onnx/model_fp16.onnx' });
    assert.equal(chosen.sourceOnnx, path.join('onnx', 'model_fp16.onnx'));

    await assert.rejects(run(await fixtureModelDir('bert'), { labelMap: { toxicity: 'harassment' } }), /label map names 'toxicity', which is not one of the model's labels/);
    await assert.rejects(
      run(await fixtureModelDir('bert'), { labelMap: { toxic: 'harrassment' }, knownCategories: ['harassment'] }),
      /label map sends 'toxic' to 'harrassment', which no policy defines/,
    );
    const r = await run(await fixtureModelDir('bert'));
    await assert.rejects(importModel({ sourceDir: await fixtureModelDir('bert'), outDir: r.outDir, logger: quietLogger() }), /already exists/);
  });
});

describe('a repeated import', () => {
  test('is recognised by its source file and label map (so it is registered as it is, not converted and copied again)', async () => {
    const src = await fixtureModelDir('bert');
    const r = await run(src, { labelMap: { toxic: 'harassment' }, knownCategories: ['harassment'] });
    const m = await loadModelDir(r.outDir);
    assert.equal(await sameImport(m, src, undefined, { toxic: 'harassment' }), true);
    assert.equal(await sameImport(m, src, undefined, { toxic: 'hate' }), false, 'another label map is another import');
    assert.equal(await sameImport(m, await fixtureModelDir('bert', { seed: 43 }), undefined, { toxic: 'harassment' }), false, 'another export');
  });
});
