import type { ColumnType, Generated } from 'kysely';

export type Role = 'client' | 'moderator' | 'admin';

export interface ApiKeysTable {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  key_hash: string;
  created_at: Generated<Date>;
  created_by: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  /** An admin trusts this moderator's blind audit labels for the trusted eval set. */
  trusted: Generated<boolean>;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface IdempotencyKeysTable {
  api_key_id: string;
  endpoint: string;
  key: string;
  request_hash: string;
  status_code: number;
  response: ColumnType<unknown, string, string>;
  created_at: Generated<Date>;
}
