import { sql, type Kysely, type Transaction } from 'kysely';
import type { ApiKeysTable, IdempotencyKeysTable } from './schema/api-keys.js';
import type { AuditEventsTable } from './schema/audit-events.js';
import type { BackbonesTable } from './schema/backbones.js';
import type { ContentItemsTable } from './schema/content-items.js';
import type { DecisionsTable, ItemFeaturesTable, ItemScoresTable } from './schema/decisions.js';
import type { HeadActivationsTable, HeadVersionsTable } from './schema/head-versions.js';
import type { PolicyVersionsTable } from './schema/policy-versions.js';
import type { LabelHoldsTable, ShadowStatsTable, TrainingRunsTable } from './schema/training.js';
import type { DeploymentSecretsTable, ItemSplitsTable, ReviewLabelsTable, ReviewsTable, ReviewTasksTable, SubjectCommentsTable } from './schema/review.js';

export interface DatabaseSchema {
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  policy_versions: PolicyVersionsTable;
  backbones: BackbonesTable;
  head_versions: HeadVersionsTable;
  head_activations: HeadActivationsTable;
  content_items: ContentItemsTable;
  decisions: DecisionsTable;
  item_features: ItemFeaturesTable;
  item_scores: ItemScoresTable;
  review_tasks: ReviewTasksTable;
  reviews: ReviewsTable;
  item_splits: ItemSplitsTable;
  deployment_secrets: DeploymentSecretsTable;
  review_labels: ReviewLabelsTable;
  subject_comments: SubjectCommentsTable;
  training_runs: TrainingRunsTable;
  shadow_stats: ShadowStatsTable;
  label_holds: LabelHoldsTable;
  idempotency_keys: IdempotencyKeysTable;
}

export type DB = Kysely<DatabaseSchema>;
/** A kysely handle that may or may not be inside a transaction; repositories accept either. */
export type Executor = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

/** NOTIFY `channel` with `payload` (inside a transaction, delivered on commit); every process LISTENing hears it. */
export async function notify(db: Executor, channel: string, payload: string): Promise<void> {
  await sql`select pg_notify(${channel}, ${payload})`.execute(db);
}
