import type { ColumnType, Generated } from 'kysely';

export interface BackbonesTable {
  id: string;
  name: string;
  sha256: string;
  path: string;
  feature_dim: number;
  labels: ColumnType<string[], string, string>;
  problem_type: string;
  config: ColumnType<Record<string, unknown>, string, string>;
  created_at: Generated<Date>;
}
