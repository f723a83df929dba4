/**
 * The label-drift check end to end: a moderator who inverts one category (in both splits, as a real bad
 * batch would) is named, the run ends `held`, their labels leave training and evaluation, the other
 * moderator's labels still train, and an admin's decision is final and audited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const TRAINING = { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 };

for (const kind of testDatabases()) {
  describe(`label drift holds a bad batch (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    const moderators: Record<'honest' | 'inverting', { key: string; id: string }> = {} as never;
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default', {}, { training: TRAINING })) });
      client = await app.key('client');
      for (const name of ['honest', 'inverting'] as const) {
        const r = await app.request.post('/v1/admin/api-keys').set(admin).send({ name, role: 'moderator' });
        moderators[name] = { key: r.body.key, id: r.body.id };
      }
    });
    after(async () => {
      await app?.close();
    });
    const run = async (body: object = {}) => waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send(body)).body.id);

    test('a moderator inverting violence is named; the run is held; their labels stay out until an admin decides', async () => {
      // A first, clean batch and a run: the history the next batch is compared with.
      await moderateAndReview(app, client, moderators.honest.key, await makeTexts(200, 1));
      assert.equal((await run()).status, 'promoted');

      // The next batch: two moderators take turns; one says the opposite of the truth on violence.
      const texts = await makeTexts(200, 2);
      const truth = new Map<string, boolean>();
      for (let i = 0; i < texts.length; i += 50) {
        const chunk = texts.slice(i, i + 50);
        const m = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: chunk.map((t) => t.text) });
        m.body.results.forEach((r: { review_task_id: string }, k: number) => truth.set(r.review_task_id, chunk[k].marked));
      }
      let turn = 0;
      for (;;) {
        const who = turn++ % 2 === 0 ? moderators.honest : moderators.inverting;
        const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${who.key}`).send({ limit: 10 });
        if (claimed.body.data.length === 0) {
          const other = who === moderators.honest ? moderators.inverting : moderators.honest;
          const rest = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${other.key}`).send({ limit: 10 });
          if (rest.body.data.length === 0) break;
          claimed.body.data = rest.body.data;
        }
        for (const t of claimed.body.data as { id: string; decision: { categories: Record<string, boolean> }; lease: { moderator_key_id: string } }[]) {
          const holder = t.lease.moderator_key_id === moderators.honest.id ? moderators.honest : moderators.inverting;
          const violence = holder === moderators.inverting ? !truth.get(t.id) : truth.get(t.id)!;
          const v = await app.request
            .post(`/v1/review/tasks/${t.id}/verdict`)
            .set('Authorization', `Bearer ${holder.key}`)
            .send({ categories: { violence, harassment: t.decision.categories.harassment, hate: t.decision.categories.hate } });
          assert.equal(v.status, 200, JSON.stringify(v.body));
        }
      }

      const held = await run();
      assert.equal(held.status, 'held', `${held.status}: ${held.error}`);
      assert.match(held.error, new RegExp(`label drift: held 1 batch of labels .*moderator ${moderators.inverting.id}'s violence labels.* agree with the serving head's decision`));
      assert.equal(held.candidate_head_id, null, 'nothing trained');
      const holds = (await app.request.get('/v1/label-holds?status=held').set(admin)).body.data;
      assert.equal(holds.length, 1);
      assert.deepEqual([holds[0].category, holds[0].moderator_key_id, holds[0].training_run_id], ['violence', moderators.inverting.id, held.id]);
      assert.ok(holds[0].labels >= 50, String(holds[0].labels));
      assert.ok(held.data_snapshot.drift.rows.some((r: { moderator: string; finding: boolean }) => r.moderator === moderators.honest.id && !r.finding), 'the honest moderator was checked and passed');

      // The next run trains without the held labels (and evaluates without them): not held again.
      const next = await run();
      assert.equal(next.status, 'promoted', `${next.status}: ${next.error} ${JSON.stringify(next.gate?.reasons)}`);
      assert.equal(next.data_snapshot.held_out_labels > 0, true, 'the held labels stayed out');
      assert.equal(next.data_snapshot.held_out_labels, holds[0].labels);

      // The admin's decision: final, audited.
      const discard = await app.request.post(`/v1/label-holds/${holds[0].id}/discard`).set(admin).send({ note: 'moderator misread the guideline' });
      assert.equal(discard.status, 200, JSON.stringify(discard.body));
      assert.equal(discard.body.status, 'discarded');
      assert.equal(discard.body.note, 'moderator misread the guideline');
      const again = await app.request.post(`/v1/label-holds/${holds[0].id}/accept`).set(admin).send({});
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'hold_decided');
      assert.equal((await app.request.post(`/v1/label-holds/${crypto.randomUUID()}/accept`).set(admin).send({})).status, 404);
      assert.equal((await app.request.get('/v1/label-holds?status=bogus').set(admin)).status, 400);
      const audit = await app.database.db.selectFrom('audit_events').select(['action', 'subject_id']).where('action', '=', 'label_hold.discarded').execute();
      assert.deepEqual(audit, [{ action: 'label_hold.discarded', subject_id: holds[0].id }]);
      const forced = await run({ force: true });
      assert.equal(forced.data_snapshot.held_out_labels, holds[0].labels, 'discarded labels stay out for good');
    });

    test('a batch a little off is held on its own by the cumulative check; the honest batch before it is not', async () => {
      // Two more clean batches and runs (the first test's held labels stay discarded), then a batch in which
      // the honest moderator flips violence on every 9th task: under the nightly max_change, over the
      // cumulative one. The hold starts at this batch: the clean batch before it keeps its labels.
      await moderateAndReview(app, client, moderators.honest.key, await makeTexts(200, 3));
      assert.equal((await run()).status, 'promoted');
      await moderateAndReview(app, client, moderators.honest.key, await makeTexts(200, 4));
      const clean = await run();
      assert.equal(clean.status, 'promoted', `${clean.status}: ${clean.error}`);
      // The slices the check found nearest a hold (none held) stand beside the gate's decision, as its snapshot has them.
      assert.ok(Array.isArray(clean.data_snapshot.drift.near));
      assert.deepEqual(clean.gate.drift_near, clean.data_snapshot.drift.near);
      await moderateAndReview(app, client, moderators.honest.key, await makeTexts(240, 5), { invertEvery: 9 });
      const held = await run();
      assert.equal(held.status, 'held', `${held.status}: ${held.error}`);
      assert.match(held.error, /violence labels.* in this batch \(cumulative check's threshold\)/);
      const holds = (await app.request.get('/v1/label-holds?status=held').set(admin)).body.data;
      const mine = holds.filter((h: { training_run_id: string }) => h.training_run_id === held.id);
      assert.ok(mine.length >= 1);
      for (const h of mine) {
        assert.equal(h.from_label_id, clean.data_snapshot.max_label_id, 'the hold starts after the last clean run');
        assert.ok(h.labels <= 240, `${h.labels} labels held: only this batch's`);
      }
    });
  });
}
