/**
 * DPO on a single-label (softmax) classifier with two labels (`neutral` / `violent`, no problem_type: a
 * softmax by transformers' rule): the category's probability is σ(z_violent − z_neutral), a Bernoulli in
 * that difference, and a run tunes it. The candidate serves a softmax whose `violent` mass is σ of the
 * fitted difference; the neutral row stays the base model's.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importModel } from '../../src/models/import/importer.js';
import { registerBackbone } from '../../src/models/model.service.js';
import { parsePolicy } from '../../src/policy/loader.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { quietLogger, testDatabases } from '../helpers/db.js';
import { makeTexts, waitForRun } from '../helpers/feedback.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';
import { policies, reviewPolicyYaml } from '../helpers/policies.js';
import { waitFor } from '../helpers/wait.js';

const POLICY = parsePolicy(
  'default',
  reviewPolicyYaml({}, { training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 } }, { violence: '{ flag: 0.5, block: 0.9 }' }),
);

for (const kind of testDatabases()) {
  describe(`DPO on a two-label softmax classifier (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let dir: string;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    before(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-softmax-'));
      app = await startTestApp({ db: kind, policies: policies(POLICY) });
    });
    after(async () => {
      await app?.close();
      await fs.rm(dir, { recursive: true, force: true });
    });

    test('a run on moderators’ labels is trained, not skipped; the candidate serves a softmax of the tuned difference', async () => {
      const src = await fixtureModelDir('bert', { labels: ['neutral', 'violent'], writeProblemType: false, seed: 11 });
      const r = await importModel({ sourceDir: src, outDir: path.join(dir, 'binary'), labelMap: { neutral: null, violent: 'violence' }, logger: quietLogger() });
      assert.equal(r.problemType, 'single_label');
      const { head } = await app.database.db.transaction().execute((trx) => registerBackbone(trx, r.model, 'import', 'binary'));
      assert.equal((await app.request.post(`/v1/models/${head.id}/activate`).set(admin).send({})).status, 200);
      const client = await app.key('client');
      const moderator = await app.key('moderator');
      const texts = await makeTexts(240, 3);
      const truth = new Map<string, boolean>();
      for (let i = 0; i < texts.length; i += 60) {
        const chunk = texts.slice(i, i + 60);
        const m = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: chunk.map((t) => t.text) });
        assert.equal(m.status, 200, JSON.stringify(m.body));
        m.body.results.forEach((x: { review_task_id: string }, k: number) => truth.set(x.review_task_id, chunk[k].marked));
      }
      for (;;) {
        const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
        if (claimed.body.data.length === 0) break;
        for (const t of claimed.body.data as { id: string }[]) {
          const v = await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set('Authorization', `Bearer ${moderator}`).send({ categories: { violence: truth.get(t.id) } });
          assert.equal(v.status, 200, JSON.stringify(v.body));
        }
      }
      const run = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({})).body.id);
      assert.equal(run.status, 'promoted', `${run.status}: ${run.error} ${JSON.stringify(run.gate?.reasons)}`);
      // The run's row says promoted when its transaction commits; the service swaps to the new head just
      // after (the head.promoted event). Probe once it serves it.
      const serving = async () => (await app.request.get('/readyz')).body.model?.head_id as string | undefined;
      await waitFor(async () => (await serving()) === run.candidate_head_id, 'the service to serve the promoted head', 10_000, 50);
      // The tuned model separates the marked texts from the plain ones that share their words.
      const probe = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['the weather is lovely today zebra', 'the weather is not lovely today zebra'] });
      const [marked, plain] = probe.body.results.map((x: { category_scores: { violence: number } }) => x.category_scores.violence);
      assert.ok(marked > 0.5 && plain < 0.5, `marked ${marked}, plain ${plain}`);
      const weights = (await app.request.get(`/v1/models/${run.candidate_head_id}/weights`).set(admin)).body;
      const base = (await app.request.get(`/v1/models/${head.id}/weights`).set(admin)).body;
      const row = (b64: string, r: number, dim: number) => {
        const b = Buffer.from(b64, 'base64');
        return [...new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))].slice(r * dim, (r + 1) * dim);
      };
      assert.equal(weights.num_labels, 2);
      assert.deepEqual(row(weights.weight, 0, weights.dim), row(base.weight, 0, base.dim), 'the neutral row is the base model’s');
      assert.notDeepEqual(row(weights.weight, 1, weights.dim), row(base.weight, 1, base.dim));
    });
  });
}
