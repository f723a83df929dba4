import type { ColumnType, Generated } from 'kysely';

export interface AuditEventsTable {
  id: Generated<number>;
  at: Generated<Date>;
  actor_key_id: string | null;
  actor: string;
  action: string;
  subject_type: string;
  subject_id: string | null;
  request_id: string | null;
  details: ColumnType<Record<string, unknown>, string, string>;
}
