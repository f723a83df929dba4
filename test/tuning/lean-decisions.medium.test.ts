/**
 * A decision keeps the features and token ids training reads only when its item goes to review. An item
 * decided without review and appealed later is trained on with features recomputed from its stored text
 * (kept in item_features, so the next run reads them instead of running the model again).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ADMIN_KEY, suiteApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

for (const kind of testDatabases()) {
  describe(`decisions without review store no features; an appeal trains on recomputed ones (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    // Routing's random draw: below the audit rate every decision is audited, above it none is.
    let draw = 0.1;
    suiteApp({
      db: kind,
      policies: policies(reviewPolicy('default', { audit_rate: 0.5 }, { training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 } })),
      random: () => draw,
      env: { RATE_LIMIT_PER_SECOND: '0' },
    }, (s) => ({ app, client, moderator } = s));

    test('appealed items decided without review are recomputed once, then read from the cache', async () => {
      await moderateAndReview(app, client, moderator, await makeTexts(120, 1));

      draw = 0.9;
      const texts = await makeTexts(24, 2);
      const res = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: texts.map((t) => t.text) });
      assert.equal(res.status, 200);
      const results = res.body.results as { decision_id: string; item_id: string; review_task_id: string | null }[];
      assert.deepEqual(results.map((r) => r.review_task_id), texts.map(() => null), 'none of these goes to review');
      const stored = await app.database.db.selectFrom('decisions').select(['features', 'token_ids']).where('id', 'in', results.map((r) => r.decision_id)).execute();
      assert.deepEqual(stored, results.map(() => ({ features: null, token_ids: null })));

      // The client appeals each; a moderator answers with the truth.
      const truth = new Map<string, boolean>();
      for (const [k, r] of results.entries()) {
        const appeal = await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set('Authorization', `Bearer ${client}`).send({ reason: 'look again' });
        assert.equal(appeal.status, 201, JSON.stringify(appeal.body));
        truth.set(appeal.body.review_task_id, texts[k].marked);
      }
      for (;;) {
        const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
        if (claimed.body.data.length === 0) break;
        for (const t of claimed.body.data as { id: string; start: Record<string, boolean> }[]) {
          assert.ok(truth.has(t.id), 'only the appeals are open');
          const v = await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set('Authorization', `Bearer ${moderator}`).send({ categories: { ...t.start, violence: truth.get(t.id) } });
          assert.equal(v.status, 200, JSON.stringify(v.body));
        }
      }

      const first = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({})).body.id);
      assert.ok(first.candidate_head_id, `${first.status}: ${first.error}`);
      assert.equal(first.data_snapshot.features_recomputed, results.length, JSON.stringify(first.data_snapshot));
      const kept = await app.database.db.selectFrom('item_features').select('item_id').where('item_id', 'in', results.map((r) => r.item_id)).execute();
      assert.equal(kept.length, results.length, 'the recomputed features are kept');

      const second = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({ force: true })).body.id);
      assert.ok(second.candidate_head_id, `${second.status}: ${second.error}`);
      assert.equal(second.data_snapshot.features_recomputed, 0);
      assert.equal(second.data_snapshot.features_cached, results.length);
    });
  });
}
