/** Idempotency-Key: a retried request returns the original result and stores nothing twice. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

for (const kind of testDatabases()) {
  describe(`Idempotency-Key (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default')), env: { RATE_LIMIT_PER_SECOND: '0' } });
      client = await app.key('client');
      moderator = await app.key('moderator');
    });
    after(async () => {
      await app?.close();
    });
    const count = async (table: 'decisions' | 'content_items' | 'review_tasks' | 'reviews' | 'review_labels') =>
      Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(app.database.db)).rows[0].n);
    const moderate = (key: string | null, body: object, path = '/v1/moderate') => {
      const r = app.request.post(path).set('Authorization', `Bearer ${client}`);
      if (key) r.set('Idempotency-Key', key);
      return r.send(body);
    };

    test('/v1/moderate: a retry returns the original response and stores nothing', async () => {
      const before = await count('decisions');
      const first = await moderate('order-123', { input: ['I will find you and kill you', 'have a nice day'] });
      assert.equal(first.status, 200);
      assert.equal(first.headers['idempotent-replayed'], 'false');
      const again = await moderate('order-123', { input: ['I will find you and kill you', 'have a nice day'] });
      assert.equal(again.status, 200);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.deepEqual(again.body, first.body, 'the same ids, scores and review tasks');
      assert.equal((await count('decisions')) - before, 2);
      assert.equal(await count('content_items'), await count('decisions'));
    });

    test('the same key with another body is refused (422); another key is another request; no key, no replay', async () => {
      const a = await moderate('k-1', { input: 'have a nice day' });
      const reused = await moderate('k-1', { input: 'have a nicer day' });
      assert.equal(reused.status, 422);
      assert.equal(reused.body.error.code, 'idempotency_key_reused');
      const b = await moderate('k-2', { input: 'have a nice day' });
      assert.notEqual(b.body.results[0].decision_id, a.body.results[0].decision_id);
      const bad = await moderate('bad key with spaces', { input: 'x' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_idempotency_key');
      const plain1 = await moderate(null, { input: 'have a nice day' });
      const plain2 = await moderate(null, { input: 'have a nice day' });
      assert.notEqual(plain1.body.results[0].decision_id, plain2.body.results[0].decision_id);
      // Keys belong to an API key: another client's identical key is its own request.
      const other = await app.key('client');
      const theirs = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${other}`).set('Idempotency-Key', 'k-1').send({ input: 'have a nice day' });
      assert.equal(theirs.headers['idempotent-replayed'], 'false');
    });

    test('concurrent retries of one request: one is scored and stored, all get its answer', async () => {
      const before = await count('decisions');
      const body = { input: ['you are a stupid idiot'] };
      const all = await Promise.all(Array.from({ length: 6 }, () => moderate('burst-7', body)));
      assert.ok(all.every((r) => r.status === 200), all.map((r) => r.status).join(','));
      const ids = new Set(all.map((r) => r.body.results[0].decision_id));
      assert.equal(ids.size, 1, 'every retry got the decision that was stored');
      assert.equal((await count('decisions')) - before, 1);
    });

    test('/v1/moderations (OpenAI) honours the key too', async () => {
      const first = await moderate('oa-1', { input: 'have a nice day' }, '/v1/moderations');
      const again = await moderate('oa-1', { input: 'have a nice day' }, '/v1/moderations');
      assert.deepEqual(again.body, first.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
    });

    test('verdicts: a retry (also after the task closed) returns the original outcome; one review stored', async () => {
      const m = await moderate(null, { input: 'I will find you and kill you' });
      const taskId = m.body.results[0].review_task_id;
      let claimed: string[] = [];
      for (let i = 0; i < 20 && !claimed.includes(taskId); i++) {
        const c = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
        claimed = c.body.data.map((t: { id: string }) => t.id);
      }
      assert.ok(claimed.includes(taskId));
      const reviews = await count('reviews');
      const labels = await count('review_labels');
      const verdict = () =>
        app.request
          .post(`/v1/review/tasks/${taskId}/verdict`)
          .set('Authorization', `Bearer ${moderator}`)
          .set('Idempotency-Key', 'v-1')
          .send({ categories: { violence: false, harassment: true, hate: false } });
      const [a, b] = await Promise.all([verdict(), verdict()]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.deepEqual(a.body, b.body);
      assert.deepEqual([a.headers['idempotent-replayed'], b.headers['idempotent-replayed']].sort(), ['false', 'true']);
      const later = await verdict();
      assert.equal(later.status, 200, 'the task is closed, yet the retry gets its answer, not a 409');
      assert.deepEqual(later.body, a.body);
      assert.equal((await count('reviews')) - reviews, 1);
      assert.equal((await count('review_labels')) - labels, 3, 'one settled label per category, stored once');
      assert.equal(a.body.preference_pairs, 3);
      const without = await app.request
        .post(`/v1/review/tasks/${taskId}/verdict`)
        .set('Authorization', `Bearer ${moderator}`)
        .send({ categories: { violence: false, harassment: true, hate: false } });
      assert.equal(without.status, 409, 'without the key it is a new verdict on a closed task');
    });
  });
}
