/**
 * Export round trip: a head stored in the database, baked into a standalone ONNX model, gives the same
 * scores in a plain onnxruntime session as the service gave for the same text.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { v7 as uuidv7 } from 'uuid';
import { sigmoid } from '../../src/inference/head.js';
import { loadModelDir } from '../../src/inference/model-dir.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { exportHead } from '../../src/models/export/exporter.js';
import { getBackbone, getHead, insertHead } from '../../src/models/head.repository.js';
import { mulberry32 } from '../../src/random.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';

ort.env.logLevel = 'fatal';
const TEXTS = ['I will find you and kill you', 'have a nice day', 'you are a stupid idiot'];

describe('model export', () => {
  let app: TestApp;
  let dir: string;
  before(async () => {
    app = await startTestApp();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-export-'));
  });
  after(async () => {
    await app?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('export → onnxruntime gives the service’s scores for a tuned head', async () => {
    // A "tuned" head: the base head moved by seeded noise, registered and activated through the API.
    const active = app.server.ctx.models.active;
    const rng = mulberry32(3);
    const tuned = {
      numLabels: active.head.numLabels,
      dim: active.head.dim,
      weight: Float32Array.from(active.head.weight, (w) => w + (rng() - 0.5) * 2),
      bias: Float32Array.from(active.head.bias, (b) => b + (rng() - 0.5)),
    };
    const id = uuidv7();
    await insertHead(app.database.db, { id, backboneId: active.backbone.id, parentId: active.head.id, status: 'candidate', source: 'test', head: tuned });
    const act = await app.request.post(`/v1/models/${id}/activate`).set('Authorization', `Bearer ${ADMIN_KEY}`).send({});
    assert.equal(act.status, 200);
    const client = await app.key('client');
    const served = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: TEXTS });
    assert.equal(served.status, 200);

    const head = (await getHead(app.database.db, id))!;
    const backbone = (await getBackbone(app.database.db, head.backboneId))!;
    const model = await loadModelDir(backbone.path);
    const out = await exportHead(model, head, path.join(dir, 'tuned'), backbone.name);
    assert.deepEqual((await fs.readdir(out)).sort(), ['config.json', 'model.onnx', 'tokenizer.json']);
    const config = JSON.parse(await fs.readFile(path.join(out, 'config.json'), 'utf8'));
    assert.equal(config.modtune.export.head_id, id);
    assert.deepEqual(config.id2label, model.config.id2label);

    // A plain session on the exported file, fed as any runtime would feed it.
    const session = await ort.InferenceSession.create(path.join(out, 'model.onnx'), { executionProviders: ['cpu'] });
    const encoder = new SequenceEncoder(model.tokenizerJson, 256);
    for (let i = 0; i < TEXTS.length; i++) {
      const b = SequenceEncoder.pad([encoder.encode(TEXTS[i])], encoder.padId);
      const dims = [1, b.seqLen];
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', b.inputIds, dims),
        attention_mask: new ort.Tensor('int64', b.attentionMask, dims),
      };
      if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', b.tokenTypeIds, dims);
      const logits = (await session.run(feeds)).logits.data as Float32Array;
      model.labels.forEach((label, k) => {
        const exported = sigmoid(logits[k]);
        const service = served.body.results[i].category_scores[label];
        assert.ok(Math.abs(exported - service) < 1e-5, `${TEXTS[i]} / ${label}: exported ${exported} vs service ${service}`);
      });
    }
    await session.release();

    // The export is a normal model directory: it loads, and its graph's own classifier is the tuned head.
    const reloaded = await loadModelDir(out);
    assert.ok(reloaded.baseHead.weight.every((w, i) => Math.abs(w - tuned.weight[i]) < 1e-6));
    assert.notEqual(reloaded.sha256, model.sha256);
  });
});
