import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// An item's text hash (SHA-256, the grouped split's key once the text is purged, and in exports) was
// stored as 64 hex characters, 65 bytes of every item row; as bytes it is 33. Readers still get hex
// (`textSha256Of` in src/moderation/moderation.repository.ts). A stored value that is not a hex SHA-256
// (never one the service wrote) is hashed again from the item's text; where the text is already purged
// as well, the migration refuses, naming how many, and changes nothing.
export async function up(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ n: string }>`select count(*) as n from content_items where text_sha256 !~ '^[0-9a-f]{64}$' and text is null`.execute(db);
  if (Number(rows[0].n) > 0) {
    throw new Error(`0019: ${rows[0].n} items have a text hash that is not a hex SHA-256 and no text to hash again; fix or delete them, then migrate`);
  }
  await sql`
    alter table content_items alter column text_sha256 type bytea
    using case when text_sha256 ~ '^[0-9a-f]{64}$' then decode(text_sha256, 'hex') else sha256(convert_to(text, 'UTF8')) end`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table content_items alter column text_sha256 type text using encode(text_sha256, 'hex')`.execute(db);
}
