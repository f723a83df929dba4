/**
 * Migration 0013 splits by group: items already split are assigned again, in the order they were first
 * split, so that reposts (case, spacing, invisible characters) and one author's items sit on one side;
 * labels move with their item, and the audit log says how many moved.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../../src/db/database.js';
import { migrateTo, migrateToLatest } from '../../src/db/migrator.js';
import { textSha256 } from '../../src/review/split.js';
import { seedPolicyAndHead, suiteDatabase, testDatabases } from '../helpers/db.js';


/** Items as 0012 left them: each with a decision, a done task, one settled label and a stored side. */
async function seed(db: Kysely<any>, items: { text: string; author?: string; split: 'train' | 'eval' }[]): Promise<string[]> {
  const id = () => crypto.randomUUID();
  const { backbone, head } = await seedPolicyAndHead(db);
  const ids: string[] = [];
  for (const [k, x] of items.entries()) {
    const item = id();
    const decision = id();
    const task = id();
    ids.push(item);
    await db.insertInto('content_items').values({ id: item, text: x.text, text_sha256: textSha256(x.text), text_length: x.text.length, author_id: x.author ?? null }).execute();
    await db
      .insertInto('decisions')
      .values({ id: decision, item_id: item, request_id: 'r', policy_name: 'p', policy_version: 'v', backbone_id: backbone, head_id: head, action: 'allow', flagged: false, category_scores: '{}', categories: '{"hate": false}', features: new Uint8Array(8), token_count: 1, truncated: false })
      .execute();
    await db
      .insertInto('review_tasks')
      .values({ id: task, item_id: item, decision_id: decision, reason: 'audit', priority: 20, status: 'done', policy_name: 'p', policy_version: 'v', categories: '["hate"]', required_reviews: 1, reviews_done: 1, lease_seconds: 60 })
      .execute();
    await db.insertInto('item_splits').values({ item_id: item, split: x.split, eval_fraction: 0.5, assigned_at: sql`${`2026-01-01T00:00:0${k}Z`}::timestamptz` }).execute();
    await db.insertInto('review_labels').values({ task_id: task, category: 'hate', item_id: item, decision_id: decision, label: true, model_label: false, votes_yes: 1, votes_total: 1, split: x.split }).execute();
  }
  return ids;
}

for (const kind of testDatabases()) {
  describe(`migration 0013: splits by group (${kind.name})`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'empty');

    test('reposts and one author’s items end on one side, labels move with them, the audit log counts the moves', async () => {
      const d = database();
      const db = d.db as unknown as Kysely<any>;
      await migrateTo(db as DB, '0012_deployment_secrets');
      await db.insertInto('deployment_secrets').values({ name: 'split_salt', value: 'the deployment’s salt' }).execute();
      // Before: a repost on the other side from its original, an author on both sides, and a lone text.
      const ids = await seed(db, [
        { text: 'You people are ALL the same', split: 'eval' },
        { text: 'you people are  all the same\u200B', split: 'train' },
        { text: 'first post', author: 'a1', split: 'train' },
        { text: 'second post', author: 'a1', split: 'eval' },
        { text: 'nothing like the others', split: 'train' },
      ]);
      await migrateToLatest(db as DB);
      const rows = await db.selectFrom('item_splits').select(['item_id', 'split', 'text_key', 'group_key']).execute();
      const side = (i: number) => rows.find((r) => r.item_id === ids[i])!;
      assert.equal(side(0).text_key, side(1).text_key, 'the repost has its original’s text key');
      assert.equal(side(1).split, side(0).split, 'the repost is on its original’s side');
      assert.equal(side(2).group_key, 'author:a1');
      assert.equal(side(3).split, side(2).split, 'the author’s items are on one side');
      const labels = await db.selectFrom('review_labels').select(['item_id', 'split']).execute();
      for (const l of labels) assert.equal(l.split, rows.find((r) => r.item_id === l.item_id)!.split, 'a label is on its item’s side');
      const before = ['eval', 'train', 'train', 'eval', 'train'];
      const moved = ids.filter((_, i) => side(i).split !== before[i]).length;
      assert.ok(moved >= 2, 'the repost or its original moved, and one of the author’s items');
      const audit = await db.selectFrom('audit_events').select(['action', 'details']).where('action', '=', 'split.regrouped').execute();
      assert.equal(audit.length, 1);
      assert.equal(audit[0].details.items, 5);
      assert.equal(audit[0].details.moved, moved);
      assert.equal(audit[0].details.train_to_eval + audit[0].details.eval_to_train, moved);
    });
  });
}
