/**
 * Many moderators claiming at once (real concurrency on PostgreSQL; PGlite runs it one statement at a
 * time): no task is ever leased to two moderators, and every task ends with exactly the required number
 * of verdicts, each from a different moderator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Principal } from '../../src/auth/auth.service.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { policies, reviewPolicy } from '../helpers/policies.js';
import { TINY_MODEL_TEXTS } from '../helpers/tiny-model.js';
import { waitFor } from '../helpers/wait.js';

const MODERATORS = 16;
const TASKS = 80;
const REQUIRED = 2;

for (const kind of testDatabases()) {
  describe(`concurrent claims (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let mods: Principal[];
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default', { audit_reviews_per_task: REQUIRED })) });
      const client = await app.key('client');
      for (let i = 0; i < TASKS; i += 20) {
        const input = Array.from({ length: 20 }, (_, j) => `${TINY_MODEL_TEXTS[(i + j) % TINY_MODEL_TEXTS.length]} #${i + j}`);
        const r = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input });
        assert.equal(r.status, 200);
      }
      mods = [];
      for (let i = 0; i < MODERATORS; i++) {
        const { row } = await app.server.ctx.auth.createKey({ name: `mod ${i}`, role: 'moderator', expiresAt: null }, null, null);
        mods.push({ keyId: row.id, name: row.name, role: 'moderator' });
      }
    });
    after(async () => {
      await app?.close();
    });

    test('simultaneous claims never hand out the same task', async () => {
      const review = app.server.ctx.review;
      const rounds = await Promise.all(mods.map((m) => review.claim(m, { limit: 5 }, 'test')));
      const ids = rounds.flat().map((t) => t.id);
      assert.equal(ids.length, Math.min(TASKS, MODERATORS * 5));
      assert.equal(new Set(ids).size, ids.length, 'a task was leased to two moderators');
      // Give everything back for the next test.
      await Promise.all(rounds.flatMap((ts, i) => ts.map((t) => review.release(mods[i], t.id, 'test'))));
    });

    test('working the queue to the end: every task gets its verdicts from distinct moderators, never two holders', async () => {
      const review = app.server.ctx.review;
      const holder = new Map<string, string>();
      const violations: string[] = [];
      let verdicts = 0;
      // Moderators between asking for work and their last verdict on it. One who finds nothing to claim
      // stops once nobody else is working (then nothing will come back to the queue for them); while
      // others are, it waits for their next verdict (which may free a task for its second review).
      let working = 0;
      await Promise.all(
        mods.map(async (m) => {
          for (;;) {
            working++;
            const tasks = await review.claim(m, { limit: 2 }, 'test');
            if (tasks.length === 0) {
              working--;
              if (working === 0) break;
              const seen = verdicts;
              await waitFor(() => verdicts !== seen || working === 0, 'another moderator\'s verdict, or nobody working', 30_000, 5);
              continue;
            }
            for (const t of tasks) {
              const h = holder.get(t.id);
              if (h && h !== m.keyId) violations.push(`${t.id} held by ${h} and ${m.keyId}`);
              holder.set(t.id, m.keyId);
            }
            for (const t of tasks) {
              holder.delete(t.id);
              // Moderators agree (a split would escalate to a third reviewer under review.ties: escalate).
              const labels = Object.fromEntries(t.policy.categories.map((c, i) => [c, i % 2 === 0]));
              await review.verdict(m, t.id, { categories: labels }, 'test');
              verdicts++;
            }
            working--;
          }
        }),
      );
      assert.deepEqual(violations, []);
      assert.equal(verdicts, TASKS * REQUIRED);
      const tasks = await app.database.db.selectFrom('review_tasks').select(['id', 'status', 'reviews_done']).execute();
      assert.equal(tasks.length, TASKS);
      assert.ok(tasks.every((t) => t.status === 'done' && t.reviews_done === REQUIRED));
      const reviews = await app.database.db.selectFrom('reviews').select(['task_id', 'moderator_key_id']).execute();
      assert.equal(reviews.length, TASKS * REQUIRED);
      const perTask = new Map<string, Set<string>>();
      for (const r of reviews) perTask.set(r.task_id, (perTask.get(r.task_id) ?? new Set()).add(r.moderator_key_id));
      assert.ok([...perTask.values()].every((s) => s.size === REQUIRED), 'each task reviewed by distinct moderators');
      const labels = await app.database.db.selectFrom('review_labels').select('task_id').distinct().execute();
      assert.equal(labels.length, TASKS, 'every completed task settled its labels once');
    });
  });
}
