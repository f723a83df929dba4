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
  category_scores: ColumnType<Record<string, number>, string, string>;
  categories: ColumnType<Record<string, boolean>, string, string>;
  features: Uint8Array;
  token_count: number;
  truncated: boolean;
  client_key_id: string | null;
  created_at: Generated<Date>;
}
