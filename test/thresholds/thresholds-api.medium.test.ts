/**
 * The advisor through the API, on a service whose every decision is audited blind: per category the
 * audited sample's size, precision and recall at the policy's threshold and along a curve, a suggestion
 * for a target; the what-if of a proposed threshold over the stored decisions, with the policy file's diff;
 * nothing changes until the file does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { makeTexts, moderateAndReview, waitForRun, type Reviewed } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';
import { categoryScoresOf } from '../../src/db/stored-columns.js';

for (const kind of testDatabases()) {
  describe(`threshold advisor (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    let marked = 0;
    let reviewed: Reviewed[] = [];
    let moderator = '';
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default', { blind: 'audit' }, { training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 } })) });
      const client = await app.key('client');
      moderator = await app.key('moderator');
      const texts = await makeTexts(120, 4);
      marked = texts.filter((t) => t.marked).length;
      reviewed = await moderateAndReview(app, client, moderator, texts);
    });
    after(async () => {
      await app?.close();
    });

    test('evidence per category: the audited sample, precision and recall at the flag threshold and along the curve', async () => {
      const r = await app.request.get('/v1/thresholds?category=violence').set(admin);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const [v] = r.body.categories;
      assert.equal(v.category, 'violence');
      assert.deepEqual(v.sample, { audited_items: 120, positives: marked, trusted_items: 0, left_out_other_backbone: 0 });
      assert.equal(v.flag, 0.5);
      assert.equal(v.at_flag.threshold, 0.5);
      const p = v.at_flag.precision;
      assert.ok(p.lower <= (p.estimate ?? 0) && (p.estimate ?? 1) <= p.upper);
      // Along the curve, a higher threshold never flags more.
      const flagged = v.curve.map((c: { flagged: number }) => c.flagged);
      assert.deepEqual(flagged, [...flagged].sort((a: number, b: number) => b - a));
      assert.equal(r.body.head.version, 1);
    });

    test('a target: a threshold with its interval above it, or why not', async () => {
      const r = await app.request.get('/v1/thresholds?category=violence&target_recall=0.5').set(admin);
      const s = r.body.categories[0].suggestion;
      assert.equal(s.met, true, JSON.stringify(s));
      assert.ok(s.point.recall.lower >= 0.5, JSON.stringify(s));
      // Precision 0.99 is beyond what the tiny model reaches on these texts: said, with no audit count promised.
      const hard = (await app.request.get('/v1/thresholds?category=violence&target_precision=0.99').set(admin)).body.categories[0].suggestion;
      assert.equal(hard.met, false);
      assert.equal(hard.reason, "no threshold's estimated precision reaches 0.99 on 120 audited items (60 flagged by moderators): more audits will not change that unless the head improves");
      assert.equal(hard.moreAudits, null);
      assert.equal((await app.request.get('/v1/thresholds?target_precision=1.5').set(admin)).status, 400);
      assert.equal((await app.request.get('/v1/thresholds?target_precision=0.9&target_recall=0.9').set(admin)).status, 400);
      assert.match((await app.request.get('/v1/thresholds?category=spam').set(admin)).body.error.message, /has no category 'spam'/);
    });

    test('what-if: decisions that would change action, with examples, and the policy diff; nothing changes', async () => {
      const scores = await app.database.db.selectFrom('decisions as d').select([categoryScoresOf('d').as('category_scores'), 'd.action']).execute();
      // Dropping violence's flag to 0: every decision not already flagged or blocked would be flagged.
      const r = await app.request.post('/v1/thresholds/what-if').set(admin).send({ thresholds: { violence: { flag: 0.01 } } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.decisions, scores.length);
      const toReview = scores.filter((d) => d.action === 'allow' && d.category_scores.violence >= 0.01).length;
      const move = r.body.changes.find((c: { move: string }) => c.move === 'allow→review');
      assert.equal(move?.decisions ?? 0, toReview);
      if (toReview) assert.ok(move.example_decision_ids.length > 0 && move.example_decision_ids.length <= 5);
      assert.equal(r.body.actions.proposed.review - r.body.actions.current.review, toReview);
      assert.match(r.body.policy_diff, /^--- default\.yaml\n\+\+\+ default\.yaml \(proposed\)\n@@ line \d+ @@\n-  violence: \{ flag: 0\.5, block: 0\.9 \}\n\+  violence: \{ flag: 0\.01, block: 0\.9 \}\n$/);
      assert.match(r.body.note, /Nothing changed/);
      const again = await app.request.get('/v1/thresholds?category=violence').set(admin);
      assert.equal(again.body.categories[0].flag, 0.5, 'the policy is unchanged');
      assert.equal((await app.request.post('/v1/thresholds/what-if').set(admin).send({ thresholds: { violence: { flag: 0.9, block: 0.5 } } })).status, 400);
      assert.equal((await app.request.post('/v1/thresholds/what-if').set(admin).send({ thresholds: {} })).status, 400);
    });

    test('a tuned head is judged only on audits it never trained on: the eval split', async () => {
      const run = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({})).body.id);
      assert.equal(run.status, 'promoted', `${run.status}: ${run.error}`);
      const r = await app.request.get('/v1/thresholds?category=violence').set(admin);
      assert.equal(r.body.head.version, 2);
      const evalItems = reviewed.filter((x) => x.split === 'eval');
      assert.deepEqual(r.body.categories[0].sample, { audited_items: evalItems.length, positives: evalItems.filter((x) => x.marked).length, trusted_items: 0, left_out_other_backbone: 0 });
      assert.ok(evalItems.length > 0 && evalItems.length < reviewed.length);
    });

    test('the trusted set in the sample: a trusted moderator’s blind eval-split audits, counted apart from the rest', async () => {
      // One reviewer per task: nothing is trusted until the moderator's key is. Then the base head's sample
      // (every audit: it trained on none) holds all 120, of which the eval split's are the trusted set.
      const keyId = (await app.request.get('/v1/me').set('Authorization', `Bearer ${moderator}`)).body.key_id;
      assert.equal((await app.request.post(`/v1/admin/api-keys/${keyId}/trust`).set(admin).send({ trusted: true })).status, 200);
      const base = (await app.request.get('/v1/models').set(admin)).body.data.find((h: { version: number }) => h.version === 1);
      const r = await app.request.get(`/v1/thresholds?category=violence&head_id=${base.id}`).set(admin);
      const evalItems = reviewed.filter((x) => x.split === 'eval').length;
      assert.deepEqual([r.body.categories[0].sample.audited_items, r.body.categories[0].sample.trusted_items], [120, evalItems]);
    });
  });
}
