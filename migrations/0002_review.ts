import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('review_tasks')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('decision_id', 'uuid', (c) => c.notNull().references('decisions.id').onDelete('cascade'))
    .addColumn('reason', 'text', (c) => c.notNull().check(sql`reason in ('uncertain', 'flagged', 'audit', 'confirm', 'appeal')`))
    .addColumn('priority', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('open').check(sql`status in ('open', 'done', 'cancelled')`))
    .addColumn('policy_name', 'text', (c) => c.notNull())
    .addColumn('policy_version', 'text', (c) => c.notNull())
    // The categories a verdict must cover: the policy's at the time the task was opened.
    .addColumn('categories', 'jsonb', (c) => c.notNull())
    .addColumn('required_reviews', 'integer', (c) => c.notNull().check(sql`required_reviews between 1 and 10`))
    .addColumn('reviews_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_seconds', 'integer', (c) => c.notNull())
    .addColumn('leased_to', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('leased_at', 'timestamptz')
    .addColumn('lease_expires_at', 'timestamptz')
    .addColumn('appeal_reason', 'text')
    .addColumn('appealed_by', 'uuid', (c) => c.references('api_keys.id'))
    // Set when the task's verdicts disagreed with each other on some category.
    .addColumn('conflict', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .execute();
  // The claim query walks this index: open tasks by priority, then age.
  await sql`create index review_tasks_claim on review_tasks (priority desc, created_at) where status = 'open'`.execute(db);
  await db.schema.createIndex('review_tasks_decision').on('review_tasks').column('decision_id').execute();
  await db.schema.createIndex('review_tasks_item').on('review_tasks').column('item_id').execute();
  // At most one open appeal per decision.
  await sql`create unique index review_tasks_one_open_appeal on review_tasks (decision_id) where reason = 'appeal' and status = 'open'`.execute(db);

  await db.schema
    .createTable('reviews')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('task_id', 'uuid', (c) => c.notNull().references('review_tasks.id').onDelete('cascade'))
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('decision_id', 'uuid', (c) => c.notNull().references('decisions.id').onDelete('cascade'))
    .addColumn('moderator_key_id', 'uuid', (c) => c.notNull().references('api_keys.id'))
    .addColumn('labels', 'jsonb', (c) => c.notNull())
    .addColumn('notes', 'text')
    .addColumn('handling_ms', 'integer')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('reviews_one_per_moderator', ['task_id', 'moderator_key_id'])
    .execute();
  await db.schema.createIndex('reviews_created_at').on('reviews').column('created_at').execute();

  // Train/eval assignment, made once per reviewed item by a hash of its id and never changed after.
  await db.schema
    .createTable('item_splits')
    .addColumn('item_id', 'uuid', (c) => c.primaryKey().references('content_items.id').onDelete('cascade'))
    .addColumn('split', 'text', (c) => c.notNull().check(sql`split in ('train', 'eval')`))
    .addColumn('eval_fraction', 'real', (c) => c.notNull())
    .addColumn('assigned_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // The label a completed task settled on per category, next to the model's: agreements and
  // disagreements alike (the accuracy gate needs both). label is null when a tie was dropped.
  await db.schema
    .createTable('review_labels')
    .addColumn('task_id', 'uuid', (c) => c.notNull().references('review_tasks.id').onDelete('cascade'))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('decision_id', 'uuid', (c) => c.notNull().references('decisions.id').onDelete('cascade'))
    .addColumn('label', 'boolean')
    .addColumn('model_label', 'boolean', (c) => c.notNull())
    .addColumn('votes_yes', 'integer', (c) => c.notNull())
    .addColumn('votes_total', 'integer', (c) => c.notNull())
    .addColumn('split', 'text', (c) => c.notNull().check(sql`split in ('train', 'eval')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('review_labels_pk', ['task_id', 'category'])
    .execute();
  await db.schema.createIndex('review_labels_split').on('review_labels').columns(['split', 'category']).execute();

  // Where moderators disagreed with the model: chosen = the moderators' label, rejected = the model's.
  // Features are referenced through the decision (decisions.features, from backbone_id).
  await db.schema
    .createTable('preference_pairs')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('decision_id', 'uuid', (c) => c.notNull().references('decisions.id').onDelete('cascade'))
    .addColumn('task_id', 'uuid', (c) => c.notNull().references('review_tasks.id').onDelete('cascade'))
    .addColumn('review_id', 'uuid', (c) => c.notNull().references('reviews.id').onDelete('cascade'))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('chosen', 'boolean', (c) => c.notNull())
    .addColumn('rejected', 'boolean', (c) => c.notNull())
    .addColumn('split', 'text', (c) => c.notNull().check(sql`split in ('train', 'eval')`))
    .addColumn('backbone_id', 'uuid', (c) => c.notNull().references('backbones.id'))
    .addColumn('head_id', 'uuid', (c) => c.notNull().references('head_versions.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('preference_pairs_task_category', ['task_id', 'category'])
    .addCheckConstraint('preference_pairs_differ', sql`chosen <> rejected`)
    .execute();
  await db.schema.createIndex('preference_pairs_split').on('preference_pairs').columns(['split', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['preference_pairs', 'review_labels', 'item_splits', 'reviews', 'review_tasks']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
