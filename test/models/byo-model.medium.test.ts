/**
 * Bring your own model, through the service: an imported export is registered, activated explicitly,
 * serves /v1/moderate, and DPO tuning runs on it as on the starter model — including the items the
 * previous backbone scored, whose features are recomputed from their stored text.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import ort from 'onnxruntime-node';
import { sigmoid } from '../../src/inference/head.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { importModel } from '../../src/models/import/importer.js';
import { registerBackbone } from '../../src/models/model.service.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { quietLogger, testDatabases } from '../helpers/db.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

ort.env.logLevel = 'fatal';
const LABEL_MAP = { toxic: 'harassment', severe_toxic: 'harassment', insult: 'harassment', threat: 'violence', identity_hate: 'hate', obscene: null };

for (const kind of testDatabases()) {
  describe(`bring your own model (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    let dir: string;
    let starterName: string;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    before(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-byo-'));
      app = await startTestApp({
        db: kind,
        policies: policies(
          reviewPolicy('default', {}, {
            training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 },
          }),
        ),
      });
      client = await app.key('client');
      moderator = await app.key('moderator');
    });
    after(async () => {
      await app?.close();
      await fs.rm(dir, { recursive: true, force: true });
    });

    const register = async (outName: string, labelMap?: Record<string, string | null>, seed = 42) => {
      const r = await importModel({ sourceDir: await fixtureModelDir('bert', { seed }), outDir: path.join(dir, outName), labelMap, logger: quietLogger() });
      return app.database.db.transaction().execute((trx) => registerBackbone(trx, r.model, 'import', outName));
    };

    test('a policy the new labels cannot cover blocks activation, with the reason', async () => {
      const { head } = await register('bert-unmapped', undefined, 43);
      const res = await app.request.post(`/v1/models/${head.id}/activate`).set(admin).send({});
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'backbone_unusable');
      assert.match(res.body.error.message, /no model label feeds 'violence', 'harassment', 'hate'/);
      assert.equal((await app.request.get('/readyz')).body.model.head_version, 1, 'nothing changed');
    });

    test('feedback on the starter model, then an imported BERT is activated and serves /v1/moderate', async () => {
      starterName = (await app.request.get('/readyz')).body.model.backbone;
      // Reviewed items scored by the starter backbone: training on BERT will need their features again.
      await moderateAndReview(app, client, moderator, await makeTexts(120, 1));
      const { backbone, head } = await register('bert', LABEL_MAP);
      const res = await app.request.post(`/v1/models/${head.id}/activate`).set(admin).send({ reason: 'switch to BERT' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const ready = (await app.request.get('/readyz')).body.model;
      assert.equal(ready.backbone_id, backbone.id);
      assert.equal(ready.head_id, head.id);

      const text = 'you are a stupid idiot';
      const served = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: text });
      assert.equal(served.status, 200);
      assert.equal(served.body.model, 'modtune/bert/head-v1');
      // The scores are the export's own: its logits through the label map (max over mapped labels).
      const m = app.server.ctx.models.active.runtime.model;
      const session = await ort.InferenceSession.create(path.join(await fixtureModelDir('bert'), 'model.onnx'), { executionProviders: ['cpu'] });
      const enc = new SequenceEncoder(m.tokenizerJson, 256);
      const b = SequenceEncoder.pad([enc.encode(text)], enc.padId);
      const dims = [1, b.seqLen];
      const logits = (await session.run({
        input_ids: new ort.Tensor('int64', b.inputIds, dims),
        attention_mask: new ort.Tensor('int64', b.attentionMask, dims),
        token_type_ids: new ort.Tensor('int64', b.tokenTypeIds, dims),
      })).logits.data as Float32Array;
      await session.release();
      const p = (label: string) => sigmoid(logits[m.labels.indexOf(label)]);
      const scores = served.body.results[0].category_scores;
      assert.ok(Math.abs(scores.violence - p('threat')) < 1e-5);
      assert.ok(Math.abs(scores.hate - p('identity_hate')) < 1e-5);
      assert.ok(Math.abs(scores.harassment - Math.max(p('toxic'), p('severe_toxic'), p('insult'))) < 1e-5);

      // Rollback crosses backbones too: the starter model serves again, then BERT is reactivated.
      const rb = await app.request.post('/v1/models/rollback').set(admin);
      assert.equal(rb.status, 200, JSON.stringify(rb.body));
      assert.equal((await app.request.get('/readyz')).body.model.backbone, starterName);
      const back = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: text });
      assert.equal(back.body.model, `modtune/${starterName}/head-v1`);
      assert.equal((await app.request.post(`/v1/models/${head.id}/activate`).set(admin).send({})).status, 200);
      assert.equal((await app.request.get('/readyz')).body.model.backbone, 'bert');
    });

    test('DPO tuning runs on the imported backbone; earlier items get features recomputed, purged text is left out', async () => {
      await moderateAndReview(app, client, moderator, await makeTexts(120, 2));
      // Retention purged one earlier (starter-scored) item's text.
      const purged = await app.database.db
        .selectFrom('review_labels as p')
        .innerJoin('decisions as d', 'd.id', 'p.decision_id')
        .innerJoin('backbones as b', 'b.id', 'd.backbone_id')
        .select('p.item_id')
        .where('b.name', '!=', 'bert')
        .where('p.split', '=', 'train')
        .limit(1)
        .executeTakeFirstOrThrow();
      await app.database.db.updateTable('content_items').set({ text: null, text_purged_at: sql`now()` }).where('id', '=', purged.item_id).execute();

      const post = await app.request.post('/v1/training/runs').set(admin).send({});
      const run = await waitForRun(app, post.body.id);
      // It trains on the imported model. Hate's labels are the active head's own decisions (the tasks open with
      // them ticked and these moderators leave them), so its recall there is 100% by construction and the
      // candidate's losses show as a confident drop: the gate rejects it, naming hate.
      assert.equal(run.status, 'rejected', `${run.status}: ${run.error}`);
      assert.ok(run.candidate_head_id);
      assert.deepEqual(run.gate.checks.filter((c: { passed: boolean }) => !c.passed).map((c: { check: string }) => c.check), ['max_recall_drop:hate']);
      assert.ok(Math.abs(run.metrics.steps[0].loss - Math.LN2) < 1e-6);
      const snap = run.data_snapshot;
      assert.equal(snap.backbone_id, app.server.ctx.models.active.backbone.id);
      assert.ok(snap.features_recomputed > 0, JSON.stringify(snap));
      assert.ok(snap.left_out.text_purged >= 1, JSON.stringify(snap));
      // The recomputed features are kept: the next run reads them instead of running the model again.
      const again = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({ force: true })).body.id);
      assert.equal(again.data_snapshot.features_recomputed, 0, JSON.stringify(again.data_snapshot));
      assert.equal(again.data_snapshot.features_cached, snap.features_recomputed);
      assert.equal(again.data_snapshot.left_out.text_purged, snap.left_out.text_purged);
      const candidate = await app.request.get(`/v1/models/${run.candidate_head_id}`).set(admin);
      assert.equal(candidate.body.backbone.name, 'bert');
      assert.equal(candidate.body.backbone.feature_dim, 32);
    });

  });
}
