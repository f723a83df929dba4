import type { Generated } from 'kysely';

export interface PolicyVersionsTable {
  name: string;
  version: string;
  source: string;
  first_seen_at: Generated<Date>;
}
