import type { ColumnType, Generated } from 'kysely';

export type ReviewReason = 'uncertain' | 'flagged' | 'audit' | 'confirm' | 'appeal';
/** Every reason, in the queue's priority order. */
export const REVIEW_REASONS: ReviewReason[] = ['appeal', 'flagged', 'confirm', 'uncertain', 'audit'];
export type TaskStatus = 'open' | 'done' | 'cancelled';
export type Split = 'train' | 'eval';

export interface ReviewTasksTable {
  id: string;
  item_id: string;
  decision_id: string;
  reason: ReviewReason;
  priority: number;
  status: Generated<TaskStatus>;
  policy_name: string;
  policy_version: string;
  categories: ColumnType<string[], string, string>;
  required_reviews: number;
  reviews_done: Generated<number>;
  lease_seconds: number;
  leased_to: string | null;
  leased_at: Date | null;
  lease_expires_at: Date | null;
  appeal_reason: string | null;
  appealed_by: string | null;
  conflict: Generated<boolean>;
  created_at: Generated<Date>;
  completed_at: Date | null;
  /** Sent up to a senior moderator (an admin or a trusted moderator), by whom and why (migration 0010). */
  escalated_at: Date | null;
  escalated_by: string | null;
  escalation_comment: string | null;
  /** The chance the decision was drawn for review (routing.ts Route.inclusion); null for appeals and tasks before migration 0013. */
  inclusion_probability: number | null;
}

export interface SubjectCommentsTable {
  id: string;
  item_id: string;
  author_id: string | null;
  thread_id: string | null;
  moderator_key_id: string;
  text: string;
  created_at: Generated<Date>;
}

export interface ReviewsTable {
  id: string;
  task_id: string;
  item_id: string;
  decision_id: string;
  moderator_key_id: string;
  labels: ColumnType<Record<string, boolean>, string, string>;
  notes: string | null;
  handling_ms: number | null;
  /** The moderator was not shown the model's decision before this verdict. */
  blind: Generated<boolean>;
  /** The task's required reviews when this verdict came (an undo restores it); null before migration 0010. */
  required_before: number | null;
  created_at: Generated<Date>;
}

/** Secrets a deployment makes on first use (the split's salt). */
export interface DeploymentSecretsTable {
  name: string;
  value: string;
  created_at: Generated<Date>;
}

export interface ItemSplitsTable {
  item_id: string;
  split: Split;
  eval_fraction: number;
  /** The normalised text's key and the item's group (src/review/split.ts; migration 0013). */
  text_key: string | null;
  group_key: string | null;
  assigned_at: Generated<Date>;
}

export interface ReviewLabelsTable {
  /** Settlement order: a later label for the same item × category replaces the earlier one. */
  id: Generated<number>;
  task_id: string;
  category: string;
  item_id: string;
  decision_id: string;
  label: boolean | null;
  model_label: boolean;
  votes_yes: number;
  votes_total: number;
  split: Split;
  created_at: Generated<Date>;
}
