/**
 * Migration 0019 stores an item's text hash as its 32 bytes: readers still get the same hex, a value that
 * is not a hex SHA-256 is hashed again from the text, one with no text left to hash stops the migration
 * with nothing changed, and down gives the hex back.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../../src/db/database.js';
import { migrateTo as migrateToName } from '../../src/db/migrator.js';
import { textSha256Of } from '../../src/db/stored-columns.js';
import { suiteDatabase, testDatabases } from '../helpers/db.js';

const migrateTo = (db: Kysely<any>, name: string) => migrateToName(db as DB, name);
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

async function item(db: Kysely<any>, text: string | null, hash: string): Promise<string> {
  const id = crypto.randomUUID();
  await db.insertInto('content_items').values({ id, text, text_sha256: hash, text_length: 4, text_purged_at: text === null ? new Date() : null }).execute();
  return id;
}

async function hexOf(db: Kysely<any>, id: string): Promise<string> {
  const r = await (db as unknown as DB).selectFrom('content_items as c').select(textSha256Of('c').as('h')).where('c.id', '=', id).executeTakeFirstOrThrow();
  return r.h;
}

const columnType = async (db: Kysely<any>) =>
  (await sql<{ t: string }>`select data_type as t from information_schema.columns where table_name = 'content_items' and column_name = 'text_sha256'`.execute(db)).rows[0].t;

for (const kind of testDatabases()) {
  describe(`migration 0019: an item's text hash as bytes (${kind.name})`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'empty');

    test('hex hashes become their bytes and read back the same, others are hashed again from the text, down gives hex back', async () => {
      const db = database().db as unknown as Kysely<any>;
      await migrateTo(db, '0018_compact_scores');
      const kept = await item(db, 'café ☕', sha('café ☕'));
      const purged = await item(db, null, sha('gone'));
      const odd = await item(db, 'text', 'h');
      await migrateTo(db, '0019_text_hash_bytes');
      assert.equal(await columnType(db), 'bytea');
      assert.equal(await hexOf(db, kept), sha('café ☕'));
      assert.equal(await hexOf(db, purged), sha('gone'), 'a purged text keeps its hash');
      assert.equal(await hexOf(db, odd), sha('text'), 'hashed again from the text, as the service hashes it (UTF-8)');
      const raw = await db.selectFrom('content_items').select('text_sha256').where('id', '=', kept).executeTakeFirstOrThrow();
      assert.equal(raw.text_sha256.length, 32);

      await migrateTo(db, '0018_compact_scores');
      assert.equal(await columnType(db), 'text');
      const back = await db.selectFrom('content_items').select(['id', 'text_sha256']).execute();
      assert.deepEqual(new Map(back.map((r) => [r.id, r.text_sha256])), new Map([[kept, sha('café ☕')], [purged, sha('gone')], [odd, sha('text')]]));
    });

    test('a hash that is not hex, on an item whose text is purged, stops the migration and nothing changes', async () => {
      const fresh = await kind.empty();
      try {
        const db = fresh.db as unknown as Kysely<any>;
        await migrateTo(db, '0018_compact_scores');
        const ok = await item(db, 'a', sha('a'));
        await item(db, null, 'not a hash');
        await assert.rejects(migrateTo(db, '0019_text_hash_bytes'), /0019: 1 items have a text hash that is not a hex SHA-256 and no text to hash again/);
        assert.equal(await columnType(db), 'text');
        const r = await db.selectFrom('content_items').select('text_sha256').where('id', '=', ok).executeTakeFirstOrThrow();
        assert.equal(r.text_sha256, sha('a'));
      } finally {
        await fresh.destroy();
      }
    });
  });
}
