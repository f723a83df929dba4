import type { ColumnType, Generated } from 'kysely';

export type Action = 'allow' | 'review' | 'block';

export interface DecisionsTable {
  id: string;
  item_id: string;
  request_id: string;
  policy_name: string;
  policy_version: string;
  backbone_id: string;
  head_id: string;
  action: Action;
  flagged: boolean;
  /** Per-category scores in the order of its policy version's `categories` (0018); read as an object with `categoryScoresOf`. */
  scores: (number | null)[];
  /** Per-category flags, one bit each ('1' flagged) in the same order (0018); read as an object with `categoryFlagsOf`. */
  flags: string;
  /** Float32 LE features; null where the item did not go to review (0015): a run that needs them recomputes them. */
  features: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  /** Int32 LE token ids the text was scored with; null for decisions made before 0005, purged by retention, or not reviewed (0015). */
  token_ids: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  token_count: number;
  truncated: boolean;
  created_at: Generated<Date>;
}

/** Out-of-fold scores of reviewed items a calibrated head did not serve (migration 0017): the drift check's expected flags. */
export interface ItemScoresTable {
  item_id: string;
  category: string;
  score: number;
  training_run_id: string;
}

/** A reviewed item's features on a backbone other than the one that scored it (migration 0014). */
export interface ItemFeaturesTable {
  item_id: string;
  backbone_id: string;
  features: Uint8Array;
  token_ids: Uint8Array | null;
  created_at: Generated<Date>;
}
