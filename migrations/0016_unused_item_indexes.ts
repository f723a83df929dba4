import type { Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// Two indexes on content_items that no query uses, which every item paid for on its way in:
// - content_items_text_sha256: the hash is read with its item (the grouped split's key, exports), never
//   looked up by value; as hex text its entries were the largest of the table's indexes (about 80 bytes
//   an item).
// - content_items_created_at: the retention purge finds items by age through content_items_unpurged
//   (0004: created_at where the text is still there), and every other read of items by time first narrows
//   them by author, thread or external id, through those columns' own indexes.
// `test/db/item-indexes.medium.test.ts` checks the purge's predicate is still served by an index.
const DROPPED = [
  { name: 'content_items_text_sha256', column: 'text_sha256' },
  { name: 'content_items_created_at', column: 'created_at' },
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const ix of DROPPED) await db.schema.dropIndex(ix.name).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const ix of DROPPED) await db.schema.createIndex(ix.name).on('content_items').column(ix.column).execute();
}
