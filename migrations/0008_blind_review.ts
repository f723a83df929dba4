import { type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// A review records whether its moderator was shown the model's decision (labels, scores, action) before
// giving the verdict: blind labels are the ones the guard and a trusted eval set can lean on.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('reviews').addColumn('blind', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('reviews').dropColumn('blind').execute();
}
