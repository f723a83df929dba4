/** What privacy needs from the database: purging text past retention, and one item's data (to show or delete). */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import { categoryFlagsOf, categoryScoresOf, textSha256Of } from '../db/stored-columns.js';

/**
 * Purges the raw text and context of items a decision under `policyName` was made on, older than
 * `days`; how many items were purged.
 */
export async function purgeExpiredText(db: Executor, policyName: string, days: number): Promise<number> {
  const r = await db
    .updateTable('content_items')
    .set({ text: null, context: null, text_purged_at: sql`now()` })
    .where('text', 'is not', null)
    .where('created_at', '<', sql<Date>`now() - ${days} * interval '1 day'`)
    .where((eb) => eb.exists(eb.selectFrom('decisions as d').select(sql`1`.as('one')).whereRef('d.item_id', '=', 'content_items.id').where('d.policy_name', '=', policyName)))
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Drops the token ids of decisions (and of features kept for other backbones) on items whose text was purged. */
export async function purgeTokenIdsOfPurgedItems(db: Executor): Promise<void> {
  for (const table of ['decisions', 'item_features'] as const) {
    await db
      .updateTable(table)
      .set({ token_ids: null })
      .where('token_ids', 'is not', null)
      .where((eb) => eb.exists(eb.selectFrom('content_items as i').select(sql`1`.as('one')).whereRef('i.id', '=', `${table}.item_id`).where('i.text_purged_at', 'is not', null)))
      .execute();
  }
}

/** The items stored under a platform's id, newest first, with how many decisions each has. */
export async function itemsByExternalId(db: Executor, externalId: string, limit: number) {
  return itemsWhere(db, 'external_id', externalId, limit);
}

/** The items of one author (the platform's `author_id`), newest first, with how many decisions each has. */
export async function itemsByAuthor(db: Executor, authorId: string, limit: number) {
  return itemsWhere(db, 'author_id', authorId, limit);
}

async function itemsWhere(db: Executor, column: 'external_id' | 'author_id', value: string, limit: number) {
  const rows = await db
    .selectFrom('content_items as c')
    .leftJoin('decisions as d', 'd.item_id', 'c.id')
    .select((eb) => ['c.id', 'c.external_id', 'c.author_id', 'c.client_key_id', 'c.text_length', 'c.created_at', 'c.text_purged_at', eb.fn.count<number>('d.id').as('decisions')])
    .where(`c.${column}`, '=', value)
    .groupBy('c.id')
    .orderBy('c.created_at', 'desc')
    .orderBy('c.id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ ...r, decisions: Number(r.decisions) }));
}

export async function getItem(db: Executor, id: string) {
  return db
    .selectFrom('content_items as c')
    .select(['c.id', 'c.external_id', 'c.author_id', 'c.thread_id', 'c.text', 'c.context', textSha256Of('c').as('text_sha256'), 'c.text_length', 'c.client_key_id', 'c.created_at', 'c.text_purged_at'])
    .where('c.id', '=', id)
    .executeTakeFirst();
}

export async function itemDecisions(db: Executor, itemId: string) {
  return db
    .selectFrom('decisions as d')
    .select(['d.id', 'd.request_id', 'd.policy_name', 'd.policy_version', 'd.head_id', 'd.action', 'd.flagged', categoryFlagsOf('d').as('categories'), categoryScoresOf('d').as('category_scores'), 'd.created_at'])
    .where('d.item_id', '=', itemId)
    .orderBy('d.created_at')
    .execute();
}

export async function itemTasks(db: Executor, itemId: string) {
  return db
    .selectFrom('review_tasks')
    .select(['id', 'reason', 'status', 'appeal_reason', 'created_at', 'completed_at'])
    .where('item_id', '=', itemId)
    .orderBy('created_at')
    .execute();
}

export async function itemReviews(db: Executor, itemId: string) {
  return db
    .selectFrom('reviews')
    .select(['id', 'task_id', 'moderator_key_id', 'labels', 'notes', 'created_at'])
    .where('item_id', '=', itemId)
    .orderBy('created_at')
    .execute();
}

/** The item's settled labels in settlement order. */
export async function itemLabels(db: Executor, itemId: string) {
  return db
    .selectFrom('review_labels')
    .select(['id', 'task_id', 'category', 'label', 'model_label', 'split', 'created_at'])
    .where('item_id', '=', itemId)
    .orderBy('id')
    .execute();
}

export async function itemComments(db: Executor, itemId: string) {
  return db
    .selectFrom('subject_comments')
    .select(['id', 'moderator_key_id', 'text', 'created_at'])
    .where('item_id', '=', itemId)
    .orderBy('created_at')
    .execute();
}

/** Whether the item exists, its row locked until the transaction ends. */
export async function lockItem(db: Executor, id: string): Promise<boolean> {
  const r = await db.selectFrom('content_items').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
  return r !== undefined;
}

/** How many rows of `table` belong to the item. */
export async function countOfItem(db: Executor, table: 'decisions' | 'review_labels', itemId: string): Promise<number> {
  const r = await db.selectFrom(table).select(sql<number>`count(*)`.as('n')).where('item_id', '=', itemId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Deletes every item of an author, and the moderators' comments about that author, in one statement each;
 * what was derived from the items goes too (ON DELETE CASCADE). Returns the counts, taken under lock.
 */
export async function deleteAuthor(db: Executor, authorId: string): Promise<{ items: number; decisions: number; pairs: number; comments: number }> {
  const ids = (await db.selectFrom('content_items').select('id').where('author_id', '=', authorId).forUpdate().execute()).map((r) => r.id);
  const count = async (table: 'decisions' | 'review_labels') =>
    ids.length ? Number((await db.selectFrom(table).select(sql<number>`count(*)`.as('n')).where('item_id', 'in', ids).executeTakeFirstOrThrow()).n) : 0;
  const decisions = await count('decisions');
  const pairs = await count('review_labels');
  const comments = Number((await db.deleteFrom('subject_comments').where('author_id', '=', authorId).executeTakeFirst()).numDeletedRows);
  if (ids.length) await db.deleteFrom('content_items').where('author_id', '=', authorId).execute();
  return { items: ids.length, decisions, pairs, comments };
}

/** Deletes the item; what was derived from it goes too (ON DELETE CASCADE). */
export async function deleteItem(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('content_items').where('id', '=', id).execute();
}
