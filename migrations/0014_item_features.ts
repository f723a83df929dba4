import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Features (and token ids) of a reviewed item on a backbone other than the one that scored it, computed
// once when a training run first needs them and kept: after a switch of backbone, the next nights' runs
// read them instead of running the model over every earlier reviewed item again. Deleting the item or the
// backbone deletes them; retention drops the token ids with the text, as it does for decisions.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('item_features')
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('backbone_id', 'uuid', (c) => c.notNull().references('backbones.id').onDelete('cascade'))
    .addColumn('features', 'bytea', (c) => c.notNull())
    .addColumn('token_ids', 'bytea')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('item_features_pk', ['backbone_id', 'item_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('item_features').execute();
}
