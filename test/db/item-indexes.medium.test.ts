import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CompiledQuery, sql, type KyselyPlugin } from 'kysely';
import { purgeExpiredText } from '../../src/privacy/retention.repository.js';
import { seedPolicyAndHead, suiteDatabase, testDatabases } from '../helpers/db.js';

// Migration 0016 dropped the two content_items indexes no query used (the text hash, created_at); every
// item paid for them. What must stay: the retention purge finding items by age through an index.

for (const kind of testDatabases()) {
  describe(`content_items indexes on ${kind.name}`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'migrated');

    test('the items table keeps its primary key, the optional ids and the unpurged-by-age index, and nothing else', async () => {
      const r = await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'content_items' order by indexname`.execute(database().db);
      assert.deepEqual(
        r.rows.map((x) => x.indexname),
        ['content_items_author_id', 'content_items_external_id', 'content_items_pkey', 'content_items_thread_id', 'content_items_unpurged'],
      );
    });

    test('the retention purge, as the repository sends it, finds the expired items through content_items_unpurged', async () => {
      const d = database();
      // 4,000 items with a decision each, one in twenty past a 30-day retention, and the planner's
      // statistics: the age at which a deployment's purge runs, where the index is what keeps it cheap.
      const { backbone, head } = await seedPolicyAndHead(d.db, { categories: [] });
      await sql`insert into content_items (id, text, text_sha256, text_length, created_at)
        select gen_random_uuid(), 'text ' || g, sha256(convert_to('text ' || g, 'UTF8')), 8, now() - case when g % 20 = 0 then interval '40 days' else interval '1 day' end
        from generate_series(1, 4000) g`.execute(d.db);
      await sql`insert into decisions (id, item_id, request_id, policy_name, policy_version, backbone_id, head_id, action, flagged, scores, flags, token_count, truncated)
        select gen_random_uuid(), id, 'r', 'p', 'v', ${backbone}, ${head}, 'allow', false, '{}', '', 2, false from content_items`.execute(d.db);
      await sql`analyze`.execute(d.db);
      // The repository's own statement, compiled as it is sent, then explained.
      const sent: CompiledQuery[] = [];
      const capture: KyselyPlugin = {
        transformQuery: (args) => {
          sent.push(d.db.getExecutor().compileQuery(args.node, args.queryId));
          return args.node;
        },
        transformResult: async (args) => args.result,
      };
      const db = d.db.withPlugin(capture);
      await db.transaction().execute(async (tx) => {
        await purgeExpiredText(tx, 'p', 30);
        const r = await tx.executeQuery<Record<string, string>>(CompiledQuery.raw(`explain ${sent[0].sql}`, [...sent[0].parameters]));
        const plan = r.rows.map((row) => Object.values(row)[0]).join('\n');
        assert.match(plan, /Index Scan using content_items_unpurged on content_items|Bitmap Index Scan on content_items_unpurged/, plan);
      });
    });
  });
}
