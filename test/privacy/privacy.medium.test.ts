/**
 * Privacy: retention purges raw text but keeps labels, features and pairs (training still works);
 * moderated text stays out of logs unless LOG_CONTENT is on; data-subject lookup and deletion.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { createLogger } from '../../src/logger.js';
import { insertComment } from '../../src/review/review.repository.js';
import { saveItemFeatures } from '../../src/tuning/training.repository.js';
import { ADMIN_KEY, startTestApp, suiteApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { auditEvents, countRows } from '../helpers/factories.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

for (const kind of testDatabases()) {
  describe(`retention and data-subject requests (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    let moderator: string;
    suiteApp({
      db: kind,
      policies: policies(
        reviewPolicy('default', {}, {
          retention: { text_days: 30 },
          training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 },
        }),
      ),
      env: { RATE_LIMIT_PER_SECOND: '0' },
    }, (s) => ({ app, client, moderator } = s));

    test('text older than text_days is purged with its token ids; labels and features stay; training still runs', async () => {
      const reviewed = await moderateAndReview(app, client, moderator, await makeTexts(160, 1));
      const fresh = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: 'have a nice day' });
      // Age everything but the fresh item past the retention window.
      await app.database.db
        .updateTable('content_items')
        .set({ created_at: sql`now() - interval '31 days'` })
        .where('id', '!=', fresh.body.results[0].item_id)
        .execute();
      const labelsBefore = await countRows(app.database.db, 'review_labels');
      // Features a training run kept for another backbone (item_features) carry token ids too.
      const backboneId = app.server.ctx.models.active.backbone.id;
      await saveItemFeatures(app.database.db, backboneId, [{ itemId: reviewed[0].itemId, features: new Uint8Array(8), tokenIds: new Uint8Array([1, 0, 0, 0]) }]);
      const { text } = await app.database.db.selectFrom('content_items').select('text').where('id', '=', reviewed[0].itemId).executeTakeFirstOrThrow();
      const out = await app.server.ctx.retention.run();
      assert.equal(out.purged.default, reviewed.length);
      const old = await app.database.db.selectFrom('content_items').select(['text', 'context', 'text_purged_at', 'text_sha256']).where('id', '=', reviewed[0].itemId).executeTakeFirstOrThrow();
      assert.equal(old.text, null);
      assert.equal(old.context, null);
      assert.ok(old.text_purged_at);
      assert.equal(Buffer.from(old.text_sha256).toString('hex'), createHash('sha256').update(text!).digest('hex'), 'the hash stays (duplicate detection, audit)');
      const kept = await app.database.db.selectFrom('content_items').select('text').where('id', '=', fresh.body.results[0].item_id).executeTakeFirstOrThrow();
      assert.equal(kept.text, 'have a nice day');
      assert.equal(await countRows(app.database.db, 'review_labels'), labelsBefore);
      // Token ids are the text in another form: purged with it. Features stay.
      const decision = await app.database.db.selectFrom('decisions').select(['token_ids', 'features']).where('item_id', '=', reviewed[0].itemId).executeTakeFirstOrThrow();
      assert.equal(decision.token_ids, null);
      assert.ok(decision.features && decision.features.byteLength > 0);
      const kept8 = await app.database.db.selectFrom('item_features').select(['token_ids', 'features']).where('item_id', '=', reviewed[0].itemId).executeTakeFirstOrThrow();
      assert.equal(kept8.token_ids, null, 'kept features lose their token ids with the text');
      assert.equal(kept8.features.byteLength, 8);
      const freshDecision = await app.database.db.selectFrom('decisions').select('token_ids').where('item_id', '=', fresh.body.results[0].item_id).executeTakeFirstOrThrow();
      assert.ok(freshDecision.token_ids && freshDecision.token_ids.byteLength > 0, 'the fresh item keeps its token ids');
      const [audit] = await auditEvents(app.database.db, { action: 'retention.purged' });
      assert.deepEqual(audit.details, { days: 30, items: reviewed.length });

      // Training reads the stored features, so purged items still train (the backbone's part: their text, and
      // with it their n-grams, is gone).
      const post = await app.request.post('/v1/training/runs').set(admin).send({});
      const run = await waitForRun(app, post.body.id);
      // It trains (a candidate is stored); on 32 eval items the gate cannot yet rule out an accuracy drop, and waits.
      assert.equal(run.status, 'rejected', `${run.status}: ${run.error}`);
      assert.ok(run.candidate_head_id);
      assert.equal(run.gate.evidence.verdict, 'undecided', JSON.stringify(run.gate.reasons));
      assert.equal(run.data_snapshot.left_out.text_purged, 0);
      assert.equal(run.data_snapshot.without_text, reviewed.length);
      assert.ok(run.data_snapshot.pairs >= 10);
      // The review page shows purged text as such.
      const task = await app.request.get(`/v1/review/tasks/${(await app.database.db.selectFrom('review_tasks').select('id').where('item_id', '=', reviewed[0].itemId).executeTakeFirstOrThrow()).id}`).set('Authorization', `Bearer ${moderator}`);
      assert.equal(task.body.item.text_purged, true);
      assert.equal(task.body.item.text, null);
    });

    test('GET /v1/items/:id shows everything held about an item; DELETE removes it and what derives from it', async () => {
      const m = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: [{ text: 'I will find you and kill you', context: 'a reply', external_id: 'post-9' }] });
      const itemId = m.body.results[0].item_id;
      const taskId = m.body.results[0].review_task_id;
      for (let i = 0; i < 20; i++) {
        const c = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
        if (c.body.data.some((t: { id: string }) => t.id === taskId)) break;
      }
      await app.request.post(`/v1/review/tasks/${taskId}/verdict`).set('Authorization', `Bearer ${moderator}`).send({ categories: { violence: false, harassment: true, hate: false }, notes: 'quoted' });
      // The request names the platform's id: the lookup finds our item (and only items with that id).
      const again = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: [{ text: 'I will find you and kill you, edited', external_id: 'post-9' }, { text: 'other', external_id: 'post-10' }] });
      const found = await app.request.get('/v1/items?external_id=post-9').set(admin);
      assert.equal(found.status, 200);
      assert.deepEqual(found.body.data.map((i: { id: string }) => i.id), [again.body.results[0].item_id, itemId], 'both items with that id, newest first');
      assert.deepEqual(found.body.data.map((i: { decisions: number; external_id: string }) => [i.external_id, i.decisions]), [['post-9', 1], ['post-9', 1]]);
      assert.ok(!JSON.stringify(found.body).includes('kill you'), 'the lookup lists items, not their text');
      assert.deepEqual((await app.request.get('/v1/items?external_id=nobody').set(admin)).body.data, []);
      const missing = await app.request.get('/v1/items').set(admin);
      assert.equal(missing.status, 400);
      assert.match(missing.body.error.message, /give exactly one of external_id or author_id/);
      assert.equal((await app.request.get('/v1/items?external_id=post-9').set('Authorization', `Bearer ${client}`)).status, 403);

      const got = await app.request.get(`/v1/items/${itemId}`).set(admin);
      assert.equal(got.status, 200);
      assert.equal(got.body.text, 'I will find you and kill you');
      assert.equal(got.body.external_id, 'post-9');
      assert.equal(got.body.decisions.length, 1);
      assert.equal(got.body.reviews[0].notes, 'quoted');
      assert.equal(got.body.labels.length, 3);
      assert.ok(got.body.preference_pairs.length >= 1);
      assert.equal((await app.request.get(`/v1/items/${itemId}`).set('Authorization', `Bearer ${client}`)).status, 403);

      const del = await app.request.delete(`/v1/items/${itemId}`).set(admin);
      assert.equal(del.status, 200);
      assert.equal(del.body.decisions, 1);
      for (const table of ['content_items', 'decisions', 'review_tasks', 'reviews', 'review_labels', 'item_splits'] as const) {
        assert.equal(await countRows(app.database.db, table, { [table === 'content_items' ? 'id' : 'item_id']: itemId }), 0, `${table} still holds the item`);
      }
      const [audit] = await auditEvents(app.database.db, { action: 'item.deleted', subjectId: itemId });
      assert.ok(!JSON.stringify(audit).includes('kill you'), 'the audit record keeps no text');
      assert.equal((await app.request.get(`/v1/items/${itemId}`).set(admin)).status, 404);
      assert.equal((await app.request.delete(`/v1/items/${itemId}`).set(admin)).status, 404);
      assert.equal((await app.request.get(`/v1/decisions/${m.body.results[0].decision_id}`).set('Authorization', `Bearer ${client}`)).status, 404);
    });

    test('a person in one call: GET /v1/items?author_id lists their items; DELETE /v1/items?author_id removes them all, audited with counts', async () => {
      const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
      const m = await app.request
        .post('/v1/moderate')
        .set('Authorization', `Bearer ${client}`)
        .send({ input: [1, 2, 3].map((i) => ({ text: `message ${i} from the person`, author_id: 'u-7' })).concat([{ text: 'someone else', author_id: 'u-8' } as never]) });
      assert.equal(m.status, 200);
      const theirs = m.body.results.slice(0, 3).map((r: { item_id: string }) => r.item_id).sort();
      // A moderator's comment about the author goes with them.
      const moderatorId = (await app.database.db.selectFrom('api_keys').select('id').where('role', '=', 'moderator').executeTakeFirstOrThrow()).id;
      await insertComment(app.database.db, { id: crypto.randomUUID(), itemId: theirs[0], authorId: 'u-7', threadId: null, moderator: moderatorId, text: 'repeat offender' });
      const listed = await app.request.get('/v1/items?author_id=u-7').set(admin);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.data.map((i: { id: string }) => i.id).sort(), theirs);
      assert.ok(listed.body.data.every((i: { author_id: string }) => i.author_id === 'u-7'));

      const deleted = await app.request.delete('/v1/items?author_id=u-7').set(admin);
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.deepEqual(deleted.body.deleted, { author_id: 'u-7', items: 3, decisions: 3, preference_pairs: 0, comments: 1 });
      assert.deepEqual((await app.request.get('/v1/items?author_id=u-7').set(admin)).body.data, []);
      assert.equal((await app.request.get('/v1/items?author_id=u-8').set(admin)).body.data.length, 1, "another author's item stays");
      for (const id of theirs) assert.equal((await app.request.get(`/v1/items/${id}`).set(admin)).status, 404);
      const audit = await app.database.db.selectFrom('audit_events').select(['subject_id', 'details']).where('action', '=', 'author.deleted').execute();
      assert.deepEqual(audit, [{ subject_id: 'u-7', details: { items: 3, decisions: 3, preference_pairs: 0, comments: 1 } }]);

      // Exactly one of the two ids; DELETE only by author.
      assert.equal((await app.request.get('/v1/items').set(admin)).status, 400);
      assert.match((await app.request.get('/v1/items?author_id=u-7&external_id=c-1').set(admin)).body.error.message, /give exactly one of external_id or author_id/);
      assert.match((await app.request.delete('/v1/items?external_id=c-1').set(admin)).body.error.message, /DELETE \/v1\/items deletes by author_id/);
      assert.equal((await app.request.delete('/v1/items?author_id=u-7').set({ Authorization: `Bearer ${client}` })).status, 403);
    });
  });
}

for (const kind of testDatabases()) {
  describe(`moderated text in logs (${kind.name})`, { skip: kind.skip }, () => {
    const capture = async (logContent: boolean) => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      });
      const logger = createLogger('debug', { logContent }, sink);
      const app = await startTestApp({ db: kind, env: { LOG_LEVEL: 'debug', LOG_CONTENT: String(logContent), RATE_LIMIT_PER_SECOND: '0' }, logger });
      try {
        const key = await app.key('client');
        await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: [{ text: 'SECRET-TEXT-42 you are a stupid idiot', context: 'SECRET-CONTEXT-7' }] });
      } finally {
        await app.close();
      }
      return lines.join('');
    };

    test('off by default: debug logs of every subsystem carry no moderated text', async () => {
      const logs = await capture(false);
      assert.match(logs, /"msg":"moderated"/, 'the debug line is there');
      assert.ok(!logs.includes('SECRET-TEXT-42') && !logs.includes('SECRET-CONTEXT-7'));
    });

    test('LOG_CONTENT=true lets it into the debug log', async () => {
      const logs = await capture(true);
      assert.ok(logs.includes('SECRET-TEXT-42'));
    });
  });
}
