/**
 * Training end to end through the API: consistent moderator feedback promotes a head that beats the old
 * one on the eval split; a bad batch of labels is rejected by the gate and the active head stays.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ADMIN_KEY, suiteApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { auditEvents, countRows } from '../helpers/factories.js';
import { makeTexts, MARKED, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const TRAINING = { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7, shadow: true };

for (const kind of testDatabases()) {
  describe(`training runs (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    suiteApp({ db: kind, policies: policies(reviewPolicy('default', {}, { training: TRAINING })) }, (s) => ({ app, client, moderator } = s));

    const violenceOf = async (text: string) => {
      const r = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: text });
      return r.body.results[0].category_scores.violence as number;
    };
    const headVersion = async () => (await app.request.get('/readyz')).body.model.head_version as number;

    test('too few pairs: the run is skipped with the reason', async () => {
      const r = await app.request.post('/v1/training/runs').set(admin).send({});
      assert.equal(r.status, 202);
      const run = await waitForRun(app, r.body.id);
      assert.equal(run.status, 'skipped');
      assert.match(run.error, /too few preference pairs: 0 .* at least 10/);
      assert.equal(await headVersion(), 1);
    });

    test('consistent feedback: the run promotes a head that beats the active one on the eval split', async (t) => {
      const before = await violenceOf(`${MARKED} again`);
      const reviewed = await moderateAndReview(app, client, moderator, await makeTexts(300, 1));
      assert.ok(reviewed.filter((r) => r.split === 'eval').length >= 20);
      const post = await app.request.post('/v1/training/runs').set(admin).send({});
      assert.equal(post.status, 202);
      assert.equal(post.headers.location, `/v1/training/runs/${post.body.id}`);
      const run = await waitForRun(app, post.body.id);
      t.diagnostic(run.gate.checks.map((c: { detail: string }) => c.detail).join('; '));
      assert.equal(run.status, 'promoted', JSON.stringify(run.gate));
      assert.equal(run.trigger, 'api');
      // The first logged step of a sigmoid run is at policy = reference: loss ln 2.
      assert.ok(Math.abs(run.metrics.steps[0].loss - Math.LN2) < 1e-6, String(run.metrics.steps[0].loss));
      assert.equal(run.metrics.steps[0].step, 0);
      assert.equal(run.metrics.steps.at(-1).step, run.metrics.iterations);
      assert.ok(run.metrics.steps.at(-1)['rewards/margins'] > 0);
      // Each trained category: both experts, the L2 each chose from the grid by 3-fold cross-validation, the calibration.
      const violence = run.metrics.categories.find((c: { category: string }) => c.category === 'violence');
      assert.equal(violence.folds, 3);
      assert.deepEqual(violence.experts.map((e: { expert: string }) => e.expert), ['backbone', 'lexical']);
      for (const e of violence.experts) assert.ok(TRAINING.l2.includes(e.l2), JSON.stringify(e));
      assert.ok(violence.auprc > 0.9, JSON.stringify(violence));
      // The gate's evidence: the candidate ranks the eval items' violence better, with an interval over items.
      assert.equal(run.gate.evidence.verdict, 'better', JSON.stringify(run.gate.evidence));
      assert.equal(run.gate.evidence.items, run.eval_report.measure.items);
      // The test policy audits every decision (audit_rate 1): every item was certain to be reviewed, so each weighs 1.
      assert.deepEqual(run.gate.evidence.weighting, { scheme: 'inverse inclusion probability', items: run.eval_report.measure.items, effective_items: run.eval_report.measure.items, unweighted: run.eval_report.measure.items });
      const tasks = await app.database.db.selectFrom('review_tasks').select('inclusion_probability').execute();
      assert.ok(tasks.length > 0 && tasks.every((t) => t.inclusion_probability === 1), 'each task stores its chance of review');
      assert.equal(run.reference_head_id, run.data_snapshot.dpo_reference_head_id, 'the run records its DPO reference: the base head');
      assert.notEqual(run.reference_head_id, null);
      assert.equal(run.gate.evidence.sources.eval_items, run.eval_report.items);
      assert.ok(run.gate.evidence.sources.new_train_items > 100, 'the first night: every train item is new to the base head');
      assert.ok(run.eval_report.measure.candidate.auprc > run.eval_report.measure.active.auprc, JSON.stringify(run.eval_report.measure));
      assert.equal(run.data_snapshot.pairs >= 10, true);
      assert.ok(run.data_snapshot.max_label_id > 0);
      assert.equal(run.gate.passed, true);

      assert.equal(await headVersion(), 2, 'this process serves the promoted head at once');
      const after = await violenceOf(`${MARKED} again`);
      assert.ok(after > before, `violence for the marked text: ${before} → ${after}`);
      const head = await app.request.get(`/v1/models/${run.candidate_head_id}`).set(admin);
      assert.equal(head.status, 200);
      assert.equal(head.body.status, 'active');
      assert.equal(head.body.training_run.id, run.id);
      assert.equal(head.body.lineage.length, 1);
      assert.equal(head.body.lineage[0].id, run.active_head_id);
      assert.equal(head.body.hyperparameters.beta, 'auto');
      assert.deepEqual(head.body.hyperparameters.chosen.violence.experts.map((e: { l2: number }) => e.l2), violence.experts.map((e: { l2: number }) => e.l2));
      assert.equal(head.body.lexical_tokens, 0);
      assert.ok(head.body.ngrams.buckets > 0, 'the default trains an n-gram part');
      assert.deepEqual(head.body.ngrams.config, { buckets: 262144, word: [1, 2], char: [2, 5] });
      assert.ok(head.body.ngrams.labels.includes('violence'));
    });

    test('a bad batch of labels (both splits) is held before training; a candidate that cannot improve is rejected and the active head stays', async (t) => {
      const activeBefore = (await app.request.get('/readyz')).body.model.head_id;
      await moderateAndReview(app, client, moderator, await makeTexts(400, 2), { invertAll: true });
      const held = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({})).body.id);
      assert.equal(held.status, 'held', `${held.status}: ${held.error}`);
      assert.match(held.error, /label drift: .*violence labels.* agree with the serving head/);
      assert.equal((await app.request.get('/readyz')).body.model.head_id, activeBefore, 'nothing was trained or promoted');
      for (const h of (await app.request.get('/v1/label-holds?status=held').set(admin)).body.data) {
        assert.equal((await app.request.post(`/v1/label-holds/${h.id}/discard`).set(admin).send({})).status, 200);
      }
      // β = 100 without recalibration keeps the head at the reference (z = z_ref + u/β), which never
      // learned the marked texts: the gate compares it with the promoted head. (A strong L2 would not do:
      // calibration rescales a small reward, and ranking does not care about scale.)
      const post = await app.request.post('/v1/training/runs').set(admin).send({ force: true, hyperparameters: { beta: [100], calibration: 'none', select: false } });
      const run = await waitForRun(app, post.body.id);
      t.diagnostic(run.gate.checks.map((c: { detail: string }) => c.detail).join('; '));
      assert.equal(run.status, 'rejected', JSON.stringify(run.gate));
      assert.equal(run.gate.passed, false);
      assert.ok(run.gate.reasons.length > 0);
      assert.equal((await app.request.get('/readyz')).body.model.head_id, activeBefore, 'rollback: the active head is unchanged');
      const models = await app.request.get('/v1/models').set(admin);
      const candidate = models.body.data.find((h: { id: string }) => h.id === run.candidate_head_id);
      assert.equal(candidate.status, 'rejected');

      // Shadow scoring: the rejected candidate scores live traffic next to the active head.
      assert.equal(app.server.ctx.shadow.head?.id, run.candidate_head_id);
      const texts = await makeTexts(20, 9);
      await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: texts.map((x) => x.text) });
      await app.server.ctx.shadow.flush();
      const detail = await app.request.get(`/v1/models/${run.candidate_head_id}`).set(admin);
      assert.equal(detail.body.shadow.decisions, 20);
      assert.equal(detail.body.shadow.against_head_id, activeBefore);
      assert.ok(detail.body.shadow.action_differs >= 0 && detail.body.shadow.action_differs <= 20);
      assert.equal(typeof detail.body.shadow.action_difference_rate, 'number');
    });

    test('no new labels since the last run: the next run is skipped (the same data gives the same head) unless forced', async () => {
      const post = await app.request.post('/v1/training/runs').set(admin).send({});
      const run = await waitForRun(app, post.body.id);
      assert.equal(run.status, 'skipped');
      assert.match(run.error, /no new settled labels since training run .*force a run .*npm run train -- --force, or \{"force": true\} in POST \/v1\/training\/runs/);
      const forced = await app.request.post('/v1/training/runs').set(admin).send({ force: true, hyperparameters: { beta: 1, lexical: false } });
      assert.equal(forced.status, 202);
      const again = await waitForRun(app, forced.body.id);
      // β = 1 without the n-gram part keeps less of what the active head learned: confidently worse, rejected.
      assert.equal(again.status, 'rejected', `${again.status}: ${again.error}`);
      assert.equal(again.gate.evidence.verdict, 'worse', JSON.stringify(again.gate.reasons));
      assert.ok(again.gate.checks.some((c: { check: string; passed: boolean }) => c.check === 'auprc:violence' && !c.passed), 'and violence alone is confidently worse');
      assert.equal(again.data_snapshot.forced, true);
      for (const c of again.metrics.categories) assert.equal(c.beta, 1);
      assert.equal(again.metrics.ngram_weights, 0);
    });

    test('manual rollback and activation are atomic, audited and served at once', async () => {
      // The forced run above may have been promoted (v4) or not (v2 still active): rollback steps back one.
      const from = await headVersion();
      const history = (await app.request.get('/v1/models/activations').set(admin)).body.data as { head_version: number }[];
      const rb = await app.request.post('/v1/models/rollback').set(admin);
      assert.equal(rb.status, 200, JSON.stringify(rb.body));
      assert.equal(await headVersion(), history[1].head_version, 'the head active before the current one');
      const act = await app.request.post(`/v1/models/${rb.body.previous_head_id}/activate`).set(admin).send({ reason: 'back to the tuned head' });
      assert.equal(act.status, 200);
      assert.equal(await headVersion(), from);
      const events = await auditEvents(app.database.db, { action: 'head.activated' });
      assert.deepEqual(
        events.slice(-2).map((e) => (e.details as { reason: string }).reason),
        ['manual rollback', 'back to the tuned head'],
      );
      assert.equal(await countRows(app.database.db, 'head_versions', { status: 'active' }), 1);
      assert.equal((await app.request.post('/v1/models/01a2188c-0000-7000-8000-000000000000/activate').set(admin)).status, 404);
    });

    test('validation and roles of the training and registry endpoints', async () => {
      const moderatorAuth = { Authorization: `Bearer ${moderator}` };
      assert.equal((await app.request.post('/v1/training/runs').set(moderatorAuth).send({})).status, 403);
      assert.equal((await app.request.get('/v1/models').set(moderatorAuth)).status, 403);
      assert.equal((await app.request.post('/v1/models/rollback').set({ Authorization: `Bearer ${client}` })).status, 403);
      const bad = await app.request.post('/v1/training/runs').set(admin).send({ hyperparameters: { loss: 'bce' } });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /hyperparameters\.loss/);
      const unknown = await app.request.post('/v1/training/runs').set(admin).send({ hyperparameters: { epochz: 3 } });
      assert.equal(unknown.status, 400);
      const removed = await app.request.post('/v1/training/runs').set(admin).send({ hyperparameters: { anchor_weight: 0.1 } });
      assert.equal(removed.status, 400);
      assert.match(removed.body.error.message, /hyperparameters\.anchor_weight: anchor_weight was removed: .*l2/);
      const badList = await app.request.post('/v1/training/runs').set(admin).send({ hyperparameters: { beta: [] } });
      assert.equal(badList.status, 400);
      const removedEpochs = await app.request.post('/v1/training/runs').set(admin).send({ hyperparameters: { epochs: 3 } });
      assert.equal(removedEpochs.status, 400);
      assert.match(removedEpochs.body.error.message, /hyperparameters\.epochs: epochs was removed/);
      const together = await app.request.post('/v1/training/runs').set(admin).send({ hyperparameters: { rpo_alpha: 1 } });
      assert.equal(together.status, 400, 'beta auto (the policy’s) with rpo_alpha 1');
      assert.match(together.body.error.message, /beta auto needs rpo_alpha 0/);
      assert.equal((await app.request.get('/v1/training/runs/nope').set(admin)).status, 404);
      const list = await app.request.get('/v1/training/runs').set(admin);
      assert.equal(list.status, 200);
      // The API promises newest first (openapi.ts); that is checked on created_at, not on the statuses,
      // which each earlier test already checked for its own run.
      const runs = list.body.data as { status: string; created_at: string }[];
      const created = runs.map((r) => Date.parse(r.created_at));
      assert.deepEqual(created, [...created].sort((a, b) => b - a), 'newest first');
      // The tally of the runs the tests above made (each checked its own run's status): two skipped, one
      // held, one promoted, one rejected, and the forced re-run, promoted or rejected.
      const count = (status: string) => runs.filter((r) => r.status === status).length;
      assert.equal(runs.length, 6);
      assert.deepEqual({ skipped: count('skipped'), held: count('held') }, { skipped: 2, held: 1 });
      assert.ok(count('promoted') >= 1 && count('rejected') >= 1 && count('promoted') + count('rejected') === 3, runs.map((r) => r.status).join(','));
      // The list's summary columns come from the run's own record: its last logged step and its categories.
      for (const row of list.body.data as { id: string; status: string; final_loss: number | null; final_margin: number | null; logged_steps: number | null; categories: { category: string }[] | null }[]) {
        if (row.status !== 'promoted' && row.status !== 'rejected') {
          assert.equal(row.final_loss, null, `${row.status} run trained nothing`);
          continue;
        }
        const full = (await app.request.get(`/v1/training/runs/${row.id}`).set(admin)).body;
        assert.equal(row.logged_steps, full.metrics.steps.length);
        assert.equal(row.final_loss, full.metrics.steps.at(-1).loss);
        assert.equal(row.final_margin, full.metrics.steps.at(-1)['rewards/margins']);
        assert.deepEqual(row.categories?.map((c) => c.category), full.metrics.categories.map((c: { category: string }) => c.category));
      }
    });
  });
}
