import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Secrets a deployment makes for itself on first use and keeps for good (the salt of the train/eval
// split: without it, anyone who reads the code could tell which items are evaluated from their text).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('deployment_secrets')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('deployment_secrets').execute();
}
