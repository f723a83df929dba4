import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('client', 'moderator', 'admin')`))
    // The first characters of the key, shown in listings so a key can be recognised without being stored.
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('actor_key_id', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('subject_type', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text')
    .addColumn('request_id', 'text')
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex('audit_events_subject').on('audit_events').columns(['subject_type', 'subject_id']).execute();
  await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();

  // Every policy version a decision was made under, so any decision can be traced to the exact rules.
  await db.schema
    .createTable('policy_versions')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('policy_versions_pk', ['name', 'version'])
    .execute();

  await db.schema
    .createTable('backbones')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    // sha256 of model.onnx: the identity of the features a head was trained on.
    .addColumn('sha256', 'text', (c) => c.notNull().unique())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('feature_dim', 'integer', (c) => c.notNull())
    .addColumn('labels', 'jsonb', (c) => c.notNull())
    .addColumn('problem_type', 'text', (c) => c.notNull())
    .addColumn('config', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('head_versions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('backbone_id', 'uuid', (c) => c.notNull().references('backbones.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('parent_id', 'uuid', (c) => c.references('head_versions.id'))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('base', 'candidate', 'active', 'retired', 'rejected')`),
    )
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('num_labels', 'integer', (c) => c.notNull())
    .addColumn('feature_dim', 'integer', (c) => c.notNull())
    // Float32 little-endian, [num_labels, feature_dim] row-major, then [num_labels] bias.
    .addColumn('weight', 'bytea', (c) => c.notNull())
    .addColumn('bias', 'bytea', (c) => c.notNull())
    .addColumn('hyperparameters', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('data_snapshot', 'jsonb')
    .addColumn('metrics', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('training_run_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('promoted_at', 'timestamptz')
    .addColumn('retired_at', 'timestamptz')
    .addUniqueConstraint('head_versions_backbone_version', ['backbone_id', 'version'])
    .execute();
  // At most one active head: the database, not the application, guarantees it.
  await sql`create unique index head_versions_one_active on head_versions ((true)) where status = 'active'`.execute(db);

  // The history of activations; rollback goes to the head that was active before the current one.
  await db.schema
    .createTable('head_activations')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('head_id', 'uuid', (c) => c.notNull().references('head_versions.id'))
    .addColumn('previous_head_id', 'uuid', (c) => c.references('head_versions.id'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('content_items')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('external_id', 'text')
    // Nullable: retention may purge the raw text while labels, features and pairs stay.
    .addColumn('text', 'text')
    .addColumn('context', 'text')
    .addColumn('text_sha256', 'text', (c) => c.notNull())
    .addColumn('text_length', 'integer', (c) => c.notNull())
    .addColumn('client_key_id', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('text_purged_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('content_items_external_id').on('content_items').column('external_id').execute();
  await db.schema.createIndex('content_items_text_sha256').on('content_items').column('text_sha256').execute();
  await db.schema.createIndex('content_items_created_at').on('content_items').column('created_at').execute();

  await db.schema
    .createTable('decisions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('item_id', 'uuid', (c) => c.notNull().references('content_items.id').onDelete('cascade'))
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('policy_name', 'text', (c) => c.notNull())
    .addColumn('policy_version', 'text', (c) => c.notNull())
    .addColumn('backbone_id', 'uuid', (c) => c.notNull().references('backbones.id'))
    .addColumn('head_id', 'uuid', (c) => c.notNull().references('head_versions.id'))
    .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('allow', 'review', 'block')`))
    .addColumn('flagged', 'boolean', (c) => c.notNull())
    .addColumn('category_scores', 'jsonb', (c) => c.notNull())
    .addColumn('categories', 'jsonb', (c) => c.notNull())
    // Float32 little-endian [feature_dim]: what the head saw, so any head version can re-score it.
    .addColumn('features', 'bytea', (c) => c.notNull())
    .addColumn('token_count', 'integer', (c) => c.notNull())
    .addColumn('truncated', 'boolean', (c) => c.notNull())
    .addColumn('client_key_id', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint('decisions_policy_fk', ['policy_name', 'policy_version'], 'policy_versions', [
      'name',
      'version',
    ])
    .execute();
  await db.schema.createIndex('decisions_item_id').on('decisions').column('item_id').execute();
  await db.schema.createIndex('decisions_created_at').on('decisions').column('created_at').execute();
  await db.schema.createIndex('decisions_request_id').on('decisions').column('request_id').execute();
  await db.schema.createIndex('decisions_head_id').on('decisions').column('head_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'decisions',
    'content_items',
    'head_activations',
    'head_versions',
    'backbones',
    'policy_versions',
    'audit_events',
    'api_keys',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
