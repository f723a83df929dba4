import type { ColumnType, Generated } from 'kysely';

export interface ContentItemsTable {
  id: string;
  external_id: string | null;
  /** The platform's author and thread ids, optional (migration 0010). */
  author_id: string | null;
  thread_id: string | null;
  text: string | null;
  context: string | null;
  /** SHA-256 of the text as 32 bytes (0019); read as hex with `textSha256Of`. */
  text_sha256: ColumnType<Uint8Array, Uint8Array, never>;
  text_length: number;
  client_key_id: string | null;
  created_at: Generated<Date>;
  text_purged_at: Date | null;
}
