import type { ColumnType, Generated } from 'kysely';

export type RunTrigger = 'cron' | 'api' | 'cli';
export type RunStatus = 'queued' | 'running' | 'promoted' | 'rejected' | 'failed' | 'skipped' | 'superseded' | 'held';
export type HoldStatus = 'held' | 'accepted' | 'discarded';

type Json<T = Record<string, unknown>> = ColumnType<T, string, string>;
type NullableJson<T = Record<string, unknown>> = ColumnType<T | null, string | null, string | null>;

export interface TrainingRunsTable {
  id: string;
  trigger: RunTrigger;
  scheduled_for: Date | null;
  status: RunStatus;
  requested_by: string | null;
  policy_name: string;
  policy_version: string;
  hyperparameters: Json;
  /** The DPO reference: the backbone's base head (before migration 0013: the head the run started from). */
  reference_head_id: string | null;
  /** The active head the run started from: the candidate's parent, what the gate compares it with (migration 0013). */
  active_head_id: string | null;
  candidate_head_id: string | null;
  data_snapshot: NullableJson;
  metrics: ColumnType<Record<string, unknown>, string | undefined, string>;
  eval_report: NullableJson;
  gate: NullableJson;
  error: string | null;
  replica: string | null;
  created_at: Generated<Date>;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface ShadowStatsTable {
  head_id: string;
  against_head_id: string;
  decisions: ColumnType<number, number | undefined, number>;
  action_differs: ColumnType<number, number | undefined, number>;
  category_flips: ColumnType<Record<string, number>, string | undefined, string>;
  updated_at: Generated<Date>;
}

export interface LabelHoldsTable {
  id: string;
  training_run_id: string;
  category: string;
  moderator_key_id: string | null;
  from_label_id: ColumnType<number, number, number>;
  to_label_id: ColumnType<number, number, number>;
  labels: number;
  reason: string;
  status: ColumnType<HoldStatus, HoldStatus | undefined, HoldStatus>;
  decided_by: string | null;
  decided_at: Date | null;
  note: string | null;
  created_at: Generated<Date>;
}
