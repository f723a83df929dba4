import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// The train/eval split by group (src/review/split.ts): each item's normalised-text key and group key are
// stored, and every item already split is assigned again, in the order it was first split, by the same
// rule new items follow, so that no text, author or thread has items on both sides. Items that change
// side move with their settled labels; how many moved is recorded as an audit event
// (action `split.regrouped`). The training run also records the head it started from (active_head_id)
// beside its DPO reference, and a review task the chance that its decision was drawn for review.
/**
 * The service's own split rule, so existing items are grouped exactly as new ones are: src/review/split.ts
 * under tsx, dist/review/split.js compiled (this file is then dist/migrations/0013_grouped_splits.js).
 */
async function splitRule(): Promise<typeof import('../src/review/split.js')> {
  const compiled = import.meta.url.endsWith('.js');
  return import(new URL(compiled ? '../review/split.js' : '../src/review/split.ts', import.meta.url).href);
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('item_splits').addColumn('text_key', 'text').addColumn('group_key', 'text').execute();
  await db.schema.createIndex('item_splits_text_key').on('item_splits').column('text_key').execute();
  await db.schema.createIndex('item_splits_group_key').on('item_splits').column('group_key').execute();
  await db.schema.alterTable('training_runs').addColumn('active_head_id', 'uuid', (c) => c.references('head_versions.id')).execute();
  // The chance each task's decision was drawn for review: the gate weighs eval items by its inverse.
  await db.schema.alterTable('review_tasks').addColumn('inclusion_probability', 'double precision').execute();
  // reference_head_id held the head a run started from; it now holds the DPO reference (the base head).
  await sql`update training_runs set active_head_id = reference_head_id`.execute(db);
  await sql`update training_runs set reference_head_id = (data_snapshot ->> 'dpo_reference_head_id')::uuid where data_snapshot ->> 'dpo_reference_head_id' is not null`.execute(db);

  const rows = (
    await sql<{ item_id: string; split: 'train' | 'eval'; eval_fraction: number; text: string | null; text_sha256: string; author_id: string | null; thread_id: string | null }>`
      select s.item_id, s.split, s.eval_fraction, i.text, i.text_sha256, i.author_id, i.thread_id
      from item_splits s join content_items i on i.id = s.item_id
      order by s.assigned_at, s.item_id`.execute(db)
  ).rows;
  if (rows.length === 0) return;
  const { assignSplit, groupKeys } = await splitRule();
  // The deployment's salt (SPLIT_SALT where it is fixed); a deployment split before it had one makes it now, as the service would.
  await sql`insert into deployment_secrets (name, value) values ('split_salt', ${randomBytes(32).toString('hex')}) on conflict (name) do nothing`.execute(db);
  const stored = await sql<{ value: string }>`select value from deployment_secrets where name = 'split_salt'`.execute(db);
  const salt = process.env.SPLIT_SALT ?? stored.rows[0].value;
  const byText = new Map<string, 'train' | 'eval'>();
  const byGroup = new Map<string, 'train' | 'eval'>();
  const moved = { train_to_eval: 0, eval_to_train: 0 };
  for (const r of rows) {
    const keys = groupKeys({ text: r.text, textSha256: r.text_sha256, authorId: r.author_id, threadId: r.thread_id });
    const split = assignSplit(salt, keys, r.eval_fraction, { byText: byText.get(keys.text) ?? null, byGroup: byGroup.get(keys.group) ?? null });
    if (!byText.has(keys.text)) byText.set(keys.text, split);
    if (!byGroup.has(keys.group)) byGroup.set(keys.group, split);
    await sql`update item_splits set split = ${split}, text_key = ${keys.text}, group_key = ${keys.group} where item_id = ${r.item_id}`.execute(db);
    if (split !== r.split) {
      await sql`update review_labels set split = ${split} where item_id = ${r.item_id}`.execute(db);
      moved[split === 'eval' ? 'train_to_eval' : 'eval_to_train']++;
    }
  }
  await sql`insert into audit_events (actor, action, subject_type, details)
    values ('migration 0013_grouped_splits', 'split.regrouped', 'item_splits', ${JSON.stringify({ items: rows.length, moved: moved.train_to_eval + moved.eval_to_train, ...moved })}::jsonb)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`update training_runs set reference_head_id = active_head_id where active_head_id is not null`.execute(db);
  await db.schema.alterTable('training_runs').dropColumn('active_head_id').execute();
  await db.schema.alterTable('review_tasks').dropColumn('inclusion_probability').execute();
  await db.schema.dropIndex('item_splits_group_key').execute();
  await db.schema.dropIndex('item_splits_text_key').execute();
  await db.schema.alterTable('item_splits').dropColumn('group_key').dropColumn('text_key').execute();
}
