import type { Generated } from 'kysely';

export interface PolicyVersionsTable {
  name: string;
  version: string;
  source: string;
  /** The policy's categories in its file's order: the order of its decisions' scores and flags (0018). */
  categories: string[];
  first_seen_at: Generated<Date>;
}
