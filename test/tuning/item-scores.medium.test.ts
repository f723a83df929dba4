/**
 * Out-of-fold scores for the verdicts a calibrated head did not serve (migration 0017). A deployment's
 * first night is served by the starter, whose scores are not calibrated, so the drift check could not
 * count its verdicts against expected flags, and on the second night a moderator's flags had no history
 * to be compared with. The first run now keeps each such train item's out-of-fold score (fold models that
 * never saw it, calibrated), and the second night's check counts night one against them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const TRAINING = { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 };

for (const kind of testDatabases()) {
  describe(`out-of-fold scores for the starter's verdicts (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default', {}, { training: TRAINING })) });
      client = await app.key('client');
    });
    after(async () => {
      await app?.close();
    });
    const run = async () => waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({})).body.id);
    const moderator = async (name: string) => (await app.request.post('/v1/admin/api-keys').set(admin).send({ name, role: 'moderator' })).body as { key: string; id: string };

    test("the first run keeps its train items' scores; the next night's moderator who never flags is counted against them", async () => {
      const honest = await moderator('honest');
      const night1 = await moderateAndReview(app, client, honest.key, await makeTexts(200, 1));
      const first = await run();
      assert.equal(first.status, 'promoted');
      // One score per night-one train item and category, from the first run; none for eval items.
      const kept = await app.database.db.selectFrom('item_scores').selectAll().where('category', '=', 'violence').execute();
      const train = new Set(night1.filter((r) => r.split === 'train').map((r) => r.itemId));
      assert.deepEqual(new Set(kept.map((k) => k.item_id)), train);
      assert.ok(kept.every((k) => k.training_run_id === first.id && k.score > 0 && k.score < 1));
      // Calibrated: the scores sum to about the number of marked (violence) items among them.
      const marked = night1.filter((r) => r.split === 'train' && r.marked).length;
      const expected = kept.reduce((a, k) => a + k.score, 0);
      assert.ok(Math.abs(expected - marked) < 0.1 * train.size, `expected ${expected.toFixed(1)} flags, ${marked} marked`);

      // Night two: a new key never flags violence.
      const never = await moderator('never flags');
      await moderateAndReview(app, client, never.key, await makeTexts(200, 2), { neverFlag: true });
      const second = await run();
      assert.equal(second.status, 'held');
      const row = (second.data_snapshot.drift.rows as { scope: string; category: string; against: string; moderator: string | null; history: { n: number }; finding: boolean }[]).find(
        (r) => r.scope === 'batch' && r.category === 'violence' && r.against === 'expected' && r.moderator === never.id,
      );
      // Its history is night one's train verdicts, scored out of fold (the starter's own scores do not count).
      assert.equal(row?.history.n, train.size);
      assert.equal(row?.finding, true);
    });
  });
}
