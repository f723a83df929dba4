/**
 * Context for a decision: the platform's author and thread ids are stored with the item; a task says why
 * it is in the queue (and, unless blind, which scores near which thresholds put it there) and lists the
 * same author's or thread's earlier items with their settled verdicts (and the model's action only when
 * the task is not blind).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { auditEvents } from '../helpers/factories.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

for (const kind of testDatabases()) {
  describe(`a task knows its subject (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default'), reviewPolicy('blind', { blind: 'audit' }), reviewPolicy('unsure', { audit_rate: 0, uncertainty_margin: 0.5, queue_flagged: false })) });
      client = await app.key('client');
      moderator = await app.key('moderator');
    });
    after(async () => {
      await app?.close();
    });
    const as = (key: string) => ({ Authorization: `Bearer ${key}` });

    const moderate = async (input: unknown[], policy = 'default') => {
      const r = await app.request.post('/v1/moderate').set(as(client)).send({ input, policy });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.results as { item_id: string; review_task_id: string }[];
    };
    const work = async (taskId: string, flagged: string[]) => {
      for (let i = 0; i < 10; i++) {
        const c = await app.request.post('/v1/review/claim').set(as(moderator)).send({ limit: 50 });
        const t = c.body.data.find((x: { id: string }) => x.id === taskId);
        if (t) {
          const categories = Object.fromEntries(t.policy.categories.map((cat: string) => [cat, flagged.includes(cat)]));
          const v = await app.request.post(`/v1/review/tasks/${taskId}/verdict`).set(as(moderator)).send({ categories });
          assert.equal(v.status, 200, JSON.stringify(v.body));
          for (const other of c.body.data) if (other.id !== taskId) await app.request.post(`/v1/review/tasks/${other.id}/release`).set(as(moderator));
          return;
        }
      }
      throw new Error(`task ${taskId} never came`);
    };

    test('author and thread are stored; the history lists the subject’s earlier items, newest first, with verdicts', async () => {
      const [a] = await moderate([{ text: 'first post by u1', author_id: 'u1', thread_id: 't1', external_id: 'p1' }]);
      const [b] = await moderate([{ text: 'second post by u1, elsewhere', author_id: 'u1', thread_id: 't2', external_id: 'p2' }]);
      const [c] = await moderate([{ text: 'someone else in t1', author_id: 'u2', thread_id: 't1' }]);
      await moderate([{ text: 'unrelated', author_id: 'u3', thread_id: 't3' }]);
      await work(a.review_task_id, ['harassment']);
      await work(b.review_task_id, []);
      const [d] = await moderate([{ text: 'third post by u1 in t1', author_id: 'u1', thread_id: 't1', external_id: 'p4' }]);

      const task = (await app.request.get(`/v1/review/tasks/${d.review_task_id}`).set(as(moderator))).body;
      assert.deepEqual([task.item.author_id, task.item.thread_id, task.item.external_id], ['u1', 't1', 'p4']);
      assert.deepEqual(
        task.history.map((h: { item_id: string; relation: string; verdict: string[] | null }) => [h.item_id, h.relation, h.verdict]),
        [
          [c.item_id, 'thread', null],
          [b.item_id, 'author', []],
          [a.item_id, 'author and thread', ['harassment']],
        ],
      );
      assert.equal(task.history[2].text, 'first post by u1');
      assert.ok(task.history.every((h: { action: string | null }) => ['allow', 'review', 'block'].includes(String(h.action))), 'not blind: the model’s action shows');
      assert.match(task.why.summary, /random sample of all decisions \(audit\)/);

      const stored = await app.database.db.selectFrom('content_items').select(['author_id', 'thread_id']).where('id', '=', d.item_id).executeTakeFirstOrThrow();
      assert.deepEqual(stored, { author_id: 'u1', thread_id: 't1' });
      // Without ids there is no subject, so no history.
      const [e] = await moderate(['no ids at all']);
      assert.deepEqual((await app.request.get(`/v1/review/tasks/${e.review_task_id}`).set(as(moderator))).body.history, []);
    });

    test('a blind task shows the subject’s verdicts but no model output; an uncertain task names its scores and thresholds', async () => {
      const [x] = await moderate([{ text: 'blind subject one', author_id: 'ub' }], 'blind');
      await work(x.review_task_id, ['hate']);
      const [y] = await moderate([{ text: 'blind subject two', author_id: 'ub' }], 'blind');
      const blind = (await app.request.get(`/v1/review/tasks/${y.review_task_id}`).set(as(moderator))).body;
      assert.equal(blind.blind, true);
      assert.deepEqual(blind.history.map((h: { verdict: string[]; action: string | null }) => [h.verdict, h.action]), [[['hate'], null]]);
      assert.equal(blind.why.categories.length, 0);

      const [u] = await moderate(['I will find you and kill you'], 'unsure');
      const unsure = (await app.request.get(`/v1/review/tasks/${u.review_task_id}`).set(as(moderator))).body;
      assert.equal(unsure.reason, 'uncertain');
      assert.match(unsure.why.summary, /^the model was unsure, near a flag threshold: \w+ 0\.\d\d \(flag at 0\.5 ± 0\.5\)/);
      assert.ok(unsure.why.categories.length > 0);
      for (const c of unsure.why.categories) {
        assert.equal(c.kind, 'flag');
        assert.equal(c.threshold, 0.5);
        assert.equal(c.score, unsure.decision.category_scores[c.category]);
        assert.ok(Math.abs(c.score - 0.5) <= 0.5);
      }
    });

    test('bad ids are refused naming the field', async () => {
      for (const [input, message] of [
        [{ text: 'x', author_id: '' }, /input\[0\]\.author_id must not be empty/],
        [{ text: 'x', thread_id: 7 }, /input\[0\]\.thread_id must be a string, got number/],
        [{ text: 'x', author_id: 'a'.repeat(257) }, /input\[0\]\.author_id is 257 characters; the limit is 256/],
      ] as const) {
        const r = await app.request.post('/v1/moderate').set(as(client)).send({ input: [input] });
        assert.equal(r.status, 400, JSON.stringify(input));
        assert.match(r.body.error.message, message);
      }
    });
  });
}

describe('escalation to a senior moderator, and comments on a subject', () => {
  let app: TestApp;
  let client: string;
  let mod: string;
  let senior: string;
  let seniorId: string;
  before(async () => {
    app = await startTestApp({ policies: policies(reviewPolicy('default')) });
    client = await app.key('client');
    mod = await app.key('moderator');
    const admin = { Authorization: `Bearer ${await app.key('admin')}` };
    const created = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'senior moderator', role: 'moderator' });
    senior = created.body.key;
    seniorId = created.body.id;
    assert.equal((await app.request.post(`/v1/admin/api-keys/${seniorId}/trust`).set(admin).send({ trusted: true })).status, 200);
  });
  after(async () => {
    await app?.close();
  });
  const as = (key: string) => ({ Authorization: `Bearer ${key}` });

  test('an escalated task leaves the ordinary queue, goes first to seniors, and says who sent it up and why; audited', async () => {
    await app.request.post('/v1/moderate').set(as(client)).send({ input: [{ text: 'hard case', author_id: 'ax' }, { text: 'easy case', author_id: 'ay' }] });
    const first = (await app.request.post('/v1/review/claim').set(as(mod)).send({ limit: 1 })).body.data[0];
    assert.equal(first.item.text, 'hard case');
    assert.equal((await app.request.post(`/v1/review/tasks/${first.id}/escalate`).set(as(mod)).send({ comment: '' })).status, 400);
    const e = await app.request.post(`/v1/review/tasks/${first.id}/escalate`).set(as(mod)).send({ comment: 'coded slur? not sure' });
    assert.equal(e.status, 200, JSON.stringify(e.body));
    // The ordinary moderator does not get it back; the senior gets it first.
    const again = (await app.request.post('/v1/review/claim').set(as(mod)).send({ limit: 5 })).body.data;
    assert.deepEqual(again.map((t: { item: { text: string } }) => t.item.text), ['easy case']);
    for (const t of again) await app.request.post(`/v1/review/tasks/${t.id}/release`).set(as(mod));
    const s = (await app.request.post('/v1/review/claim').set(as(senior)).send({ limit: 1 })).body.data[0];
    assert.equal(s.id, first.id);
    assert.equal(s.escalation.comment, 'coded slur? not sure');
    assert.match(String(s.escalation.by), /moderator/);
    const audit = await auditEvents(app.database.db, { subjectId: first.id, action: 'review.escalated_to_senior' });
    assert.equal(audit.length, 1);
    await app.request.post(`/v1/review/tasks/${s.id}/release`).set(as(senior));
    // Only the lease holder escalates.
    assert.equal((await app.request.post(`/v1/review/tasks/${s.id}/escalate`).set(as(mod)).send({ comment: 'x' })).status, 409);
  });

  test("a comment on a task shows on the subject's other tasks, and in the item's data-subject view", async () => {
    await app.request.post('/v1/moderate').set(as(client)).send({ input: [{ text: 'c1', author_id: 'az', thread_id: 'tz' }, { text: 'c2', author_id: 'az' }, { text: 'c3', thread_id: 'tz' }] });
    const tasks = (await app.request.post('/v1/review/claim').set(as(mod)).send({ limit: 10 })).body.data as { id: string; item: { id: string; text: string } }[];
    const byText = new Map(tasks.map((t) => [t.item.text, t]));
    const c = await app.request.post(`/v1/review/tasks/${byText.get('c1')!.id}/comments`).set(as(mod)).send({ comment: 'this account posts the same thing everywhere' });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const view = async (text: string) => (await app.request.get(`/v1/review/tasks/${byText.get(text)!.id}`).set(as(mod))).body.comments as { about: string; text: string }[];
    assert.deepEqual((await view('c1')).map((x) => x.about), ['this item']);
    assert.deepEqual((await view('c2')).map((x) => x.about), ['author']);
    assert.deepEqual((await view('c3')).map((x) => x.about), ['thread']);
    // A claim of several tasks gives each its own subject's comments (one statement for them all).
    const claimed = (await app.request.post('/v1/review/claim').set(as(mod)).send({ limit: 10 })).body.data as { item: { text: string }; comments: { about: string }[] }[];
    const abouts = new Map(claimed.map((t) => [t.item.text, t.comments.map((x) => x.about)]));
    assert.deepEqual([abouts.get('c1'), abouts.get('c2'), abouts.get('c3')], [['this item'], ['author'], ['thread']]);
    assert.deepEqual(claimed.filter((t) => !['c1', 'c2', 'c3'].includes(t.item.text)).flatMap((t) => t.comments), []);
    assert.ok(claimed.length > 3, `${claimed.length} tasks claimed`);
    const item = await app.request.get(`/v1/items/${byText.get('c1')!.item.id}`).set(as(await app.key('admin')));
    assert.deepEqual(item.body.comments.map((x: { text: string }) => x.text), ['this account posts the same thing everywhere']);
    assert.equal((await app.request.post(`/v1/review/tasks/${byText.get('c1')!.id}/comments`).set(as(mod)).send({ comment: '   ' })).status, 400);
    assert.equal((await app.request.post(`/v1/review/tasks/${byText.get('c1')!.id}/comments`).set(as(client)).send({ comment: 'x' })).status, 403);
  });
});
