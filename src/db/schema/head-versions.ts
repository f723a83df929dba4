import type { ColumnType, Generated } from 'kysely';

export type HeadStatus = 'base' | 'candidate' | 'active' | 'retired' | 'rejected';

type Json = ColumnType<Record<string, unknown>, string | undefined, string>;

export interface HeadVersionsTable {
  id: string;
  backbone_id: string;
  version: number;
  parent_id: string | null;
  status: HeadStatus;
  source: string;
  num_labels: number;
  feature_dim: number;
  weight: Uint8Array;
  bias: Uint8Array;
  /** The lexical part: ascending int32 LE token ids and their [tokens, num_labels] float32 LE weights. */
  lexical_tokens: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  lexical_weight: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  /** The n-gram part (src/inference/ngrams.ts): its config, the head rows it feeds, ascending bucket ids, [buckets, rows] weights. */
  ngram_config: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  ngram_rows: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  ngram_buckets: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  ngram_weights: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  hyperparameters: Json;
  data_snapshot: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  metrics: Json;
  training_run_id: string | null;
  created_at: Generated<Date>;
  promoted_at: Date | null;
  retired_at: Date | null;
}

export interface HeadActivationsTable {
  id: Generated<number>;
  head_id: string;
  previous_head_id: string | null;
  reason: string;
  actor: string;
  /** A rollback: a later rollback steps back past this activation instead of returning to its head. */
  rollback: Generated<boolean>;
  at: Generated<Date>;
}
