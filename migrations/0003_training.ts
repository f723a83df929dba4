import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('training_runs')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('trigger', 'text', (c) => c.notNull().check(sql`trigger in ('cron', 'api', 'cli')`))
    // For cron runs: the schedule slot. Unique, so replicas firing for the same slot make one run.
    .addColumn('scheduled_for', 'timestamptz')
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('queued', 'running', 'promoted', 'rejected', 'failed', 'skipped')`),
    )
    .addColumn('requested_by', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('policy_name', 'text', (c) => c.notNull())
    .addColumn('policy_version', 'text', (c) => c.notNull())
    .addColumn('hyperparameters', 'jsonb', (c) => c.notNull())
    .addColumn('reference_head_id', 'uuid', (c) => c.references('head_versions.id'))
    .addColumn('candidate_head_id', 'uuid', (c) => c.references('head_versions.id'))
    .addColumn('data_snapshot', 'jsonb')
    .addColumn('metrics', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('eval_report', 'jsonb')
    .addColumn('gate', 'jsonb')
    .addColumn('error', 'text')
    .addColumn('replica', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await sql`create unique index training_runs_one_per_slot on training_runs (scheduled_for) where trigger = 'cron'`.execute(db);
  await db.schema.createIndex('training_runs_created_at').on('training_runs').column('created_at').execute();
  await db.schema
    .alterTable('head_versions')
    .addForeignKeyConstraint('head_versions_training_run_fk', ['training_run_id'], 'training_runs', ['id'])
    .execute();

  // Live comparison of a candidate head with the active one on the same traffic (shadow scoring).
  await db.schema
    .createTable('shadow_stats')
    .addColumn('head_id', 'uuid', (c) => c.primaryKey().references('head_versions.id'))
    .addColumn('against_head_id', 'uuid', (c) => c.notNull().references('head_versions.id'))
    .addColumn('decisions', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('action_differs', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('category_flips', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('shadow_stats').ifExists().execute();
  await db.schema.alterTable('head_versions').dropConstraint('head_versions_training_run_fk').execute();
  await db.schema.dropTable('training_runs').ifExists().execute();
}
