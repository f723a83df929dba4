/**
 * Safe promotion and rollback: a run promotes only if the head it started from is still active
 * (compare-and-swap), rollbacks walk back the activation history instead of toggling, a retried
 * rollback naming the head it rolls back from is refused, and a rejected head stays marked rejected.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { insertHead } from '../../src/models/head.repository.js';
import { ADMIN_KEY, suiteApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const TRAINING = { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 };

for (const kind of testDatabases()) {
  describe(`safe promotion and rollback (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    suiteApp({ db: kind, policies: policies(reviewPolicy('default', {}, { training: TRAINING })) }, (s) => ({ app, client, moderator } = s));
    const active = async () => (await app.request.get('/readyz')).body.model as { head_id: string; head_version: number };

    test('a rollback while a run trains makes the run superseded: it promotes nothing', async () => {
      await moderateAndReview(app, client, moderator, await makeTexts(200, 1));
      const first = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({})).body.id);
      assert.equal(first.status, 'promoted', JSON.stringify(first.gate));
      const promoted = (await active()).head_id;

      await moderateAndReview(app, client, moderator, await makeTexts(100, 2));
      const training = app.server.ctx.training;
      const runId = (await training.createRun('api'))!;
      let rolledBack: Promise<unknown> | null = null;
      const outcome = await training.execute(runId, (e) => {
        // Mid-run (the hyperparameter search has started): an admin rolls back.
        // (`.then` sends it now: a supertest request goes out only when it is awaited.)
        if (e.phase === 'selection' && !rolledBack) {
          rolledBack = app.request
            .post('/v1/models/rollback')
            .set(admin)
            .send({ reason: 'incident', expected_head_id: promoted })
            .then((r) => r);
        }
      });
      assert.ok(rolledBack, 'the run reported its search');
      assert.equal(((await rolledBack) as { status: number }).status, 200);
      assert.equal(outcome, 'superseded');
      const run = (await app.request.get(`/v1/training/runs/${runId}`).set(admin)).body;
      assert.equal(run.status, 'superseded');
      assert.equal(run.gate.passed, true, 'the gate passed; the swap did not');
      assert.match(run.error, /the active head changed during the run/);
      assert.equal((await active()).head_id, first.active_head_id, 'the rollback stands');
      const candidate = (await app.request.get(`/v1/models/${run.candidate_head_id}`).set(admin)).body;
      assert.equal(candidate.status, 'candidate');
    });

    test('rollbacks walk back the history; a retry naming the head it rolls back from is refused; a rejected head stays rejected', async () => {
      // Now: v1 active (the rollback above), history v1 → v2 (promoted) → v1 (rollback); v3 is the
      // superseded candidate. A head its gate rejected, v4:
      const a = app.server.ctx.models.active;
      const rejectedId = crypto.randomUUID();
      await insertHead(app.database.db, { id: rejectedId, backboneId: a.backbone.id, parentId: a.head.id, status: 'rejected', source: 'dpo', head: a.head, metrics: { gate_passed: false } });
      const heads = (await app.request.get('/v1/models').set(admin)).body.data as { id: string; version: number; status: string }[];
      const v = (n: number) => heads.find((h) => h.version === n)!;
      const v1 = v(1);
      const v2 = v(2);

      // Activate v2 by its version number, then a what-if on the superseded candidate (v3), then roll back twice.
      assert.equal((await app.request.post('/v1/models/2/activate').set(admin).send({ reason: 'back to v2' })).status, 200);
      assert.equal((await active()).head_version, 2);
      assert.equal((await app.request.post('/v1/models/3/activate').set(admin).send({ reason: 'what-if' })).status, 200);
      const first = await app.request.post('/v1/models/rollback').set(admin).send({ expected_head_id: v(3).id });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.active_head_id, v2.id);
      // The same request again: the head it names is no longer active, so nothing happens.
      const retry = await app.request.post('/v1/models/rollback').set(admin).send({ expected_head_id: v(3).id });
      assert.equal(retry.status, 409);
      assert.equal(retry.body.error.code, 'active_head_changed');
      assert.equal((await active()).head_version, 2, 'a retry does not flip back');
      // Another rollback steps back past v2's activation (from v1), not forward to v3.
      const second = await app.request.post('/v1/models/rollback').set(admin).send({});
      assert.equal(second.status, 200);
      assert.equal(second.body.active_head_id, v1.id);
      const third = await app.request.post('/v1/models/rollback').set(admin).send({});
      assert.equal(third.status, 409, 'v1 (the bootstrap head) has nothing before it');
      assert.equal(third.body.error.code, 'nothing_to_roll_back');

      // A head the gate rejected, activated by hand and then left, is still marked rejected.
      assert.equal((await app.request.post(`/v1/models/${rejectedId}/activate`).set(admin).send({})).status, 200);
      assert.equal((await app.request.post('/v1/models/rollback').set(admin).send({ expected_head_id: rejectedId })).status, 200);
      assert.equal((await active()).head_id, v1.id);
      assert.equal((await app.request.get(`/v1/models/${rejectedId}`).set(admin)).body.status, 'rejected');
      assert.equal((await app.request.post('/v1/models/999/activate').set(admin).send({})).status, 404);
      const activations = await app.database.db.selectFrom('head_activations').select(['reason', 'rollback']).orderBy('id').execute();
      assert.ok(activations.some((a) => a.rollback && a.reason === 'incident'));

      // The history as the API (and the dashboard) shows it: newest first, versions on both sides.
      const history = await app.request.get('/v1/models/activations?limit=3').set(admin);
      assert.equal(history.status, 200);
      assert.deepEqual(
        history.body.data.map((h: Record<string, unknown>) => [h.previous_version, h.head_version, h.rollback, h.reason]),
        [
          [4, 1, true, 'manual rollback'],
          [1, 4, false, 'manual activation'],
          [2, 1, true, 'manual rollback'],
        ],
      );
      assert.equal(history.body.data[0].head_id, v1.id);
      assert.equal(history.body.data[0].previous_head_id, rejectedId);
      assert.equal(typeof history.body.data[0].actor, 'string');
      assert.equal((await app.request.get('/v1/models/activations').set(admin)).body.data.length, activations.length);
      assert.equal((await app.request.get('/v1/models/activations?limit=0').set(admin)).status, 400);
    });
  });
}
