import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// A decision keeps its features and token ids only when its item goes to review (routed, or drawn for an
// audit): those are the items a training run, the promotion guard and the threshold advisor read. An
// item that was allowed or blocked without review and later appealed has them recomputed from its stored
// text by the run that first trains on it (kept in item_features, migration 0014). Decisions stored before
// this migration keep what they have.
//
// The items' external, author and thread ids are looked up by value only (data-subject requests, grouped
// splits), and most deployments leave some of them unset: their indexes skip the nulls, which every item
// paid for in each of three indexes.
const OPTIONAL = [
  { name: 'content_items_external_id', columns: ['external_id'] },
  { name: 'content_items_author_id', columns: ['author_id', 'created_at'] },
  { name: 'content_items_thread_id', columns: ['thread_id', 'created_at'] },
];

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('decisions').alterColumn('features', (c) => c.dropNotNull()).execute();
  for (const ix of OPTIONAL) {
    await db.schema.dropIndex(ix.name).execute();
    await db.schema.createIndex(ix.name).on('content_items').columns(ix.columns).where(sql.ref(ix.columns[0]), 'is not', null).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  // Decisions stored without features cannot be given back the ones they never had: refuse, naming how many.
  const { rows } = await sql<{ n: string }>`select count(*) as n from decisions where features is null`.execute(db);
  const missing = Number(rows[0].n);
  if (missing > 0) throw new Error(`cannot undo 0015_lean_decisions: ${missing} decisions were stored without features (they did not go to review)`);
  await db.schema.alterTable('decisions').alterColumn('features', (c) => c.setNotNull()).execute();
  for (const ix of OPTIONAL) {
    await db.schema.dropIndex(ix.name).execute();
    await db.schema.createIndex(ix.name).on('content_items').columns(ix.columns).execute();
  }
}
