/**
 * Migration 0020 drops a decision's copy of its item's client key: a client still sees only its own
 * decisions (read through the item), a decision whose key differs from its item's stops the migration
 * with nothing changed, and down copies the item's key back.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../../src/db/database.js';
import { migrateTo as migrateToName } from '../../src/db/migrator.js';
import { getDecision } from '../../src/moderation/moderation.repository.js';
import { decisionToAppeal } from '../../src/review/review.repository.js';
import { seedPolicyAndHead, suiteDatabase, testDatabases } from '../helpers/db.js';

const migrateTo = (db: Kysely<any>, name: string) => migrateToName(db as DB, name);

async function seed(db: Kysely<any>, o: { decisionKey?: 'other' | 'none' } = {}) {
  const key = crypto.randomUUID();
  const other = crypto.randomUUID();
  for (const id of [key, other]) await db.insertInto('api_keys').values({ id, name: 'c', role: 'client', prefix: 'x', key_hash: crypto.randomUUID() }).execute();
  const { backbone, head } = await seedPolicyAndHead(db, { categories: ['x'] });
  const item = crypto.randomUUID();
  const decision = crypto.randomUUID();
  await db.insertInto('content_items').values({ id: item, text: 't', text_sha256: Buffer.alloc(32), text_length: 1, client_key_id: key }).execute();
  await db
    .insertInto('decisions')
    .values({
      id: decision,
      item_id: item,
      request_id: 'r',
      policy_name: 'p',
      policy_version: 'v',
      backbone_id: backbone,
      head_id: head,
      action: 'allow',
      flagged: false,
      scores: [0.1],
      flags: '0',
      token_count: 1,
      truncated: false,
      client_key_id: o.decisionKey === 'other' ? other : o.decisionKey === 'none' ? null : key,
    })
    .execute();
  return { key, decision };
}

const hasColumn = async (db: Kysely<any>) =>
  Number((await sql<{ n: number }>`select count(*) as n from information_schema.columns where table_name = 'decisions' and column_name = 'client_key_id'`.execute(db)).rows[0].n) === 1;

for (const kind of testDatabases()) {
  describe(`migration 0020: a decision's client is its item's (${kind.name})`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'empty');

    test('the column goes, the decision is read with its item\'s key, down copies it back', async () => {
      const db = database().db as unknown as Kysely<any>;
      await migrateTo(db, '0019_text_hash_bytes');
      const s = await seed(db);
      await migrateTo(db, '0020_decision_client_key');
      assert.equal(await hasColumn(db), false);
      assert.equal((await getDecision(db as DB, s.decision))?.client_key_id, s.key);
      assert.equal((await decisionToAppeal(db as DB, s.decision))?.client_key_id, s.key);
      await migrateTo(db, '0019_text_hash_bytes');
      const back = await db.selectFrom('decisions').select('client_key_id').where('id', '=', s.decision).executeTakeFirstOrThrow();
      assert.equal(back.client_key_id, s.key);
    });

    for (const differ of ['other', 'none'] as const) {
      test(`a decision whose key is ${differ === 'other' ? 'another key than' : 'missing where'} its item's stops the migration and nothing changes`, async () => {
        const fresh = await kind.empty();
        try {
          const db = fresh.db as unknown as Kysely<any>;
          await migrateTo(db, '0019_text_hash_bytes');
          await seed(db, { decisionKey: differ });
          await assert.rejects(migrateTo(db, '0020_decision_client_key'), /0020: 1 decisions name a client key other than their item's; nothing was changed/);
          assert.equal(await hasColumn(db), true);
        } finally {
          await fresh.destroy();
        }
      });
    }
  });
}
