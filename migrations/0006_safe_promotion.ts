import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Promotion is compare-and-swap: a run whose starting head is no longer active when it finishes is
// `superseded`, not promoted. Rollback walks back the activation history instead of toggling, so each
// activation records whether it was a rollback.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table training_runs drop constraint training_runs_status_check`.execute(db);
  await sql`
    alter table training_runs add constraint training_runs_status_check
    check (status in ('queued', 'running', 'promoted', 'rejected', 'failed', 'skipped', 'superseded'))`.execute(db);
  await db.schema.alterTable('head_activations').addColumn('rollback', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
  // Earlier rollbacks were recorded with the reason the API gave them by default.
  await sql`update head_activations set rollback = true where reason = 'manual rollback' or reason like 'promotion guard:%'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('head_activations').dropColumn('rollback').execute();
  await sql`update training_runs set status = 'rejected' where status = 'superseded'`.execute(db);
  await sql`alter table training_runs drop constraint training_runs_status_check`.execute(db);
  await sql`
    alter table training_runs add constraint training_runs_status_check
    check (status in ('queued', 'running', 'promoted', 'rejected', 'failed', 'skipped'))`.execute(db);
}
