/**
 * Export round trip: a head stored in the database, baked into a standalone ONNX model, gives the same
 * scores in a plain onnxruntime session (and in transformers.js) as the service gave for the same text
 * (≤ 1e-5). A head's lexical part goes into the graph (Gather over input_ids → masked mean → Add); the
 * export loads back into modtune with the same head, and exporting it again replaces its table rather
 * than adding a second one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { v7 as uuidv7 } from 'uuid';
import { sigmoid, type Head } from '../../src/inference/head.js';
import { loadModelDir, type ModelDir } from '../../src/inference/model-dir.js';
import { ModelRuntime } from '../../src/inference/runtime.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { exportHead } from '../../src/models/export/exporter.js';
import { getBackbone, getHead, insertHead } from '../../src/models/head.repository.js';
import { importModel } from '../../src/models/import/importer.js';
import { registerBackbone } from '../../src/models/model.service.js';
import { mulberry32 } from '../../src/random.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { quietLogger } from '../helpers/db.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

ort.env.logLevel = 'fatal';
const TEXTS = ['I will find you and kill you', 'have a nice day', 'you are a stupid idiot, a stupid stupid idiot', ''];

/** A head moved away from `base` by seeded noise, with lexical weights on the tokens of `texts`. */
function tunedHead(base: Head, model: ModelDir, seed: number): Head {
  const rng = mulberry32(seed);
  const encoder = new SequenceEncoder(model.tokenizerJson, 256);
  const tokens = [...new Set(TEXTS.flatMap((t) => encoder.encode(t).ids))].sort((a, b) => a - b);
  return {
    numLabels: base.numLabels,
    dim: base.dim,
    weight: Float32Array.from(base.weight, (w) => w + (rng() - 0.5)),
    bias: Float32Array.from(base.bias, (b) => b + (rng() - 0.5)),
    lexical: { tokens: Int32Array.from(tokens), weight: Float32Array.from({ length: tokens.length * base.numLabels }, () => (rng() - 0.5) * 8) },
  };
}

async function activateAndServe(app: TestApp, head: Head, backboneId: string, parentId: string, texts: string[]) {
  const id = uuidv7();
  await insertHead(app.database.db, { id, backboneId, parentId, status: 'candidate', source: 'test', head });
  const act = await app.request.post(`/v1/models/${id}/activate`).set('Authorization', `Bearer ${ADMIN_KEY}`).send({});
  assert.equal(act.status, 200, JSON.stringify(act.body));
  const client = await app.key('client');
  const served = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: texts });
  assert.equal(served.status, 200, JSON.stringify(served.body));
  return { id, results: served.body.results as { category_scores: Record<string, number> }[] };
}

/** Logits from a plain onnxruntime session on an exported file, fed one text at a time. */
async function ortLogits(file: string, model: ModelDir, texts: string[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
  const encoder = new SequenceEncoder(model.tokenizerJson, 256);
  const out: Float32Array[] = [];
  for (const text of texts) {
    const b = SequenceEncoder.pad([encoder.encode(text)], encoder.padId);
    const dims = [1, b.seqLen];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', b.inputIds, dims),
      attention_mask: new ort.Tensor('int64', b.attentionMask, dims),
    };
    if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', b.tokenTypeIds, dims);
    out.push(Float32Array.from((await session.run(feeds)).logits.data as Float32Array));
  }
  await session.release();
  return out;
}

describe('model export', () => {
  let app: TestApp;
  let dir: string;
  before(async () => {
    app = await startTestApp();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-export-lexical-'));
  });
  after(async () => {
    await app?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const check = (labels: string[], texts: string[], got: Float32Array[], results: { category_scores: Record<string, number> }[], what: string) =>
    texts.forEach((text, i) =>
      labels.forEach((label, k) => {
        const service = results[i].category_scores[label];
        assert.ok(Math.abs(sigmoid(got[i][k]) - service) < 1e-5, `${what}: '${text}' / ${label}: ${sigmoid(got[i][k])} vs service ${service}`);
      }),
    );

  test('a linear head: onnxruntime gives the service’s scores; the export is a model directory whose classifier is the head', async () => {
    const active = app.server.ctx.models.active;
    const backbone = (await getBackbone(app.database.db, active.backbone.id))!;
    const model = await loadModelDir(backbone.path);
    const tuned = { ...tunedHead(active.head, model, 2), lexical: null };
    const { id, results } = await activateAndServe(app, tuned, backbone.id, active.head.id, TEXTS);
    const head = (await getHead(app.database.db, id))!;
    const out = await exportHead(model, head, path.join(dir, 'linear-tuned'), backbone.name);
    assert.deepEqual((await fs.readdir(out)).sort(), ['config.json', 'model.onnx', 'tokenizer.json']);
    const config = JSON.parse(await fs.readFile(path.join(out, 'config.json'), 'utf8'));
    assert.equal(config.modtune.export.head_id, id);
    assert.equal(config.modtune.lexical, undefined);
    assert.deepEqual(config.id2label, model.config.id2label);
    check(model.labels, TEXTS, await ortLogits(path.join(out, 'model.onnx'), model, TEXTS), results, 'linear export');
    const reloaded = await loadModelDir(out);
    assert.ok(reloaded.baseHead.weight.every((w, i) => Math.abs(w - tuned.weight[i]) < 1e-6));
    assert.equal(reloaded.baseHead.lexical, null);
    assert.notEqual(reloaded.sha256, model.sha256);
  });

  test('a lexical part: onnxruntime gives the served scores; the export loads back into modtune; a second export replaces the table', async () => {
    const active = app.server.ctx.models.active;
    const backbone = (await getBackbone(app.database.db, active.backbone.id))!;
    const model = await loadModelDir(backbone.path);
    const head = tunedHead(active.head, model, 3);
    const { id, results } = await activateAndServe(app, head, backbone.id, active.head.id, TEXTS);
    const stored = (await getHead(app.database.db, id))!;
    assert.deepEqual([...stored.lexical!.tokens], [...head.lexical!.tokens], 'the lexical part is stored with the head');

    const out = await exportHead(model, stored, path.join(dir, 'tuned'), backbone.name);
    const config = JSON.parse(await fs.readFile(path.join(out, 'config.json'), 'utf8'));
    assert.deepEqual(config.modtune.lexical, { table: 'modtune_lexical/table' });
    const logits = await ortLogits(path.join(out, 'model.onnx'), model, TEXTS);
    check(model.labels, TEXTS, logits, results, 'export');
    // Without its lexical part the head gives other scores: the check above is not vacuous.
    const linearOnly = await exportHead(model, { ...stored, lexical: null }, path.join(dir, 'linear'), backbone.name);
    const plain = await ortLogits(path.join(linearOnly, 'model.onnx'), model, TEXTS);
    assert.ok(plain.some((l, i) => l.some((x, k) => Math.abs(x - logits[i][k]) > 1e-3)));

    // The export is a model directory modtune reads back, lexical part included, and its runtime verifies it.
    const reloaded = await loadModelDir(out);
    assert.deepEqual([...reloaded.baseHead.lexical!.tokens], [...stored.lexical!.tokens]);
    assert.ok(reloaded.baseHead.lexical!.weight.every((w, i) => Math.abs(w - stored.lexical!.weight[i]) < 1e-6));
    const runtime = await ModelRuntime.start(reloaded, { providers: ['cpu'], workers: 1, threadsPerWorker: 1, maxSequenceLength: 64, batchMaxSize: 8, batchMaxWaitMs: 0 }, quietLogger());
    assert.ok(runtime.verifiedMaxAbsDiff < 1e-4);
    await runtime.stop();

    // Exporting a head of the exported model replaces the table: the graph adds one lexical part, not two.
    const again = tunedHead(reloaded.baseHead, reloaded, 9);
    const second = await exportHead(reloaded, { ...again, id: 'again', version: 2 }, path.join(dir, 'again'), 'tuned');
    const secondLogits = await ortLogits(path.join(second, 'model.onnx'), reloaded, TEXTS);
    const expected = await (async () => {
      const { applyHead, tokenRows } = await import('../../src/inference/head.js');
      const rt = await ModelRuntime.start(reloaded, { providers: ['cpu'], workers: 1, threadsPerWorker: 1, maxSequenceLength: 256, batchMaxSize: 8, batchMaxWaitMs: 0 }, quietLogger());
      const e = await rt.embed(TEXTS.map((text) => ({ text })));
      await rt.stop();
      return applyHead(again, e.features, TEXTS.length, tokenRows(TEXTS.map((_, i) => e.tokens.ids.subarray(e.tokens.offsets[i], e.tokens.offsets[i + 1]))));
    })();
    secondLogits.forEach((l, i) => l.forEach((x, k) => assert.ok(Math.abs(x - expected[i * again.numLabels + k]) < 1e-4, `re-export text ${i} label ${k}: ${x} vs ${expected[i * again.numLabels + k]}`)));
  });
});

describe('export of a lexical head on an imported BERT classifier, read by transformers.js', () => {
  let app: TestApp;
  let dir: string;
  const LABEL_MAP = { toxic: 'harassment', severe_toxic: null, insult: null, threat: 'violence', identity_hate: 'hate', obscene: null };
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-export-tfjs-'));
    app = await startTestApp({ policies: policies(reviewPolicy('default')) });
  });
  after(async () => {
    await app?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('transformers.js loads the export (tokenizer files included) and gives the served scores', async () => {
    const imported = await importModel({ sourceDir: await fixtureModelDir('bert', { seed: 5 }), outDir: path.join(dir, 'bert'), labelMap: LABEL_MAP, logger: quietLogger() });
    const { backbone, head: base } = await app.database.db.transaction().execute((trx) => registerBackbone(trx, imported.model, 'import', 'bert'));
    const head = tunedHead(base, imported.model, 4);
    const { id, results } = await activateAndServe(app, head, backbone.id, base.id, TEXTS);
    const out = await exportHead(imported.model, (await getHead(app.database.db, id))!, path.join(dir, 'export', 'tuned-bert'), 'bert');
    const files = (await fs.readdir(out)).sort();
    for (const f of ['config.json', 'model.onnx', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(files.includes(f), `${f} in ${files}`);

    const { env, AutoModelForSequenceClassification, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = path.join(dir, 'export');
    const tokenizer = await AutoTokenizer.from_pretrained('tuned-bert', { local_files_only: true });
    const model = await AutoModelForSequenceClassification.from_pretrained('tuned-bert', { local_files_only: true, subfolder: '', dtype: 'fp32', device: 'cpu' });
    const labels = imported.model.labels;
    for (let i = 0; i < TEXTS.length; i++) {
      const inputs = await tokenizer(TEXTS[i]);
      const logits = (await model(inputs)).logits.data as Float32Array;
      const p = (label: string) => sigmoid(logits[labels.indexOf(label)]);
      const served = results[i].category_scores;
      for (const [label, category] of [['toxic', 'harassment'], ['threat', 'violence'], ['identity_hate', 'hate']]) {
        assert.ok(Math.abs(p(label) - served[category]) < 1e-5, `'${TEXTS[i]}' ${category}: transformers.js ${p(label)} vs service ${served[category]}`);
      }
    }
    await model.dispose();
  });
});
