/** The review queue end to end through the HTTP API, on PGlite and (when configured) PostgreSQL. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { bytesToFloat32 } from '../../src/inference/head.js';
import { splitForText } from '../../src/review/split.js';
import { ADMIN_KEY, startTestApp, TEST_SPLIT_SALT, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { auditEvents, expireLease, taskLabels, taskReviews, taskRow } from '../helpers/factories.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

for (const kind of testDatabases()) {
  describe(`review queue (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let modA: string;
    let modB: string;
    let modC: string;
    before(async () => {
      app = await startTestApp({
        db: kind,
        policies: policies(
          reviewPolicy('default'),
          reviewPolicy('panel', { audit_reviews_per_task: 3 }),
          reviewPolicy('ties', { audit_reviews_per_task: 2, conflict_resolution: 'drop_ties' }),
          reviewPolicy('blind', { blind: 'audit' }),
          reviewPolicy('escalate', { audit_reviews_per_task: 2, ties: 'escalate' }),
        ),
      });
      client = await app.key('client');
      [modA, modB, modC] = [await app.key('moderator'), await app.key('moderator'), await app.key('moderator')];
    });
    after(async () => {
      await app?.close();
    });

    const as = (key: string) => ({ Authorization: `Bearer ${key}` });
    const moderate = async (input: unknown, policy = 'default') => {
      const r = await app.request.post('/v1/moderate').set(as(client)).send({ input, policy });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.results as { decision_id: string; item_id: string; review_task_id: string | null; categories: Record<string, boolean> }[];
    };
    const claim = async (key: string, body: object = {}) => {
      const r = await app.request.post('/v1/review/claim').set(as(key)).send(body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data as { id: string; reason: string; item: { text: string }; decision: { id: string; categories: Record<string, boolean> }; earlier_reviews: unknown[] }[];
    };
    const verdict = (key: string, id: string, categories: Record<string, unknown>, notes?: string) =>
      app.request.post(`/v1/review/tasks/${id}/verdict`).set(as(key)).send({ categories, ...(notes ? { notes } : {}) });
    /** Claims until `taskId` is in hand (other tasks claimed on the way are given back). */
    const claimTask = async (key: string, taskId: string) => {
      for (let i = 0; i < 50; i++) {
        const got = await claim(key, { limit: 50 });
        const others = got.filter((t) => t.id !== taskId);
        for (const o of others) await app.request.post(`/v1/review/tasks/${o.id}/release`).set(as(key));
        if (got.some((t) => t.id === taskId)) return;
      }
      assert.fail(`could not claim ${taskId}`);
    };

    test('a routed decision carries its review task id; the task shows content, scores, policy and reason', async () => {
      const [r] = await moderate([{ text: 'I will find you and kill you', context: 'the weather is lovely today' }]);
      assert.ok(r.review_task_id, 'audit_rate 1 routes every decision');
      const t = await app.request.get(`/v1/review/tasks/${r.review_task_id}`).set(as(modA));
      assert.equal(t.status, 200);
      assert.equal(t.body.reason, 'audit');
      assert.equal(t.body.status, 'open');
      assert.equal(t.body.item.text, 'I will find you and kill you');
      assert.equal(t.body.item.context, 'the weather is lovely today');
      assert.equal(t.body.decision.id, r.decision_id);
      assert.deepEqual(t.body.policy.categories, ['violence', 'harassment', 'hate']);
      assert.equal(typeof t.body.decision.category_scores.violence, 'number');
      assert.deepEqual(t.body.reviews, { required: 1, done: 0 });
    });

    test('verdict → labels, one preference pair per settled category (agreements too), with the decision’s features, in the item’s split', async () => {
      const [r] = await moderate('I will find you and kill you');
      assert.equal(r.categories.violence, true, 'the model flags violence');
      await claimTask(modA, r.review_task_id!);
      // The moderator disagrees on violence (not a threat) and on harassment (it is), agrees on hate.
      const v = await verdict(modA, r.review_task_id!, { violence: false, harassment: true, hate: r.categories.hate }, 'quote from a film');
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.equal(v.body.task_status, 'done');
      const expectedSplit = splitForText(TEST_SPLIT_SALT, 'I will find you and kill you', 0.2);
      assert.equal(v.body.split, expectedSplit);
      const expected = [
        { category: 'violence', chosen: false, rejected: true, agrees: false },
        { category: 'harassment', chosen: true, rejected: false, agrees: r.categories.harassment },
        { category: 'hate', chosen: r.categories.hate, rejected: !r.categories.hate, agrees: true },
      ];
      assert.equal(v.body.preference_pairs, 3);
      assert.equal(v.body.disagreements, expected.filter((e) => !e.agrees).length);

      const exported = await app.request.get('/v1/preference-pairs?format=jsonl').set(as(ADMIN_KEY));
      const pairs = exported.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((p) => p.decision_id === r.decision_id);
      assert.deepEqual(
        pairs.map((p) => ({ category: p.category, chosen: p.chosen, rejected: p.rejected, agrees: p.agrees })).sort((a, b) => b.category.localeCompare(a.category)),
        expected.sort((a, b) => b.category.localeCompare(a.category)),
      );
      const [reviewer] = await taskReviews(app.database.db, r.review_task_id!);
      for (const p of pairs) {
        assert.equal(p.split, expectedSplit);
        assert.equal(p.item_id, r.item_id);
        assert.equal(p.task_id, r.review_task_id);
        assert.equal(p.reason, 'audit');
        assert.deepEqual(p.reviewers, [reviewer.moderator_key_id], 'provenance: who settled it');
      }
      const labels = await app.database.db.selectFrom('review_labels').selectAll().where('decision_id', '=', r.decision_id).orderBy('category').execute();
      assert.deepEqual(
        labels.map((l) => [l.category, l.label, l.model_label]),
        [['harassment', true, r.categories.harassment], ['hate', r.categories.hate, r.categories.hate], ['violence', false, true]],
        'agreements are stored as labels too',
      );
      const split = await app.database.db.selectFrom('item_splits').selectAll().where('item_id', '=', r.item_id).executeTakeFirstOrThrow();
      assert.equal(split.split, expectedSplit);
      const review = await app.database.db.selectFrom('reviews').selectAll().where('id', '=', v.body.review_id).executeTakeFirstOrThrow();
      assert.equal(review.notes, 'quote from a film');
      assert.ok(review.handling_ms !== null && review.handling_ms >= 0);
    });

    test('a task is leased to one moderator at a time: others get 409, release returns it, expiry too', async () => {
      const [r] = await moderate('you are a stupid idiot');
      const id = r.review_task_id!;
      await claimTask(modA, id);
      const other = await claim(modB, { limit: 50 });
      assert.ok(!other.some((t) => t.id === id), 'a leased task is not handed to a second moderator');
      for (const o of other) await app.request.post(`/v1/review/tasks/${o.id}/release`).set(as(modB));
      const stolen = await verdict(modB, id, { violence: false, harassment: true, hate: false });
      assert.equal(stolen.status, 409);
      assert.equal(stolen.body.error.code, 'not_leaseholder');
      assert.match(stolen.body.error.message, /leased to another moderator/);
      const releaseOther = await app.request.post(`/v1/review/tasks/${id}/release`).set(as(modB));
      assert.equal(releaseOther.status, 409);

      // modA's claim again returns the task it already holds.
      assert.ok((await claim(modA, { limit: 50 })).some((t) => t.id === id));
      assert.equal((await app.request.post(`/v1/review/tasks/${id}/release`).set(as(modA))).status, 200);
      await claimTask(modB, id);
      // The lease runs out: the task goes back to the queue and modC may take it; modB may not submit.
      await expireLease(app.database.db, id);
      await claimTask(modC, id);
      assert.equal((await verdict(modB, id, { violence: false, harassment: true, hate: false })).status, 409);
      const ok = await verdict(modC, id, { violence: false, harassment: true, hate: false });
      assert.equal(ok.status, 200);
      const closed = await verdict(modC, id, { violence: false, harassment: true, hate: false });
      assert.equal(closed.status, 409);
      assert.equal(closed.body.error.code, 'task_closed');

      const audit = await auditEvents(app.database.db, { subjectId: id });
      const actions = audit.map((a) => a.action);
      assert.ok(actions.includes('review.claimed') && actions.includes('review.released') && actions.includes('review.verdict'), actions.join(','));
      assert.ok(audit.every((a) => a.actor_key_id), 'every event names its actor');
    });

    test('a verdict must cover exactly the task’s categories with booleans', async () => {
      const [r] = await moderate('have a nice day');
      await claimTask(modA, r.review_task_id!);
      const bad = async (categories: Record<string, unknown>, re: RegExp) => {
        const res = await verdict(modA, r.review_task_id!, categories);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'invalid_verdict');
        assert.match(res.body.error.message, re);
      };
      await bad({ violence: false, harassment: false }, /missing 'hate'/);
      await bad({ violence: false, harassment: false, hate: false, sexual: true }, /unknown 'sexual'/);
      await bad({ violence: 'no', harassment: false, hate: false }, /not true\/false: 'violence'/);
      const nul = await verdict(modA, r.review_task_id!, { violence: false, harassment: false, hate: false }, 'a\u0000b');
      assert.equal(nul.status, 400);
      assert.equal((await verdict(modA, r.review_task_id!, { violence: false, harassment: false, hate: false })).status, 200);
      assert.equal((await app.request.post('/v1/review/tasks/not-a-task/verdict').set(as(modA)).send({ categories: {} })).status, 404);
    });

    test('a task needing three reviewers takes verdicts from distinct moderators; conflicts are recorded', async () => {
      const [r] = await moderate('I will find you and kill you', 'panel');
      const id = r.review_task_id!;
      await claimTask(modA, id);
      assert.equal((await verdict(modA, id, { violence: true, harassment: true, hate: false })).body.task_status, 'open');
      assert.ok(!(await claim(modA, { limit: 50 })).some((t) => t.id === id), 'the same moderator does not get it twice');
      await claimTask(modB, id);
      assert.equal((await verdict(modB, id, { violence: false, harassment: true, hate: false })).body.task_status, 'open');
      await claimTask(modC, id);
      const last = await verdict(modC, id, { violence: true, harassment: false, hate: false });
      assert.equal(last.body.task_status, 'done');
      const byCat = Object.fromEntries(last.body.labels.map((l: { category: string }) => [l.category, l]));
      assert.deepEqual(byCat.violence, { category: 'violence', label: true, model_label: r.categories.violence, conflict: true });
      assert.equal(byCat.harassment.label, true);
      assert.equal(byCat.hate.conflict, false);
      const { conflict, reviews_done, status } = await taskRow(app.database.db, id);
      assert.deepEqual({ conflict, reviews_done, status }, { conflict: true, reviews_done: 3, status: 'done' });
      const [conflictEvent] = await auditEvents(app.database.db, { subjectId: id, action: 'review.conflict' });
      assert.deepEqual(conflictEvent?.details, { categories: ['violence', 'harassment'] });
    });

    test('drop_ties: a split panel leaves that category without a label and without a pair', async () => {
      const [r] = await moderate('I will find you and kill you', 'ties');
      const id = r.review_task_id!;
      await claimTask(modA, id);
      await verdict(modA, id, { violence: true, harassment: true, hate: true });
      await claimTask(modB, id);
      const v = await verdict(modB, id, { violence: false, harassment: true, hate: true });
      assert.equal(v.body.task_status, 'done');
      const violence = v.body.labels.find((l: { category: string }) => l.category === 'violence');
      assert.equal(violence.label, null);
      assert.equal(v.body.preference_pairs, 2, 'violence has no label, so no pair');
      const exported = await app.request.get('/v1/preference-pairs').set(as(ADMIN_KEY));
      const pairs = exported.text.trim().split('\n').map((l) => JSON.parse(l)).filter((p) => p.task_id === id);
      assert.deepEqual(pairs.map((p) => p.category).sort(), ['harassment', 'hate']);
    });

    test('blind audits: no model labels, scores or action before the verdict; the review records it; the appeal starts from the verdict', async () => {
      const [r] = await moderate('I will find you and kill you', 'blind');
      const t = await app.request.get(`/v1/review/tasks/${r.review_task_id}`).set(as(modA));
      assert.equal(t.body.blind, true);
      assert.deepEqual([t.body.decision.categories, t.body.decision.category_scores, t.body.decision.action, t.body.decision.flagged], [null, null, null, null]);
      assert.deepEqual(t.body.start, { violence: false, harassment: false, hate: false });
      await claimTask(modA, r.review_task_id!);
      const v = await verdict(modA, r.review_task_id!, { violence: true, harassment: false, hate: true });
      assert.equal(v.status, 200);
      const stored = await app.database.db.selectFrom('reviews').select('blind').where('id', '=', v.body.review_id).executeTakeFirstOrThrow();
      assert.equal(stored.blind, true);
      const appeal = await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(client)).send({ reason: 'please look again' });
      const a = await app.request.get(`/v1/review/tasks/${appeal.body.review_task_id}`).set(as(modB));
      assert.equal(a.body.blind, false, 'an appeal is about the decision: it shows it');
      assert.deepEqual(a.body.decision.categories, r.categories);
      assert.deepEqual(a.body.start, { violence: true, harassment: false, hate: true }, 'the previous verdict, not the model');
      assert.deepEqual(a.body.policy.categories, ['violence', 'harassment', 'hate'], 'in the policy’s order');
      const shown = await app.request.get(`/v1/review/tasks/${(await moderate('have a nice day'))[0].review_task_id}`).set(as(modA));
      assert.equal(shown.body.blind, false);
      assert.deepEqual(shown.body.start, shown.body.decision.categories, 'a task that is not blind starts from the model');
      // Leave the queue as the next tests expect it.
      for (const [who, task] of [
        [modB, a.body],
        [modA, shown.body],
      ] as const) {
        await claimTask(who, task.id);
        assert.equal((await verdict(who, task.id, task.start)).status, 200);
      }
    });

    test('ties: escalate asks one more moderator, whose verdict settles the label', async () => {
      const [r] = await moderate('I will find you and kill you', 'escalate');
      const id = r.review_task_id!;
      await claimTask(modA, id);
      await verdict(modA, id, { violence: true, harassment: true, hate: false });
      await claimTask(modB, id);
      const split = await verdict(modB, id, { violence: false, harassment: true, hate: false });
      assert.equal(split.status, 200);
      assert.equal(split.body.task_status, 'open', 'a 1–1 split on violence settles nothing');
      assert.equal(split.body.escalated, true);
      const { required_reviews, reviews_done, status } = await taskRow(app.database.db, id);
      assert.deepEqual({ required_reviews, reviews_done, status }, { required_reviews: 3, reviews_done: 2, status: 'open' });
      assert.deepEqual(await taskLabels(app.database.db, id), []);
      await claimTask(modC, id);
      const third = await verdict(modC, id, { violence: false, harassment: true, hate: false });
      assert.equal(third.body.task_status, 'done');
      const violence = third.body.labels.find((l: { category: string }) => l.category === 'violence');
      assert.deepEqual([violence.label, violence.conflict], [false, true], 'two of three say no');
      const [audit] = await auditEvents(app.database.db, { action: 'review.escalated', subjectId: id });
      assert.deepEqual(audit.details, { reviews: 2, required_reviews: 3 });
    });

    test('appeals: the client that asked opens a high-priority task; one open appeal per decision', async () => {
      const [r] = await moderate('have a nice day');
      const res = await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(client)).send({ reason: 'My post was <b>wrongly</b> blocked' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const again = await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(client)).send({ reason: 'again' });
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'appeal_open');
      const otherClient = await app.key('client');
      assert.equal((await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(otherClient)).send({ reason: 'x' })).status, 404);
      assert.equal((await app.request.get(`/v1/decisions/${r.decision_id}`).set(as(otherClient))).status, 404, 'clients see only their own decisions');
      assert.equal((await app.request.get(`/v1/decisions/${r.decision_id}`).set(as(modA))).status, 200, 'moderators see every decision');
      assert.equal((await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(client)).send({ reason: '  ' })).status, 400);
      assert.equal((await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(modA)).send({ reason: 'x' })).status, 403);
      // Highest priority: the next claim returns it first.
      const next = await claim(modB);
      assert.equal(next[0].id, res.body.review_task_id);
      assert.equal(next[0].reason, 'appeal');
      await app.request.post(`/v1/review/tasks/${next[0].id}/release`).set(as(modB));
      const t = await app.request.get(`/v1/review/tasks/${res.body.review_task_id}`).set(as(modA));
      assert.equal(t.body.appeal_reason, 'My post was <b>wrongly</b> blocked');
      const ev = await auditEvents(app.database.db, { subjectId: r.decision_id });
      assert.deepEqual(ev.map((e) => e.action), ['review.appealed']);
    });

    test('an appeal shows the earlier verdicts on its decision, notes included; other tasks show none', async () => {
      const [r] = await moderate('have a nice day');
      await claimTask(modA, r.review_task_id!);
      const own = await app.request.get(`/v1/review/tasks/${r.review_task_id}`).set(as(modA));
      assert.deepEqual(own.body.earlier_reviews, [], 'a first review sees no one else’s verdict');
      assert.equal((await verdict(modA, r.review_task_id!, { violence: false, harassment: true, hate: false }, 'borderline <i>insult</i>')).status, 200);
      const ap = await app.request.post(`/v1/decisions/${r.decision_id}/appeal`).set(as(client)).send({ reason: 'it was a joke' });
      assert.equal(ap.status, 201);
      const t = await app.request.get(`/v1/review/tasks/${ap.body.review_task_id}`).set(as(modB));
      assert.equal(t.body.earlier_reviews.length, 1);
      const [e] = t.body.earlier_reviews;
      assert.equal(e.task_id, r.review_task_id);
      assert.equal(e.reason, 'audit');
      assert.deepEqual(e.categories, { violence: false, harassment: true, hate: false });
      assert.equal(e.notes, 'borderline <i>insult</i>');
      const fresh = await app.key('moderator');
      const claimed = await claim(fresh, { limit: 50 });
      const mine = claimed.find((x) => x.id === ap.body.review_task_id);
      assert.ok(mine, 'the appeal was claimed');
      assert.deepEqual(mine.earlier_reviews, t.body.earlier_reviews, 'claim shows the same');
      for (const c of claimed) await app.request.post(`/v1/review/tasks/${c.id}/release`).set(as(fresh));
    });

    test('claim filters by reason and honours limit; bad claim bodies are 400', async () => {
      await moderate(['have a nice day', 'thanks for the help, see you tomorrow', 'the weather is lovely today']);
      const two = await claim(modC, { reasons: ['audit'], limit: 2 });
      assert.equal(two.length, 2);
      assert.ok(two.every((t) => t.reason === 'audit'));
      for (const t of two) await app.request.post(`/v1/review/tasks/${t.id}/release`).set(as(modC));
      assert.deepEqual(await claim(modC, { reasons: ['confirm'] }), []);
      for (const body of [{ limit: 0 }, { limit: 51 }, { reasons: ['nope'] }, { reasons: [] }, { limt: 1 }]) {
        const r = await app.request.post('/v1/review/claim').set(as(modC)).send(body);
        assert.equal(r.status, 400, JSON.stringify(body));
      }
    });

    test('role checks: clients cannot claim or review; moderators cannot create keys or export', async () => {
      assert.equal((await app.request.post('/v1/review/claim').set(as(client)).send({})).status, 403);
      assert.equal((await app.request.get('/v1/review/stats').set(as(client))).status, 403);
      assert.equal((await app.request.post('/v1/review/tasks/01a2188c-0000-7000-8000-000000000000/verdict').set(as(client)).send({ categories: {} })).status, 403);
      assert.equal((await app.request.post('/v1/review/claim').send({})).status, 401);
      assert.equal((await app.request.post('/v1/admin/api-keys').set(as(modA)).send({ name: 'x', role: 'admin' })).status, 403);
      assert.equal((await app.request.get('/v1/preference-pairs').set(as(modA))).status, 403);
      assert.equal((await app.request.post('/v1/review/claim').set(as(ADMIN_KEY)).send({ limit: 1 })).status, 200, 'admins may review');
    });

    test('stats: queue depth per reason, handling time, agreement between moderators and with the model', async () => {
      const r = await app.request.get('/v1/review/stats').set(as(modA));
      assert.equal(r.status, 200);
      assert.ok(r.body.queue.audit.open >= 1);
      assert.equal(r.body.queue_total, Object.values(r.body.queue as Record<string, { open: number }>).reduce((n, q) => n + q.open, 0));
      assert.equal(typeof r.body.median_handling_ms.all, 'number');
      // The 3-reviewer panel: violence yes/no/yes, so alpha is computable; kappa is null (three raters).
      const v = r.body.agreement.moderators.violence;
      assert.ok(v.items >= 2);
      assert.equal(typeof v.krippendorff_alpha, 'number');
      const m = r.body.agreement.moderators_vs_model.violence;
      assert.ok(m.items >= 3 && m.agreement >= 0 && m.agreement <= 1);
      assert.equal((await app.request.get('/v1/review/stats?days=0').set(as(modA))).status, 400);
    });

    test('export: pairs as JSON lines and in TRL form (prompt, chosen, rejected)', async () => {
      const jsonl = await app.request.get('/v1/preference-pairs?format=jsonl').set(as(ADMIN_KEY));
      assert.equal(jsonl.status, 200);
      assert.match(jsonl.headers['content-type'], /application\/x-ndjson/);
      const rows = jsonl.text.trim().split('\n').map((l) => JSON.parse(l));
      // One pair per item × category with a label (the latest, where an appeal settled it again).
      const count = Number(
        (await sql<{ n: number }>`select count(distinct (item_id, category)) as n from review_labels where label is not null`.execute(app.database.db)).rows[0].n,
      );
      assert.equal(rows.length, count);
      assert.ok(rows.length > 0);
      assert.ok(rows.every((p, i) => (i === 0 || p.id > rows[i - 1].id) && p.chosen !== p.rejected && !('text' in p)));

      const trl = await app.request.get('/v1/preference-pairs?format=trl&split=train').set(as(ADMIN_KEY));
      assert.equal(trl.status, 200);
      const t = trl.text.trim() ? trl.text.trim().split('\n').map((l) => JSON.parse(l)) : [];
      assert.equal(t.length, rows.filter((p) => p.split === 'train').length);
      for (const x of t) {
        assert.deepEqual(Object.keys(x).sort(), ['chosen', 'pair_id', 'prompt', 'rejected', 'split']);
        assert.ok(['yes', 'no'].includes(x.chosen) && x.chosen !== x.rejected);
        assert.match(x.prompt, /^Moderation category: \S+\nContent: /);
      }
      const paged = await app.request.get(`/v1/preference-pairs?after_id=${rows[0].id}&limit=1`).set(as(ADMIN_KEY));
      assert.equal(JSON.parse(paged.text.trim()).id, rows[1]?.id ?? undefined);
      assert.equal((await app.request.get('/v1/preference-pairs?format=csv').set(as(ADMIN_KEY))).status, 400);
    });
  });
}
