import { type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Who wrote an item and where (the platform's own ids, optional): a moderator sees the earlier decisions
// and verdicts on the same author or thread next to the task. And what a verdict found (how many reviews
// the task required before it), so that undoing it restores the task exactly.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('reviews').addColumn('required_before', 'integer').execute();
  await db.schema.alterTable('content_items').addColumn('author_id', 'text').addColumn('thread_id', 'text').execute();
  await db.schema.createIndex('content_items_author_id').on('content_items').columns(['author_id', 'created_at']).execute();
  await db.schema.createIndex('content_items_thread_id').on('content_items').columns(['thread_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('content_items_thread_id').execute();
  await db.schema.dropIndex('content_items_author_id').execute();
  await db.schema.alterTable('content_items').dropColumn('thread_id').dropColumn('author_id').execute();
  await db.schema.alterTable('reviews').dropColumn('required_before').execute();
}
