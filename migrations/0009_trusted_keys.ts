import { type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// A moderator key an admin trusts: its blind audit labels join the trusted eval set on their own (others
// need a second, concurring blind reviewer).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('trusted', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_keys').dropColumn('trusted').execute();
}
