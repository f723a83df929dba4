/**
 * Migration 0005 replaces the stored preference pairs with the settled labels they duplicated: what was
 * stored before survives (every pair is a label; the export still returns it), down rebuilds the table,
 * and a pair without its label stops the migration with nothing changed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../../src/db/database.js';
import { migrateTo as migrateToName, migrateToLatest } from '../../src/db/migrator.js';
import { settledLabels } from '../../src/review/settled-labels.repository.js';
import { seedPolicyAndHead, suiteDatabase, testDatabases } from '../helpers/db.js';


const migrateTo = (db: Kysely<any>, name: string) => migrateToName(db as DB, name);

/** One reviewed item as 0004 stored it: three labels (one a disagreement) and the one pair. */
async function seed(db: Kysely<any>, o: { orphanPair?: boolean } = {}): Promise<{ item: string; task: string; review: string }> {
  const id = () => crypto.randomUUID();
  const key = id();
  const item = id();
  const decision = id();
  const task = id();
  const review = id();
  await db.insertInto('api_keys').values({ id: key, name: 'm', role: 'moderator', prefix: 'x', key_hash: id() }).execute();
  const { backbone, head } = await seedPolicyAndHead(db);
  await db.insertInto('content_items').values({ id: item, text: 't', text_sha256: 'h', text_length: 1 }).execute();
  await db
    .insertInto('decisions')
    .values({
      id: decision,
      item_id: item,
      request_id: 'r',
      policy_name: 'p',
      policy_version: 'v',
      backbone_id: backbone,
      head_id: head,
      action: 'review',
      flagged: true,
      category_scores: '{}',
      categories: '{"violence": true, "hate": false, "harassment": false}',
      features: new Uint8Array(8),
      token_count: 1,
      truncated: false,
    })
    .execute();
  await db
    .insertInto('review_tasks')
    .values({ id: task, item_id: item, decision_id: decision, reason: 'audit', priority: 20, status: 'done', policy_name: 'p', policy_version: 'v', categories: '["violence","hate","harassment"]', required_reviews: 1, reviews_done: 1, lease_seconds: 60 })
    .execute();
  await db.insertInto('reviews').values({ id: review, task_id: task, item_id: item, decision_id: decision, moderator_key_id: key, labels: '{}' }).execute();
  await db.insertInto('item_splits').values({ item_id: item, split: 'train', eval_fraction: 0.2 }).execute();
  const label = (category: string, l: boolean, model: boolean, at: string) => ({
    task_id: task,
    category,
    item_id: item,
    decision_id: decision,
    label: l,
    model_label: model,
    votes_yes: l ? 1 : 0,
    votes_total: 1,
    split: 'train',
    created_at: sql`${at}::timestamptz`,
  });
  await db
    .insertInto('review_labels')
    .values([
      label('violence', false, true, '2026-01-01T00:00:02Z'),
      label('hate', false, false, '2026-01-01T00:00:01Z'),
      label('harassment', false, false, '2026-01-01T00:00:03Z'),
    ])
    .execute();
  await db
    .insertInto('preference_pairs')
    .values({ item_id: item, decision_id: decision, task_id: task, review_id: review, category: o.orphanPair ? 'hate' : 'violence', chosen: o.orphanPair === true, rejected: o.orphanPair !== true, split: 'train', backbone_id: backbone, head_id: head })
    .execute();
  return { item, task, review };
}

for (const kind of testDatabases()) {
  describe(`migration 0005: preference pairs become settled labels (${kind.name})`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'empty');

    test('pairs stored before 0005 are still there after it (as labels), and down rebuilds them', async () => {
      const d = database();
      const db = d.db as unknown as Kysely<any>;
      await migrateTo(db, '0004_reliability');
      const { item, task, review } = await seed(db);
      await migrateTo(db, '0005_settled_labels');

      const tables = await sql<{ n: number }>`select count(*) as n from information_schema.tables where table_name = 'preference_pairs'`.execute(db);
      assert.equal(Number(tables.rows[0].n), 0, 'the duplicate table is gone');
      // Settlement order follows the labels' creation times.
      const ids = await db.selectFrom('review_labels').select(['category', 'id']).orderBy('id').execute();
      assert.deepEqual(ids.map((r) => [r.category, Number(r.id)]), [['hate', 1], ['violence', 2], ['harassment', 3]]);
      // The repository reads today's schema (blindness, trusted keys): the labels 0005 made must read there too.
      await migrateToLatest(db as DB);
      const rows = await settledLabels(d.db);
      assert.equal(rows.length, 3);
      const violence = rows.find((r) => r.category === 'violence')!;
      // Migration 0013 assigns the item its group's side again (its text and the deployment's new salt), labels with it.
      const { split } = await db.selectFrom('item_splits').select('split').where('item_id', '=', item).executeTakeFirstOrThrow();
      assert.deepEqual([violence.item_id, violence.task_id, violence.label, violence.model_label, violence.split, violence.reason], [item, task, false, true, split, 'audit']);
      assert.equal(violence.reviewers.length, 1);
      // New labels continue the sequence.
      const next = await db
        .insertInto('review_labels')
        .values({ task_id: task, category: 'extra', item_id: item, decision_id: violence.decision_id, label: true, model_label: false, votes_yes: 1, votes_total: 1, split: 'train' })
        .returning('id')
        .executeTakeFirstOrThrow();
      assert.equal(Number(next.id), 4);
      await db.deleteFrom('review_labels').where('category', '=', 'extra').execute();

      await migrateTo(db, '0004_reliability');
      const pairs = await db.selectFrom('preference_pairs').select(['task_id', 'review_id', 'category', 'chosen', 'rejected', 'split']).execute();
      assert.deepEqual(pairs, [{ task_id: task, review_id: review, category: 'violence', chosen: false, rejected: true, split }]);
      await migrateTo(db, '0005_settled_labels');
    });

    test('a stored pair with no matching label stops the migration, and nothing changes', async () => {
      const fresh = await kind.empty();
      try {
        const db = fresh.db as unknown as Kysely<any>;
        await migrateTo(db, '0004_reliability');
        await seed(db, { orphanPair: true });
        await assert.rejects(migrateTo(db, '0005_settled_labels'), /1 stored preference pairs have no matching settled label/);
        const n = await sql<{ n: number }>`select count(*) as n from preference_pairs`.execute(db);
        assert.equal(Number(n.rows[0].n), 1, 'the pairs are still there');
        const cols = await sql<{ n: number }>`select count(*) as n from information_schema.columns where table_name = 'review_labels' and column_name = 'id'`.execute(db);
        assert.equal(Number(cols.rows[0].n), 0, 'the migration ran in one transaction and left no trace');
      } finally {
        await fresh.destroy();
      }
    });
  });
}
