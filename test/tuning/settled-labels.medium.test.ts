/**
 * One dataset path: the latest settled label per item × category. An appeal that overturns a label
 * changes the training data: the earlier label no longer trains (no stale pair), and the cell is used
 * once (no double use), in training and in the preference-pair export alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { settledLabels } from '../../src/review/settled-labels.repository.js';
import { splitForText } from '../../src/review/split.js';
import { ADMIN_KEY, startTestApp, TEST_SPLIT_SALT, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { countRows } from '../helpers/factories.js';
import { waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

for (const kind of testDatabases()) {
  describe(`an appeal overturns a settled label (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default', {}, { training: { min_pairs: 1, l2: [1], folds: 3 }, gate: {} })) });
      client = await app.key('client');
      moderator = await app.key('moderator');
    });
    after(async () => {
      await app?.close();
    });

    const as = (key: string) => ({ Authorization: `Bearer ${key}` });
    const review = async (taskId: string, categories: Record<string, boolean>) => {
      for (let i = 0; i < 20; i++) {
        const c = await app.request.post('/v1/review/claim').set(as(moderator)).send({ limit: 50 });
        if (c.body.data.some((t: { id: string }) => t.id === taskId)) break;
      }
      const v = await app.request.post(`/v1/review/tasks/${taskId}/verdict`).set(as(moderator)).send({ categories });
      assert.equal(v.status, 200, JSON.stringify(v.body));
      return v.body;
    };

    test('the appeal’s label replaces the earlier one: one cell, the new label, in training and in the export', async () => {
      // An item in the train split (the split is a hash of the item's text).
      let r: { item_id: string; decision_id: string; review_task_id: string; categories: Record<string, boolean> } | undefined;
      for (let i = 0; i < 40 && !r; i++) {
        const text = `I will find you and kill you, take ${i}`;
        const m = await app.request.post('/v1/moderate').set(as(client)).send({ input: text });
        const x = m.body.results[0];
        if (splitForText(TEST_SPLIT_SALT, text, 0.2) === 'train') r = x;
        else await review(x.review_task_id, { violence: false, harassment: false, hate: false });
      }
      assert.ok(r, 'found a train-split item');
      const model = r.categories.violence;
      // The first reviewer overrules the model on violence (a preference pair against the model)...
      const first = await review(r.review_task_id, { violence: !model, harassment: r.categories.harassment, hate: r.categories.hate });
      assert.equal(first.disagreements, 1);
      // ...and the appeal sides with the model.
      const appeal = await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(client)).send({ reason: 'the first review was wrong' });
      assert.equal(appeal.status, 201, JSON.stringify(appeal.body));
      const second = await review(appeal.body.review_task_id, { violence: model, harassment: r.categories.harassment, hate: r.categories.hate });
      assert.equal(second.disagreements, 0);

      const cells = (await settledLabels(app.database.db)).filter((c) => c.item_id === r!.item_id);
      assert.equal(cells.length, 3, 'one label per category, not one per task');
      const violence = cells.filter((c) => c.category === 'violence');
      assert.equal(violence.length, 1);
      assert.equal(violence[0].label, model, 'the appeal’s label');
      assert.equal(violence[0].task_id, appeal.body.review_task_id);
      assert.equal(violence[0].reason, 'appeal');

      const exported = await app.request.get('/v1/preference-pairs').set(as(ADMIN_KEY));
      const pairs = exported.text.trim().split('\n').map((l) => JSON.parse(l)).filter((p) => p.item_id === r!.item_id && p.category === 'violence');
      assert.equal(pairs.length, 1, 'the overturned pair is not exported');
      assert.equal(pairs[0].chosen, model);
      assert.equal(pairs[0].agrees, true);

      // A snapshot taken before the appeal still sees the first label: snapshots are by settlement order.
      const beforeAppeal = (await settledLabels(app.database.db, { maxId: Number(violence[0].id) - 1 })).filter((c) => c.item_id === r!.item_id && c.category === 'violence');
      assert.equal(beforeAppeal.length, 1);
      assert.equal(beforeAppeal[0].label, !model);

      // Enough labels on both sides for every category to train (a category needs three of each)...
      const more = await app.request.post('/v1/moderate').set(as(client)).send({ input: Array.from({ length: 24 }, (_, i) => `another comment, number ${i}`) });
      for (const [i, x] of (more.body.results as { review_task_id: string }[]).entries()) {
        await review(x.review_task_id, { violence: i % 2 === 0, harassment: i % 2 === 1, hate: i % 3 === 0 });
      }
      // ...and the training run counts the appealed cell once.
      const all = await settledLabels(app.database.db);
      const run = await waitForRun(app, (await app.request.post('/v1/training/runs').set(as(ADMIN_KEY)).send({})).body.id);
      // 24 items of labels with no pattern the head could learn: the gate cannot tell on so few, and waits.
      assert.equal(run.status, 'rejected', `${run.status}: ${run.error}`);
      assert.equal(run.gate.evidence.verdict, 'undecided', JSON.stringify(run.gate.reasons));
      assert.equal(run.data_snapshot.settled_labels, all.length);
      assert.ok((await countRows(app.database.db, 'review_labels')) > all.length, 'the replaced labels are kept in history, just not trained on');
      const trainCells = all.filter((c) => c.split === 'train').length;
      assert.equal(run.data_snapshot.pairs, trainCells);
    });
  });
}

describe('a label map that feeds two categories from one model row', () => {
  let app: TestApp;
  before(async () => {
    const policy = reviewPolicy('default', {}, { training: { min_pairs: 1 }, labels: { violence: ['violence', 'harassment'] } });
    app = await startTestApp({ policies: policies(policy) });
  });
  after(async () => {
    await app?.close();
  });

  test('is not trained: the run names the categories and why, and trains the rest', async () => {
    const client = await app.key('client');
    const moderator = await app.key('moderator');
    // Twenty items (the split is a hash of each text: the same twenty every run), hate on every other one.
    const m = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: Array.from({ length: 20 }, (_, i) => `item ${i}`) });
    for (const [i, r] of (m.body.results as { review_task_id: string }[]).entries()) {
      await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
      await app.request.post(`/v1/review/tasks/${r.review_task_id}/verdict`).set('Authorization', `Bearer ${moderator}`).send({ categories: { violence: true, harassment: false, hate: i % 2 === 0 } });
    }
    const run = await waitForRun(app, (await app.request.post('/v1/training/runs').set('Authorization', `Bearer ${ADMIN_KEY}`).send({})).body.id);
    const skipped = run.data_snapshot.categories_skipped;
    assert.match(skipped.violence, /model label 'violence' also feeds 'harassment': their labels would train one head row against each other/);
    assert.match(skipped.harassment, /fed by 2 model labels \('harassment', 'violence'\)/);
    assert.equal(skipped.hate, undefined, 'hate trains');
    assert.ok(run.data_snapshot.pairs > 0 && run.data_snapshot.pairs <= 20, 'only hate cells train');
  });
});
