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
import { spawnSync } from 'node:child_process';
import { addNgramLogits, sigmoid, type Head } from '../../src/inference/head.js';
import { DEFAULT_NGRAMS, NgramFeaturizer } from '../../src/inference/ngrams.js';
import { loadModelDir, type ModelDir } from '../../src/inference/model-dir.js';
import { ModelRuntime } from '../../src/inference/runtime.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { exportHead } from '../../src/models/export/exporter.js';
import { getBackbone, getHead, insertHead } from '../../src/models/head.repository.js';
import { importModel } from '../../src/models/import/importer.js';
import { registerBackbone } from '../../src/models/model.service.js';
import { mulberry32 } from '../../src/random.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { quietLogger, testDatabases } from '../helpers/db.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

ort.env.logLevel = 'fatal';
const TEXTS = ['I will find you and kill you', 'have a nice day', 'you are a stupid idiot, a stupid stupid idiot', ''];

/** Seeded n-gram weights on the buckets of TEXTS for `rows` (the part ONNX cannot carry). */
function withNgrams(head: Head, rows: number[], seed: number): Head {
  const rng = mulberry32(seed);
  const config = { ...DEFAULT_NGRAMS, buckets: 1 << 16 };
  const buckets = [...new Set(TEXTS.flatMap((t) => [...new NgramFeaturizer(config).row(t).index]))].sort((a, b) => a - b);
  return { ...head, ngrams: { config, rows: Int32Array.from(rows).sort(), buckets: Int32Array.from(buckets), weight: Float32Array.from({ length: buckets.length * rows.length }, () => (rng() - 0.5) * 6) } };
}

/** The n-gram logits of each text under the export's modtune_ngrams.py, when python3 is there (else null). */
async function pythonNgramLogits(dir: string, texts: string[]): Promise<number[][] | null> {
  const r = spawnSync('python3', [path.join(dir, 'modtune_ngrams.py'), dir], { input: JSON.stringify(texts), encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as number[][];
}

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

/** Every label of every text: sigmoid(logit) within 1e-5 of the service's score. */
const check = (labels: string[], texts: string[], got: Float32Array[], results: { category_scores: Record<string, number> }[], what: string) =>
  texts.forEach((text, i) =>
    labels.forEach((label, k) => {
      const service = results[i].category_scores[label];
      assert.ok(Math.abs(sigmoid(got[i][k]) - service) < 1e-5, `${what}: '${text}' / ${label}: ${sigmoid(got[i][k])} vs service ${service}`);
    }),
  );

for (const kind of testDatabases()) {
  describe(`model export (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let dir: string;
    before(async () => {
      app = await startTestApp({ db: kind });
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-export-lexical-'));
    });
    after(async () => {
      await app?.close();
      await fs.rm(dir, { recursive: true, force: true });
    });


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
}

for (const kind of testDatabases()) {
  describe(`export of a head with an n-gram part (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let dir: string;
    before(async () => {
      app = await startTestApp({ db: kind });
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-export-ngrams-'));
    });
    after(async () => {
      await app?.close();
      await fs.rm(dir, { recursive: true, force: true });
    });

    test('model.onnx carries the backbone and the linear part; the n-gram file adds the rest: onnxruntime + the file (in TypeScript and in its own Python) give the served scores; modtune reads it back', async () => {
      const active = app.server.ctx.models.active;
      const backbone = (await getBackbone(app.database.db, active.backbone.id))!;
      const model = await loadModelDir(backbone.path);
      const rows = [model.labels.indexOf('violence'), model.labels.indexOf('harassment')];
      const head = withNgrams({ ...tunedHead(active.head, model, 5), lexical: null }, rows, 6);
      const { id, results } = await activateAndServe(app, head, backbone.id, active.head.id, TEXTS);
      const stored = (await getHead(app.database.db, id))!;
      assert.deepEqual([...stored.ngrams!.buckets], [...head.ngrams!.buckets], 'the n-gram part is stored with the head');

      const out = await exportHead(model, stored, path.join(dir, 'tuned'), backbone.name);
      assert.deepEqual((await fs.readdir(out)).sort(), ['config.json', 'model.onnx', 'modtune_ngrams.json', 'modtune_ngrams.py', 'tokenizer.json']);
      const config = JSON.parse(await fs.readFile(path.join(out, 'config.json'), 'utf8'));
      assert.deepEqual(config.modtune.ngrams, { file: 'modtune_ngrams.json', python: 'modtune_ngrams.py' });
      assert.deepEqual(Object.keys(config.modtune.export.carries), ['model.onnx', 'modtune_ngrams.json']);
      assert.deepEqual(config.modtune.export.carries['model.onnx'], ['backbone', 'linear head']);
      const graph = await ortLogits(path.join(out, 'model.onnx'), model, TEXTS);

      // model.onnx alone gives other scores than the service: it does not carry the n-gram part...
      const C = model.labels.length;
      const fromFile = new Float64Array(TEXTS.length * C);
      addNgramLogits(stored.ngrams!, C, new NgramFeaturizer(stored.ngrams!.config).rows(TEXTS), TEXTS.length, fromFile);
      assert.ok(fromFile.some((x) => Math.abs(x) > 0.1), 'the n-gram part moves the logits: the checks below are not vacuous');
      // ...and with it, the served scores (≤ 1e-5).
      check(model.labels, TEXTS, graph.map((l, i) => Float32Array.from(l, (x, k) => x + fromFile[i * C + k])), results, 'onnxruntime + n-gram file');
      // The export's own Python computes the same n-gram logits from the file alone.
      const py = await pythonNgramLogits(out, TEXTS);
      if (py) {
        py.forEach((l, i) => l.forEach((x, k) => assert.ok(Math.abs(x - fromFile[i * C + k]) < 1e-6, `python, '${TEXTS[i]}' label ${k}: ${x} vs ${fromFile[i * C + k]}`)));
        // Past the 4,096-character cap, with astral characters, entities, a URL and a mention on the way.
        const long = [`${'I will find you 😀 &amp; @someone https://x.y/z '.repeat(120)} kill you`];
        const pyLong = (await pythonNgramLogits(out, long))!;
        const tsLong = new Float64Array(C);
        addNgramLogits(stored.ngrams!, C, new NgramFeaturizer(stored.ngrams!.config).rows(long), 1, tsLong);
        pyLong[0].forEach((x, k) => assert.ok(Math.abs(x - tsLong[k]) < 1e-6, `python, the long text, label ${k}: ${x} vs ${tsLong[k]}`));
        check(model.labels, TEXTS, graph.map((l, i) => Float32Array.from(l, (x, k) => x + py[i][k])), results, 'onnxruntime + modtune_ngrams.py');
      }

      // modtune reads the export back with its n-gram part; serving it gives the same scores.
      const reloaded = await loadModelDir(out);
      assert.deepEqual([...reloaded.baseHead.ngrams!.rows], [...rows].sort((a, b) => a - b));
      assert.deepEqual([...reloaded.baseHead.ngrams!.buckets], [...stored.ngrams!.buckets]);
      const runtime = await ModelRuntime.start(reloaded, { providers: ['cpu'], workers: 1, threadsPerWorker: 1, maxSequenceLength: 256, batchMaxSize: 8, batchMaxWaitMs: 0 }, quietLogger());
      assert.ok(runtime.verifiedMaxAbsDiff < 1e-4, 'the graph check leaves the n-gram part out');
      const e = await runtime.embed(TEXTS.map((text) => ({ text })), [reloaded.baseHead.ngrams!.config]);
      await runtime.stop();
      const { applyHead } = await import('../../src/inference/head.js');
      const again = applyHead(reloaded.baseHead, e.features, TEXTS.length, null, [...e.ngrams.values()][0]);
      check(model.labels, TEXTS, TEXTS.map((_, i) => Float32Array.from(again.subarray(i * C, (i + 1) * C))), results, 'the export served by modtune');
      // The n-gram file is part of the backbone's identity.
      assert.notEqual(reloaded.sha256, (await loadModelDir(await exportHead(model, { ...stored, ngrams: null }, path.join(dir, 'plain'), backbone.name))).sha256);
    });
  });
}

for (const kind of testDatabases()) {
  describe(`export of a lexical head on an imported BERT classifier, read by transformers.js (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let dir: string;
    const LABEL_MAP = { toxic: 'harassment', severe_toxic: null, insult: null, threat: 'violence', identity_hate: 'hate', obscene: null };
    before(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-export-tfjs-'));
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default')) });
    });
    after(async () => {
      await app?.close();
      await fs.rm(dir, { recursive: true, force: true });
    });

    test('transformers.js loads the export (tokenizer files included) and, with the n-gram file, gives the served scores', async () => {
      const imported = await importModel({ sourceDir: await fixtureModelDir('bert', { seed: 5 }), outDir: path.join(dir, 'bert'), labelMap: LABEL_MAP, logger: quietLogger() });
      const { backbone, head: base } = await app.database.db.transaction().execute((trx) => registerBackbone(trx, imported.model, 'import', 'bert'));
      const labels = imported.model.labels;
      const head = withNgrams(tunedHead(base, imported.model, 4), [labels.indexOf('toxic'), labels.indexOf('threat')], 7);
      const { id, results } = await activateAndServe(app, head, backbone.id, base.id, TEXTS);
      const stored = (await getHead(app.database.db, id))!;
      const out = await exportHead(imported.model, stored, path.join(dir, 'export', 'tuned-bert'), 'bert');
      const C = labels.length;
      const ngramLogits = new Float64Array(TEXTS.length * C);
      addNgramLogits(stored.ngrams!, C, new NgramFeaturizer(stored.ngrams!.config).rows(TEXTS), TEXTS.length, ngramLogits);
      const py = await pythonNgramLogits(out, TEXTS);
      const files = (await fs.readdir(out)).sort();
      for (const f of ['config.json', 'model.onnx', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(files.includes(f), `${f} in ${files}`);

      const { env, AutoModelForSequenceClassification, AutoTokenizer } = await import('@huggingface/transformers');
      env.allowRemoteModels = false;
      env.localModelPath = path.join(dir, 'export');
      const tokenizer = await AutoTokenizer.from_pretrained('tuned-bert', { local_files_only: true });
      const model = await AutoModelForSequenceClassification.from_pretrained('tuned-bert', { local_files_only: true, subfolder: '', dtype: 'fp32', device: 'cpu' });
      for (let i = 0; i < TEXTS.length; i++) {
        const inputs = await tokenizer(TEXTS[i]);
        const logits = (await model(inputs)).logits.data as Float32Array;
        // transformers.js runs model.onnx; the n-gram part comes from the export's file (its Python where python3 is installed).
        const extra = (k: number) => (py ? py[i][k] : ngramLogits[i * C + k]);
        const p = (label: string) => sigmoid(logits[labels.indexOf(label)] + extra(labels.indexOf(label)));
        const served = results[i].category_scores;
        for (const [label, category] of [['toxic', 'harassment'], ['threat', 'violence'], ['identity_hate', 'hate']]) {
          assert.ok(Math.abs(p(label) - served[category]) < 1e-5, `'${TEXTS[i]}' ${category}: transformers.js ${p(label)} vs service ${served[category]}`);
        }
      }
      await model.dispose();
    });
  });
}
