/**
 * The post-promotion guard: when live verdicts on the new head's decisions agree with moderators less
 * than its predecessor would have (on the same stored features), the predecessor comes back by itself.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ADMIN_KEY, startTestApp, suiteApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { auditEvents } from '../helpers/factories.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';
import { waitFor } from '../helpers/wait.js';

/** Blind audits, the shipped gate, and the guard on: a 20-verdict window, at most 0.05 of agreement lost. */
const guardPolicies = () =>
  policies(
    reviewPolicy('default', { blind: 'audit' }, {
      training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 },
      gate: {},
      guard: { enabled: true, window_verdicts: 20, max_agreement_drop: 0.05 },
    }),
  );

for (const kind of testDatabases()) {
  describe(`promotion guard (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    suiteApp({
      db: kind,
      policies: guardPolicies(),
    }, (s) => ({ app, client, moderator } = s));

    const readyz = async () => (await app.request.get('/readyz')).body.model as { head_id: string; head_version: number };

    test('live agreement falls after a promotion → automatic rollback to the predecessor, audited', async () => {
      await moderateAndReview(app, client, moderator, await makeTexts(300, 1));
      const post = await app.request.post('/v1/training/runs').set('Authorization', `Bearer ${ADMIN_KEY}`).send({});
      const run = await waitForRun(app, post.body.id);
      assert.equal(run.status, 'promoted');
      const promoted = await readyz();
      assert.equal(promoted.head_id, run.candidate_head_id);
      const head = await app.request.get(`/v1/models/${run.candidate_head_id}`).set('Authorization', `Bearer ${ADMIN_KEY}`);
      assert.equal(head.body.metrics.guard.status, 'watching');

      // Moderators now disagree with what the new head learned (the predecessor agrees with them).
      await moderateAndReview(app, client, moderator, await makeTexts(30, 4), { invertAll: true });
      await waitFor(async () => (await readyz()).head_id === run.active_head_id, 'the guard to roll back to the predecessor', 10_000, 100);
      assert.equal((await readyz()).head_id, run.active_head_id, 'rolled back to the predecessor');

      const after = await app.request.get(`/v1/models/${run.candidate_head_id}`).set('Authorization', `Bearer ${ADMIN_KEY}`);
      const guard = after.body.metrics.guard;
      assert.equal(guard.status, 'rolled_back');
      assert.ok(guard.verdicts >= 20);
      assert.ok(guard.predecessor_agreement - guard.agreement > 0.05, JSON.stringify(guard));
      assert.equal(after.body.status, 'retired');
      const last = (await auditEvents(app.database.db, { action: 'head.activated' })).at(-1)!;
      assert.equal(last.actor, 'promotion guard');
      assert.match((last.details as { reason: string }).reason, /^promotion guard: live agreement/);
    });

    test('consistent live verdicts: the guard passes and the head stays', async () => {
      // Back to the tuned head's lineage with a fresh promotion: a new run on the same (now larger) data.
      const consistent = await startTestApp({
        db: kind,
        policies: guardPolicies(),
      });
      try {
        const c = await consistent.key('client');
        const m = await consistent.key('moderator');
        await moderateAndReview(consistent, c, m, await makeTexts(300, 1));
        const post = await consistent.request.post('/v1/training/runs').set('Authorization', `Bearer ${ADMIN_KEY}`).send({});
        const run = await waitForRun(consistent, post.body.id);
        assert.equal(run.status, 'promoted');
        await moderateAndReview(consistent, c, m, await makeTexts(30, 4));
        let guard: { status: string; agreement: number; predecessor_agreement: number } | undefined;
        await waitFor(
          async () => {
            guard = (await consistent.request.get(`/v1/models/${run.candidate_head_id}`).set('Authorization', `Bearer ${ADMIN_KEY}`)).body.metrics.guard;
            return guard?.status !== 'watching';
          },
          'the guard to reach a verdict',
          10_000,
          100,
        );
        assert.equal(guard?.status, 'passed', JSON.stringify(guard));
        assert.ok(guard!.agreement >= guard!.predecessor_agreement - 0.05);
        assert.equal((await consistent.request.get('/readyz')).body.model.head_id, run.candidate_head_id);
      } finally {
        await consistent.close();
      }
    });
  });
}
