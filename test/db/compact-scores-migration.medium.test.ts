/**
 * Migration 0018 stores a decision's scores and flags as arrays in its policy version's category order:
 * what was stored before reads the same through the API's objects, a category its file does not list is
 * kept, a new decision under the same version is stored in that order, a category the version does not
 * record is refused with nothing stored, and down rebuilds the JSON objects.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../../src/db/database.js';
import { migrateTo as migrateToName, migrateToLatest } from '../../src/db/migrator.js';
import { categoryFlagsOf, categoryScoreOf, categoryScoresOf } from '../../src/db/stored-columns.js';
import { insertItemsAndDecisions } from '../../src/moderation/moderation.repository.js';
import { newDecision, newItem } from '../helpers/factories.js';
import { seedPolicyAndHead, suiteDatabase, testDatabases } from '../helpers/db.js';

const migrateTo = (db: Kysely<any>, name: string) => migrateToName(db as DB, name);

// A policy file lists its categories in its own order, which is not alphabetical.
const SOURCE = ['description: test', 'categories:', '  violence: { flag: 0.5, block: null }', '  hate: { flag: 0.5, block: null }', '  harassment: { flag: 0.5, block: null }', ''].join('\n');

async function seed(db: Kysely<any>) {
  const { backbone, head } = await seedPolicyAndHead(db);
  await db.insertInto('policy_versions').values({ name: 'q', version: 'w', source: SOURCE }).execute();
  const decision = async (policy: [string, string], scores: Record<string, number>, flags: Record<string, boolean>) => {
    const item = crypto.randomUUID();
    const id = crypto.randomUUID();
    await db.insertInto('content_items').values({ id: item, text: 't', text_sha256: 'h', text_length: 1 }).execute();
    await db
      .insertInto('decisions')
      .values({
        id,
        item_id: item,
        request_id: 'r',
        policy_name: policy[0],
        policy_version: policy[1],
        backbone_id: backbone,
        head_id: head,
        action: 'review',
        flagged: true,
        category_scores: JSON.stringify(scores),
        categories: JSON.stringify(flags),
        features: null,
        token_count: 1,
        truncated: false,
      })
      .execute();
    return id;
  };
  return {
    backbone,
    head,
    // As the service wrote them: every category of the file, full doubles.
    full: await decision(['q', 'w'], { violence: 0.123456789012, hate: 0.9, harassment: 0.5 }, { violence: false, hate: true, harassment: true }),
    // A category the file does not list (no decision the service wrote has one): kept, after the file's.
    extra: await decision(['q', 'w'], { violence: 0.1, hate: 0.2, harassment: 0.3, spam: 0.75 }, { violence: false, hate: false, harassment: false, spam: true }),
    // A version whose source is not a policy file, with flags and no scores.
    bare: await decision(['p', 'v'], {}, { violence: true, hate: false }),
  };
}

async function read(db: Kysely<any>, id: string) {
  return (db as unknown as DB)
    .selectFrom('decisions as d')
    .select([categoryScoresOf('d').as('scores'), categoryFlagsOf('d').as('flags'), categoryScoreOf('d', sql<string>`'hate'`).as('hate')])
    .where('d.id', '=', id)
    .executeTakeFirstOrThrow();
}

for (const kind of testDatabases()) {
  describe(`migration 0018: a decision's scores and flags in its policy version's order (${kind.name})`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'empty');

    test('stored decisions read the same after it, new ones are stored in the same order, down rebuilds the objects', async () => {
      const db = database().db as unknown as Kysely<any>;
      await migrateTo(db, '0017_item_scores');
      const s = await seed(db);
      await migrateToLatest(db as DB);

      const versions = await db.selectFrom('policy_versions').select(['name', 'categories']).orderBy('name').execute();
      assert.deepEqual(versions, [
        { name: 'p', categories: ['hate', 'violence'] },
        { name: 'q', categories: ['violence', 'hate', 'harassment', 'spam'] },
      ]);
      const full = await read(db, s.full);
      // float4 keeps a score to about 7 significant digits: 0.123456789012 is read as 0.12345679.
      assert.deepEqual(full.scores, { violence: 0.12345679, hate: 0.9, harassment: 0.5 });
      assert.deepEqual(full.flags, { violence: false, hate: true, harassment: true, spam: false }, 'a flag the decision did not have reads as false');
      assert.equal(full.hate, 0.9);
      const extra = await read(db, s.extra);
      assert.deepEqual(extra.scores, { violence: 0.1, hate: 0.2, harassment: 0.3, spam: 0.75 });
      assert.deepEqual(extra.flags, { violence: false, hate: false, harassment: false, spam: true });
      const bare = await read(db, s.bare);
      assert.deepEqual(bare.scores, {});
      assert.deepEqual(bare.flags, { hate: false, violence: true });
      assert.equal(bare.hate, null);
      const raw = await db.selectFrom('decisions').select(['scores', 'flags']).where('id', '=', s.full).executeTakeFirstOrThrow();
      assert.deepEqual(raw, { scores: [0.12345679, 0.9, 0.5, null], flags: '0110' });

      // A new decision under q@w: stored in the version's order whatever the order of its objects.
      const model = { policyName: 'q', policyVersion: 'w', backboneId: s.backbone, headId: s.head };
      const item = newItem();
      const fresh = newDecision(item.id, model, { categoryScores: { hate: 0.25, spam: 0.5, violence: 0.000001, harassment: 1 }, categories: { spam: true, hate: false, violence: false, harassment: true } });
      await insertItemsAndDecisions(db as DB, [item], [fresh]);
      assert.deepEqual(await db.selectFrom('decisions').select(['scores', 'flags']).where('id', '=', fresh.id).executeTakeFirstOrThrow(), {
        scores: [0.000001, 0.25, 1, 0.5],
        flags: '0011',
      });
      assert.deepEqual((await read(db, fresh.id)).scores, { hate: 0.25, spam: 0.5, violence: 0.000001, harassment: 1 });

      // A category the version does not record would be lost: refused, and neither row is stored.
      const item2 = newItem();
      const wrong = newDecision(item2.id, model, { categoryScores: { violence: 0.1, nudity: 0.2 }, categories: { violence: false, nudity: false } });
      await assert.rejects(
        db.transaction().execute((tx) => insertItemsAndDecisions(tx as unknown as DB, [item2], [wrong])),
        /category 'nudity' is not one of the policy version's recorded categories \(violence, hate, harassment, spam\)/,
      );
      assert.equal((await db.selectFrom('content_items').select('id').where('id', '=', item2.id).execute()).length, 0);

      await migrateTo(db, '0017_item_scores');
      const back = await db.selectFrom('decisions').select(['id', 'category_scores', 'categories']).execute();
      const byId = new Map(back.map((r) => [r.id, r]));
      assert.deepEqual(byId.get(s.full)!.category_scores, { violence: 0.12345679, hate: 0.9, harassment: 0.5 });
      assert.deepEqual(byId.get(s.full)!.categories, { violence: false, hate: true, harassment: true, spam: false });
      assert.deepEqual(byId.get(s.bare)!.category_scores, {});
      assert.deepEqual(byId.get(s.bare)!.categories, { hate: false, violence: true });
      assert.deepEqual(byId.get(fresh.id)!.category_scores, { hate: 0.25, spam: 0.5, violence: 0.000001, harassment: 1 });
      const cols = await sql<{ n: number }>`select count(*) as n from information_schema.columns where table_name = 'policy_versions' and column_name = 'categories'`.execute(db);
      assert.equal(Number(cols.rows[0].n), 0);
      await migrateToLatest(db as DB);
    });
  });
}
