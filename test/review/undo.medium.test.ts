/**
 * Undo of the last verdict: the moderator's own latest verdict on a task comes back (review and settled
 * labels removed, the task open and leased to them again, audited) until a training run has read its
 * labels; not someone else's, not an earlier one, not after training. And a moderator's own numbers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { labelSnapshot } from '../../src/review/settled-labels.repository.js';
import { updateRun } from '../../src/tuning/training.repository.js';
import { testDatabases } from '../helpers/db.js';
import { auditEvents, countRows, taskLabels, taskReviews, taskRow } from '../helpers/factories.js';
import { waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

for (const kind of testDatabases()) {
  describe(`undo the last verdict (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let mod: string;
    let other: string;
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default'), reviewPolicy('double', { audit_reviews_per_task: 2 })) });
      client = await app.key('client');
      mod = await app.key('moderator');
      other = await app.key('moderator');
    });
    after(async () => {
      await app?.close();
    });
    const as = (k: string) => ({ Authorization: `Bearer ${k}` });
    const claimOne = async (key: string) => {
      const c = await app.request.post('/v1/review/claim').set(as(key)).send({ limit: 1 });
      assert.equal(c.body.data.length, 1);
      return c.body.data[0] as { id: string; policy: { categories: string[] } };
    };
    const verdict = async (key: string, t: { id: string; policy: { categories: string[] } }, flagged: string[]) => {
      const categories = Object.fromEntries(t.policy.categories.map((c) => [c, flagged.includes(c)]));
      const v = await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set(as(key)).send({ categories });
      assert.equal(v.status, 200, JSON.stringify(v.body));
      return v.body;
    };

    test('a settled verdict comes back: review and labels gone, task open and leased to its moderator, audited; then it can be given again', async () => {
      await app.request.post('/v1/moderate').set(as(client)).send({ input: ['undo me'] });
      const t = await claimOne(mod);
      await verdict(mod, t, ['hate']);
      const db = app.database.db;
      assert.equal((await taskLabels(db, t.id)).length, 3);

      assert.equal((await app.request.post(`/v1/review/tasks/${t.id}/undo`).set(as(other))).status, 409, 'not the other moderator’s to undo');
      const u = await app.request.post(`/v1/review/tasks/${t.id}/undo`).set(as(mod));
      assert.equal(u.status, 200, JSON.stringify(u.body));
      assert.equal(u.body.id, t.id);
      assert.equal(u.body.status, 'open');
      assert.deepEqual(u.body.reviews, { required: 1, done: 0 });
      assert.ok(new Date(u.body.lease.expires_at).getTime() > Date.now(), 'leased again, with a fresh lease');
      const row = await taskRow(db, t.id);
      assert.equal(row.status, 'open');
      assert.equal(row.completed_at, null);
      assert.equal((await taskLabels(db, t.id)).length, 0);
      assert.equal((await taskReviews(db, t.id)).length, 0);
      const audit = await auditEvents(db, { subjectId: t.id, action: 'review.undone' });
      assert.equal(audit.length, 1);
      assert.equal((await app.request.post(`/v1/review/tasks/${t.id}/undo`).set(as(mod))).status, 409, 'nothing left to undo');

      // The moderator gives it again, differently: the new labels are what counts.
      const again = await verdict(mod, t, []);
      assert.equal(again.task_status, 'done');
      const labels = await taskLabels(db, t.id);
      assert.ok(labels.every((l) => l.label === false));
    });

    test('on a double-review task the first verdict comes back while the task waits; required reviews are restored', async () => {
      await app.request.post('/v1/moderate').set(as(client)).send({ input: ['two reviewers'], policy: 'double' });
      const t = await claimOne(mod);
      const first = await verdict(mod, t, ['violence']);
      assert.equal(first.task_status, 'open');
      const u = await app.request.post(`/v1/review/tasks/${t.id}/undo`).set(as(mod));
      assert.equal(u.status, 200);
      assert.deepEqual(u.body.reviews, { required: 2, done: 0 });
      // Both reviewers then settle it.
      await verdict(mod, t, ['violence']);
      const second = await verdict(other, await claimOne(other), ['violence']);
      assert.equal(second.task_status, 'done');
    });

    test('once a training run has read the labels, the verdict stays', async () => {
      await app.request.post('/v1/moderate').set(as(client)).send({ input: ['trained on'] });
      const t = await claimOne(mod);
      await verdict(mod, t, []);
      const db = app.database.db;
      const maxId = await labelSnapshot(db);
      const run = await app.request.post('/v1/training/runs').set(as(await app.key('admin'))).send({});
      assert.equal(run.status, 202);
      await waitForRun(app, run.body.id);
      // Whatever the run decided, it recorded what it read (a run skipped for too few pairs reads nothing).
      await updateRun(db, run.body.id, { dataSnapshot: { max_label_id: maxId } });
      const u = await app.request.post(`/v1/review/tasks/${t.id}/undo`).set(as(mod));
      assert.equal(u.status, 409);
      assert.equal(u.body.error.code, 'already_trained');
      assert.equal((await taskReviews(db, t.id)).length, 1, 'nothing removed');
    });

    test("a moderator's own numbers: verdicts in 24 h and 7 days, median handling, agreement with settled labels", async () => {
      const me = await app.request.get('/v1/review/stats/me').set(as(mod));
      assert.equal(me.status, 200);
      const reviews = await countRows(app.database.db, 'reviews', { moderator_key_id: me.body.key_id });
      assert.equal(me.body.verdicts.last_24h, reviews);
      assert.equal(me.body.verdicts.last_7_days, reviews);
      assert.equal(typeof me.body.median_handling_ms, 'number');
      // One double-reviewed task, settled as both reviewers said: its 3 categories, all matching.
      assert.deepEqual(me.body.agreement_with_settled, { cells: 3, rate: 1 });
      assert.equal((await app.request.get('/v1/review/stats/me').set(as(client))).status, 403);
    });
  });
}
