import type { Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Out-of-sample scores for reviewed items whose serving head was not calibrated (the starter, an imported
// head): the label-drift check counts a moderator's flags against what a calibrated head expected, and
// without a score those verdicts could not be counted, so a deployment's first calibrated night had no
// history for that test. The first training run that uses such an item as a train item new to the active
// head keeps its out-of-fold score (a fold model that never saw the item, calibrated), once per item and
// category. Deleting the item or the run deletes them.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('item_scores')
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('score', 'real', (c) => c.notNull())
    .addColumn('training_run_id', 'uuid', (c) => c.notNull().references('training_runs.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('item_scores_pk', ['item_id', 'category'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('item_scores').execute();
}
