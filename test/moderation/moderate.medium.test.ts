import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bytesToFloat32 } from '../../src/inference/head.js';
import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { categoryFlagsOf, categoryScoresOf, textSha256Of } from '../../src/db/stored-columns.js';

for (const kind of testDatabases()) {
  describe(`POST /v1/moderate (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    before(async () => {
      app = await startTestApp({ db: kind });
      client = await app.key('client');
    });
    after(async () => {
      await app?.close();
    });

    const moderate = (body: unknown, key = client) =>
      app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send(body as object);

    test('scores a string, strings and objects with context; every result has all categories', async () => {
      const res = await moderate({
        input: ['have a nice day', { text: 'I will find you and kill you', context: 'the weather is lovely today', external_id: 'post-1' }],
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.policy.name, 'default');
      assert.match(res.body.policy.version, /^[0-9a-f]{16}$/);
      assert.match(res.body.model, /^modtune\/.+\/head-v1$/);
      assert.equal(res.headers['x-request-id'], res.body.id);
      const [nice, threat] = res.body.results;
      for (const r of res.body.results) {
        assert.deepEqual(Object.keys(r.categories).sort(), [...OPENAI_CATEGORIES].sort());
        assert.deepEqual(Object.keys(r.category_scores).sort(), [...OPENAI_CATEGORIES].sort());
        for (const s of Object.values(r.category_scores) as number[]) assert.ok(s >= 0 && s <= 1);
      }
      assert.equal(nice.action, 'allow');
      assert.equal(nice.flagged, false);
      assert.equal(threat.external_id, 'post-1');
      assert.ok(threat.category_scores.violence >= 0.5, `violence ${threat.category_scores.violence}`);
      assert.equal(threat.flagged, true);
      assert.notEqual(threat.action, 'allow');

      const single = await moderate({ input: 'have a nice day' });
      assert.equal(single.status, 200);
      assert.equal(single.body.results.length, 1);
    });

    test('every acknowledged decision is stored with scores, head and policy version; features and token ids only where it goes to review', async () => {
      const res = await moderate({ input: [{ text: 'I am going to kill you', context: 'hello world' }, 'have a nice day'] });
      assert.equal(res.status, 200);
      const active = app.server.ctx.models.active;
      assert.deepEqual(res.body.results.map((r: { review_task_id: string | null }) => r.review_task_id !== null), [true, false], 'the threat goes to review, the greeting does not');
      for (const r of res.body.results) {
        const row = await app.database.db
          .selectFrom('decisions as d')
          .innerJoin('content_items as i', 'i.id', 'd.item_id')
          .selectAll('d')
          .select(['i.text', 'i.context', textSha256Of('i').as('text_sha256'), categoryScoresOf('d').as('category_scores'), categoryFlagsOf('d').as('categories')])
          .where('d.id', '=', r.decision_id)
          .executeTakeFirstOrThrow();
        assert.equal(row.item_id, r.item_id);
        assert.equal(row.request_id, res.body.id);
        assert.equal(row.action, r.action);
        assert.deepEqual(row.category_scores, r.category_scores);
        assert.deepEqual(row.categories, r.categories);
        assert.equal(row.head_id, active.head.id);
        assert.equal(row.backbone_id, active.backbone.id);
        assert.equal(row.policy_name, 'default');
        assert.equal(row.policy_version, res.body.policy.version);
        if (r.review_task_id) {
          // What training reads is kept for an item that goes to review.
          const features = bytesToFloat32(row.features!);
          assert.equal(features.length, active.head.dim);
          assert.ok(features.some((x) => x !== 0));
          assert.ok(row.token_ids && row.token_ids.byteLength > 0);
        } else {
          // An item decided without review is never trained on: no features or token ids (a fifth of the bytes).
          assert.equal(row.features, null);
          assert.equal(row.token_ids, null);
        }
        assert.match(row.text_sha256, /^[0-9a-f]{64}$/);
      }
      const first = await app.database.db.selectFrom('content_items').select(['text', 'context']).where('id', '=', res.body.results[0].item_id).executeTakeFirstOrThrow();
      assert.deepEqual(first, { text: 'I am going to kill you', context: 'hello world' });
    });

    test('GET /v1/decisions/:id returns the stored decision', async () => {
      const res = await moderate({ input: [{ text: 'you are a stupid idiot', external_id: 'c-9' }] });
      const id = res.body.results[0].decision_id;
      const got = await app.request.get(`/v1/decisions/${id}`).set('Authorization', `Bearer ${client}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.id, id);
      assert.equal(got.body.external_id, 'c-9');
      assert.deepEqual(got.body.category_scores, res.body.results[0].category_scores);
      assert.deepEqual(got.body.policy, res.body.policy);
      assert.equal(got.body.model.head_version, 1);
      assert.ok(Date.parse(got.body.created_at) > 0);
      const missing = await app.request.get('/v1/decisions/01a2188c-0000-7000-8000-000000000000').set('Authorization', `Bearer ${client}`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'not_found');
      const junk = await app.request.get('/v1/decisions/not-a-uuid').set('Authorization', `Bearer ${client}`);
      assert.equal(junk.status, 404);
    });

    test('the same text scores the same alone and inside a padded batch', async () => {
      const alone = await moderate({ input: 'I hate you so much, you worthless loser' });
      const batched = await moderate({ input: ['hi', 'I hate you so much, you worthless loser', 'the quick brown fox jumps over the lazy dog'] });
      const a = alone.body.results[0].category_scores;
      const b = batched.body.results[1].category_scores;
      for (const c of OPENAI_CATEGORIES) assert.ok(Math.abs(a[c] - b[c]) < 1e-6, `${c}: ${a[c]} vs ${b[c]}`);
    });
  });
}
