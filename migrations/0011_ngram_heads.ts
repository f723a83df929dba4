import { type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
//
// A head's n-gram part: per-label weights over hashed n-gram buckets of the text. The config says how
// the features are computed (buckets, word and character n-gram lengths); rows are the head rows that
// have weights (int32 LE), buckets the ascending bucket ids (int32 LE), weights [buckets, rows] float32 LE.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('head_versions')
    .addColumn('ngram_config', 'jsonb')
    .addColumn('ngram_rows', 'bytea')
    .addColumn('ngram_buckets', 'bytea')
    .addColumn('ngram_weights', 'bytea')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('head_versions').dropColumn('ngram_config').dropColumn('ngram_rows').dropColumn('ngram_buckets').dropColumn('ngram_weights').execute();
}
