import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Who wrote an item and where (the platform's own ids, optional): a moderator sees the earlier decisions
// and verdicts on the same author or thread next to the task. And what a verdict found (how many reviews
// the task required before it), so that undoing it restores the task exactly.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('reviews').addColumn('required_before', 'integer').execute();
  // A task a moderator sent up to a senior one (an admin or a trusted moderator), with why.
  await db.schema
    .alterTable('review_tasks')
    .addColumn('escalated_at', 'timestamptz')
    .addColumn('escalated_by', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('escalation_comment', 'text')
    .execute();
  // Moderators' comments on a subject: the item, and through it its author and thread.
  await db.schema
    .createTable('subject_comments')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('author_id', 'text')
    .addColumn('thread_id', 'text')
    .addColumn('moderator_key_id', 'uuid', (c) => c.notNull().references('api_keys.id'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('subject_comments_item').on('subject_comments').column('item_id').execute();
  await db.schema.createIndex('subject_comments_author').on('subject_comments').column('author_id').execute();
  await db.schema.createIndex('subject_comments_thread').on('subject_comments').column('thread_id').execute();
  await db.schema.alterTable('content_items').addColumn('author_id', 'text').addColumn('thread_id', 'text').execute();
  await db.schema.createIndex('content_items_author_id').on('content_items').columns(['author_id', 'created_at']).execute();
  await db.schema.createIndex('content_items_thread_id').on('content_items').columns(['thread_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('content_items_thread_id').execute();
  await db.schema.dropIndex('content_items_author_id').execute();
  await db.schema.alterTable('content_items').dropColumn('thread_id').dropColumn('author_id').execute();
  await db.schema.alterTable('reviews').dropColumn('required_before').execute();
  await db.schema.dropTable('subject_comments').execute();
  await db.schema.alterTable('review_tasks').dropColumn('escalation_comment').dropColumn('escalated_by').dropColumn('escalated_at').execute();
}
