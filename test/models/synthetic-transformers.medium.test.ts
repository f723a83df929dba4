/**
 * The synthetic Hugging Face classifiers (tools/synthetic): each family × classifier form loads in
 * onnxruntime with exactly the inputs and the one output optimum exports, applies its attention mask,
 * ends in the family's exact tail, and ships a tokenizer that @huggingface/tokenizers loads with the
 * family's special tokens and the model's vocabulary size.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import ort from 'onnxruntime-node';
import { decodeModel, toNumber, type ModelProto } from '../../src/inference/onnx/model.js';
import { DataType } from '../../src/inference/onnx/schema.js';
import {
  ARCHS,
  buildTransformerClassifier,
  buildTransformerClassifierFiles,
  CLASSIFIER_FORMS,
  resolveSpec,
  SpecError,
  type Arch,
  type ClassifierForm,
} from '../../tools/synthetic/index.js';
import {
  byteLevelBpeTokenizer,
  debertaV2Tokenizer,
  wordPieceTokenizer,
  xlmRobertaTokenizer,
} from '../../tools/synthetic/tokenizers.js';
import { fixtureModelDir, type FixtureOptions } from '../helpers/fixture-models.js';

ort.env.logLevel = 'fatal';

const SHORT = 'you are a stupid idiot';
const LONG = 'thanks for the help, see you tomorrow and have a lovely day with your family and friends';

const INPUTS: Record<Arch, string[]> = {
  bert: ['input_ids', 'attention_mask', 'token_type_ids'],
  distilbert: ['input_ids', 'attention_mask'],
  roberta: ['input_ids', 'attention_mask'],
  'xlm-roberta': ['input_ids', 'attention_mask'],
  'deberta-v2': ['input_ids', 'attention_mask', 'token_type_ids'],
};

/** Op types from the CLS Gather to `logits`, before the classifier itself. */
const TAIL: Record<Arch, string[]> = {
  bert: ['Gather', 'MatMul', 'Add', 'Tanh'],
  distilbert: ['Gather', 'MatMul', 'Add', 'Relu'],
  roberta: ['Gather', 'MatMul', 'Add', 'Tanh'],
  'xlm-roberta': ['Gather', 'MatMul', 'Add', 'Tanh'],
  'deberta-v2': ['Gather', 'MatMul', 'Add', 'Div', 'Erf', 'Add', 'Mul', 'Mul'],
};
const CLASSIFIER_OPS: Record<ClassifierForm, string[]> = { gemm: ['Gemm'], 'gemm-nt': ['Gemm'], matmul: ['MatMul', 'Add'] };
const CLASSIFIER_PREFIX: Record<Arch, string> = {
  bert: 'classifier',
  distilbert: 'classifier',
  roberta: 'classifier.out_proj',
  'xlm-roberta': 'classifier.out_proj',
  'deberta-v2': 'classifier',
};

/** [CLS]-equivalent, [SEP]-equivalent and the pair template's specials, per family. */
const PAIR_SPECIALS: Record<Arch, { first: string; between: string[]; last: string; typeIdsOfB: number }> = {
  bert: { first: '[CLS]', between: ['[SEP]'], last: '[SEP]', typeIdsOfB: 1 },
  distilbert: { first: '[CLS]', between: ['[SEP]'], last: '[SEP]', typeIdsOfB: 1 },
  roberta: { first: '<s>', between: ['</s>', '</s>'], last: '</s>', typeIdsOfB: 1 },
  'xlm-roberta': { first: '<s>', between: ['</s>', '</s>'], last: '</s>', typeIdsOfB: 0 },
  'deberta-v2': { first: '[CLS]', between: ['[SEP]'], last: '[SEP]', typeIdsOfB: 1 },
};

interface Loaded {
  dir: string;
  session: ort.InferenceSession;
  tokenizer: Tokenizer;
  config: Record<string, unknown>;
  model: ModelProto;
}

const sessions: ort.InferenceSession[] = [];

async function load(arch: Arch, options: FixtureOptions = {}): Promise<Loaded> {
  const dir = await fixtureModelDir(arch, options);
  const bytes = await readFile(join(dir, 'model.onnx'));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  sessions.push(session);
  return {
    dir,
    session,
    tokenizer: new Tokenizer(JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')), {}),
    config: JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
    model: decodeModel(bytes),
  };
}

after(async () => {
  await Promise.all(sessions.map((s) => s.release()));
});

/** Runs right-padded rows; `maskPadding: false` attends to the padding too (to show the mask matters). */
async function run(
  m: Pick<Loaded, 'session' | 'config'>,
  rows: number[][],
  { typeIds, maskPadding = true }: { typeIds?: number[][]; maskPadding?: boolean } = {},
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const len = Math.max(...rows.map((r) => r.length));
  const pad = m.config.pad_token_id as number;
  const ids = new BigInt64Array(rows.length * len).fill(BigInt(pad));
  const mask = new BigInt64Array(rows.length * len).fill(maskPadding ? 0n : 1n);
  const types = new BigInt64Array(rows.length * len);
  rows.forEach((r, i) =>
    r.forEach((id, j) => {
      ids[i * len + j] = BigInt(id);
      mask[i * len + j] = 1n;
      types[i * len + j] = BigInt(typeIds?.[i][j] ?? 0);
    }),
  );
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [rows.length, len]),
    attention_mask: new ort.Tensor('int64', mask, [rows.length, len]),
  };
  if (m.session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', types, [rows.length, len]);
  const out = await m.session.run(feeds);
  return { data: out.logits.data as Float32Array, dims: out.logits.dims };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function dims(v: ModelProto['graph']['input'][number]): (string | number)[] {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || toNumber(d.dimValue));
}

/** Op types of the non-Constant nodes from the last axis-1 Gather (the CLS token) to the end. */
function tailOps(model: ModelProto): string[] {
  const nodes = model.graph.node.filter((n) => n.opType !== 'Constant');
  const cls = nodes.findLastIndex((n) => n.opType === 'Gather' && n.attribute?.some((a) => a.name === 'axis' && toNumber(a.i) === 1));
  assert.ok(cls >= 0, 'no CLS Gather');
  return nodes.slice(cls).map((n) => n.opType);
}

function initializer(model: ModelProto, name: string) {
  const t = model.graph.initializer.find((i) => i.name === name);
  assert.ok(t, `no initializer ${name}`);
  return t;
}

for (const arch of ARCHS) {
  describe(`synthetic ${arch}`, () => {
    for (const classifier of CLASSIFIER_FORMS) {
      it(`${classifier}: runs with the export's inputs and output, masks padding, ends in the ${arch} tail`, async () => {
        const m = await load(arch, { classifier });
        const numLabels = Object.keys(m.config.id2label as object).length;
        assert.deepEqual(m.session.inputNames, INPUTS[arch]);
        assert.deepEqual(m.session.outputNames, ['logits']);
        for (const input of m.model.graph.input) {
          assert.equal(input.type?.tensorType?.elemType, DataType.INT64);
          assert.deepEqual(dims(input), ['batch_size', 'sequence_length']);
        }
        assert.equal(m.model.graph.output.length, 1);
        assert.equal(m.model.graph.output[0].type?.tensorType?.elemType, DataType.FLOAT);
        assert.deepEqual(dims(m.model.graph.output[0]), ['batch_size', numLabels]);

        assert.deepEqual(tailOps(m.model), [...TAIL[arch], ...CLASSIFIER_OPS[classifier]]);
        const last = m.model.graph.node.at(-1)!;
        assert.deepEqual(last.output, ['logits']);
        const prefix = CLASSIFIER_PREFIX[arch];
        const hidden = resolveSpec({ arch }).hidden;
        if (classifier === 'matmul') {
          const mm = m.model.graph.node.at(-2)!;
          assert.match(mm.input[1], /^onnx::MatMul_\d+$/);
          assert.deepEqual(initializer(m.model, mm.input[1]).dims!.map(toNumber), [hidden, numLabels]);
          assert.deepEqual(last.input, [`${prefix}.bias`, mm.output[0]], 'torch order: Add(bias, MatMul)');
        } else {
          assert.deepEqual(last.input.slice(1), [`${prefix}.weight`, `${prefix}.bias`]);
          const transB = last.attribute?.find((a) => a.name === 'transB');
          assert.equal(toNumber(transB?.i), classifier === 'gemm' ? 1 : 0);
          const w = initializer(m.model, `${prefix}.weight`).dims!.map(toNumber);
          assert.deepEqual(w, classifier === 'gemm' ? [numLabels, hidden] : [hidden, numLabels]);
        }

        const short = m.tokenizer.encode(SHORT).ids;
        const long = m.tokenizer.encode(LONG).ids;
        assert.ok(long.length > short.length + 5, 'the long text needs padding room');
        const alone = await run(m, [short]);
        assert.deepEqual(alone.dims, [1, numLabels]);
        const batch = await run(m, [short, long]);
        assert.deepEqual(batch.dims, [2, numLabels]);
        const row = batch.data.subarray(0, numLabels);
        assert.ok(maxDiff(alone.data, row) <= 1e-5, `padding changed the logits by ${maxDiff(alone.data, row)}`);
        // The check has teeth: attending to the padding moves the logits far more than the tolerance.
        const unmasked = await run(m, [short, long], { maskPadding: false });
        const leak = maxDiff(alone.data, unmasked.data.subarray(0, numLabels));
        assert.ok(leak > 1e-3, `attending to padding only moved the logits by ${leak}`);
      });
    }

    it('computes the same logits whatever the classifier form (same weights, other layouts)', async () => {
      const logits = new Map<ClassifierForm, Float32Array>();
      for (const classifier of CLASSIFIER_FORMS) {
        const m = await load(arch, { classifier });
        logits.set(classifier, (await run(m, [m.tokenizer.encode(LONG).ids])).data);
      }
      for (const form of CLASSIFIER_FORMS) assert.ok(maxDiff(logits.get('gemm')!, logits.get(form)!) <= 1e-6, form);
    });

    it("has a tokenizer with the family's special tokens and the model's vocabulary size", async () => {
      const m = await load(arch);
      const s = PAIR_SPECIALS[arch];
      const enc = m.tokenizer.encode('the weather is lovely', { text_pair: 'see you tomorrow', return_token_type_ids: true });
      const tokens = enc.tokens;
      assert.equal(tokens[0], s.first);
      assert.equal(tokens.at(-1), s.last);
      const firstSep = tokens.indexOf(s.between[0]);
      assert.deepEqual(tokens.slice(firstSep, firstSep + s.between.length), s.between);
      assert.ok(!tokens.includes('[UNK]') && !tokens.includes('<unk>'), `unknown tokens in ${tokens.join(' ')}`);
      if (arch === 'bert' || arch === 'distilbert' || arch === 'deberta-v2') {
        const types = enc.token_type_ids;
        const boundary = firstSep + 1;
        assert.deepEqual(types, tokens.map((_: string, i: number) => (i < boundary ? 0 : s.typeIdsOfB)));
      }
      const vocab = m.tokenizer.get_vocab(true);
      const word = m.model.graph.initializer.find((t) => /word_embeddings\.weight$/.test(t.name ?? ''))!;
      assert.equal(vocab.size, m.config.vocab_size);
      assert.equal(toNumber(word.dims![0]), m.config.vocab_size);
      const ids = [...vocab.values()].sort((a, b) => a - b);
      assert.ok(ids.every((id, i) => id === i), 'token ids are 0..vocab_size-1 without gaps');
      assert.equal(m.tokenizer.token_to_id(s.first), arch === 'deberta-v2' ? 1 : arch.includes('roberta') ? 0 : 101);
    });
  });
}

describe('synthetic model options', () => {
  it('token_type_ids change BERT logits', async () => {
    const m = await load('bert');
    const enc = m.tokenizer.encode('the weather is lovely', { text_pair: 'see you tomorrow', return_token_type_ids: true });
    const withTypes = await run(m, [enc.ids], { typeIds: [enc.token_type_ids] });
    const allZero = await run(m, [enc.ids]);
    assert.ok(maxDiff(withTypes.data, allZero.data) > 1e-3, 'token types made no difference');
  });

  it('keeps dropout as Identity or Dropout(training_mode=false) without changing the logits', async () => {
    const plain = await load('bert');
    const ids = [plain.tokenizer.encode(SHORT).ids];
    const expected = (await run(plain, ids)).data;
    for (const dropout of ['identity', 'dropout'] as const) {
      const m = await load('bert', { dropout });
      assert.deepEqual(tailOps(m.model), ['Gather', 'MatMul', 'Add', 'Tanh', dropout === 'identity' ? 'Identity' : 'Dropout', 'Gemm']);
      if (dropout === 'dropout') {
        const node = m.model.graph.node.find((n) => n.opType === 'Dropout')!;
        const trainingMode = m.model.graph.node.find((n) => n.output[0] === node.input[2])!;
        assert.deepEqual([...trainingMode.attribute![0].t!.rawData!], [0]);
      }
      assert.ok(maxDiff(expected, (await run(m, ids)).data) <= 1e-6, `${dropout} changed the logits`);
    }
  });

  it('uses LayerNormalization at opset 17 and the decomposed form at opset 14, with the same logits', async () => {
    const decomposed = await load('roberta');
    const fused = await load('roberta', { layerNorm: 'fused' });
    assert.equal(toNumber(decomposed.model.opsetImport[0].version), 14);
    assert.equal(toNumber(fused.model.opsetImport[0].version), 17);
    assert.ok(!decomposed.model.graph.node.some((n) => n.opType === 'LayerNormalization'), 'LayerNormalization at opset 14');
    assert.equal(fused.model.graph.node.filter((n) => n.opType === 'LayerNormalization').length, 2 * 2 + 1);
    const ids = [decomposed.tokenizer.encode(SHORT).ids];
    assert.ok(maxDiff((await run(decomposed, ids)).data, (await run(fused, ids)).data) <= 1e-5, 'fused and decomposed differ');
  });

  it('puts the bias last in the matmul classifier when asked, and can use Gemm for the head dense', async () => {
    const m = await load('distilbert', { classifier: 'matmul', biasAddOrder: 'bias-last', headDense: 'gemm' });
    const last = m.model.graph.node.at(-1)!;
    assert.equal(last.input[1], 'classifier.bias');
    assert.deepEqual(tailOps(m.model), ['Gather', 'Gemm', 'Relu', 'MatMul', 'Add']);
    assert.ok(m.model.graph.initializer.some((t) => t.name === 'pre_classifier.weight'), 'no pre_classifier.weight');
  });

  it('builds DeBERTa without token_type_ids (deberta-v3 style)', async () => {
    const m = await load('deberta-v2', { tokenTypeIds: false });
    assert.deepEqual(m.session.inputNames, ['input_ids', 'attention_mask']);
    assert.equal(m.config.type_vocab_size, 0);
    assert.deepEqual((await run(m, [m.tokenizer.encode(SHORT).ids])).dims, [1, 6]);
  });

  it('writes labels, problem_type (or omits it) and the family config keys', async () => {
    const m = await load('xlm-roberta', {
      labels: ['ok', 'spam', 'abuse'],
      problemType: 'single_label_classification',
      writeProblemType: false,
    });
    assert.deepEqual(m.config.id2label, { 0: 'ok', 1: 'spam', 2: 'abuse' });
    assert.deepEqual(m.config.label2id, { ok: 0, spam: 1, abuse: 2 });
    assert.equal('problem_type' in m.config, false);
    assert.deepEqual(m.config.architectures, ['XLMRobertaForSequenceClassification']);
    assert.equal(m.config.model_type, 'xlm-roberta');
    assert.equal(m.config.max_position_embeddings, 128 + 2);
    const bert = await load('bert');
    assert.equal(bert.config.problem_type, 'multi_label_classification');
    assert.equal(bert.config.type_vocab_size, 2);
    const distil = await load('distilbert');
    assert.equal(distil.config.dim, 32);
    assert.equal(distil.config.n_layers, 2);
  });

  it('rejects inconsistent specs, naming every problem', () => {
    assert.throws(
      () => resolveSpec({ arch: 'bert', hidden: 30, heads: 4, labels: ['a', 'a'], layerNorm: 'fused', opset: 14 }),
      (err: Error) =>
        err instanceof SpecError && /multiple of heads/.test(err.message) && /distinct/.test(err.message) && /opset 17/.test(err.message),
    );
    assert.throws(() => resolveSpec({ arch: 'roberta', tokenTypeIds: false }), SpecError);
  });
});

describe('synthetic minilm-l6 (BERT, all-MiniLM-L6-v2 shape)', () => {
  it('builds in seconds, has the full vocabulary and runs a batch of 8 × 128 tokens', async () => {
    const started = performance.now();
    const built = await buildTransformerClassifierFiles({ arch: 'bert', preset: 'minilm-l6' });
    const buildMs = performance.now() - started;
    assert.ok(buildMs < 20_000, `build took ${buildMs} ms`);
    const bytes = built.files.get('model.onnx')!;
    const config = JSON.parse(new TextDecoder().decode(built.files.get('config.json'))) as Record<string, unknown>;
    assert.deepEqual(
      [config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size],
      [30522, 384, 6, 12, 1536],
    );
    const tokenizer = new Tokenizer(JSON.parse(new TextDecoder().decode(built.files.get('tokenizer.json'))), {});
    assert.equal(tokenizer.get_vocab(true).size, 30522);
    assert.deepEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '!'].map((t) => tokenizer.token_to_id(t)), [0, 100, 101, 102, 103, 999]);
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
    sessions.push(session);
    const m = { session, config };
    const text = 'thanks for the help, see you tomorrow and have a lovely day with your family and friends';
    const long = Array.from({ length: 8 }, (_, i) =>
      [101, ...tokenizer.encode(`${text} ${i} `.repeat(10), { add_special_tokens: false }).ids.slice(0, 126), 102],
    );
    assert.ok(long.every((r) => r.length === 128), 'every row is 128 tokens');
    const out = await run(m, long);
    assert.deepEqual(out.dims, [8, 6]);
    assert.ok(out.data.every(Number.isFinite), 'finite logits');
    const short = tokenizer.encode(SHORT).ids;
    const alone = await run(m, [short]);
    const padded = await run(m, [short, long[0]]);
    assert.ok(maxDiff(alone.data, padded.data.subarray(0, 6)) <= 1e-5, 'padding changed the MiniLM logits');
  });
});

describe('synthetic model builds', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'modtune-synthetic-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('are deterministic: the same spec gives byte-identical files', async () => {
    for (const arch of ARCHS) {
      const a = await buildTransformerClassifier({ arch, seed: 7 }, join(root, `${arch}-a`));
      const b = await buildTransformerClassifier({ arch, seed: 7 }, join(root, `${arch}-b`));
      assert.deepEqual(a.files, b.files);
      for (const f of a.files) {
        const bytes = await readFile(join(a.outDir, f.name));
        assert.equal(createHash('sha256').update(bytes).digest('hex'), f.sha256);
      }
      const other = await buildTransformerClassifier({ arch, seed: 8 }, join(root, `${arch}-c`));
      const onnx = (m: typeof a) => m.files.find((f) => f.name === 'model.onnx')!.sha256;
      assert.notEqual(onnx(other), onnx(a), `${arch}: the seed changes the weights`);
    }
    // Tokenizers are memoised per process, so build them again from scratch too.
    for (const build of [wordPieceTokenizer, byteLevelBpeTokenizer, xlmRobertaTokenizer, debertaV2Tokenizer]) {
      assert.equal(JSON.stringify((await build(1000)).json), JSON.stringify((await build(1000)).json), build.name);
    }
  });

  it('refuses to overwrite a model directory unless asked, and reports the head', async () => {
    const dir = join(root, 'over');
    await buildTransformerClassifier({ arch: 'distilbert' }, dir);
    await assert.rejects(buildTransformerClassifier({ arch: 'distilbert' }, dir), /already exists/);
    const again = await buildTransformerClassifier({ arch: 'distilbert', classifier: 'matmul' }, dir, { overwrite: true });
    assert.deepEqual(again.head.opTypes, ['MatMul', 'Add']);
    assert.equal(again.head.featuresTensor, '/Relu_output_0');
    assert.equal(again.head.layout, 'in_out');
    assert.equal(again.head.bias, 'classifier.bias');
  });
});
