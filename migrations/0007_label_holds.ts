import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// The label-drift check holds a batch of labels (one category, all moderators or one) out of training
// and evaluation until an admin accepts or discards it; the run that found it ends `held`.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table training_runs drop constraint training_runs_status_check`.execute(db);
  await sql`
    alter table training_runs add constraint training_runs_status_check
    check (status in ('queued', 'running', 'promoted', 'rejected', 'failed', 'skipped', 'superseded', 'held'))`.execute(db);
  await db.schema
    .createTable('label_holds')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('training_run_id', 'uuid', (c) => c.notNull().references('training_runs.id'))
    .addColumn('category', 'text', (c) => c.notNull())
    // null: every moderator's labels in the category.
    .addColumn('moderator_key_id', 'uuid', (c) => c.references('api_keys.id'))
    // The batch: settled labels with from_label_id < id <= to_label_id.
    .addColumn('from_label_id', 'bigint', (c) => c.notNull())
    .addColumn('to_label_id', 'bigint', (c) => c.notNull())
    .addColumn('labels', 'integer', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('held').check(sql`status in ('held', 'accepted', 'discarded')`))
    .addColumn('decided_by', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('decided_at', 'timestamptz')
    .addColumn('note', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('label_holds_status').on('label_holds').column('status').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('label_holds').ifExists().execute();
  await sql`update training_runs set status = 'skipped' where status = 'held'`.execute(db);
  await sql`alter table training_runs drop constraint training_runs_status_check`.execute(db);
  await sql`
    alter table training_runs add constraint training_runs_status_check
    check (status in ('queued', 'running', 'promoted', 'rejected', 'failed', 'skipped', 'superseded'))`.execute(db);
}
