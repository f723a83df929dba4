import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { Database } from '../../src/db/connect.js';
import { DecisionWriter, type DecisionRows, type WriterStats } from '../../src/moderation/decision-writer.js';
import { testDatabases } from '../helpers/db.js';

for (const kind of testDatabases()) {
  describe(`group commit (${kind.name})`, { skip: kind.skip }, () => {
    let d: Database;
    let backbone: string;
    let head: string;
    before(async () => {
      d = await kind.migrated();
      backbone = uuidv7();
      head = uuidv7();
      await d.db.insertInto('backbones').values({ id: backbone, name: 'b', sha256: 's', path: '/m', feature_dim: 1, labels: '["x"]', problem_type: 'multi_label', config: '{}' }).execute();
      await d.db
        .insertInto('head_versions')
        .values({ id: head, backbone_id: backbone, version: 1, parent_id: null, status: 'active', source: 't', num_labels: 1, feature_dim: 1, weight: new Uint8Array(4), bias: new Uint8Array(4), training_run_id: null, promoted_at: null, retired_at: null })
        .execute();
      await d.db.insertInto('policy_versions').values({ name: 'p', version: 'v', source: '' }).execute();
    });
    after(async () => {
      await d?.destroy();
    });

    const rows = (opts: { badPolicy?: boolean } = {}): DecisionRows => {
      const item = uuidv7();
      return {
        items: [{ id: item, externalId: null, authorId: null, threadId: null, text: 't', context: null, textSha256: 'h', clientKeyId: null }],
        decisions: [
          {
            id: uuidv7(),
            itemId: item,
            requestId: 'r',
            policyName: 'p',
            policyVersion: opts.badPolicy ? 'no-such-version' : 'v',
            backboneId: backbone,
            headId: head,
            action: 'allow',
            flagged: false,
            categoryScores: { x: 0.1 },
            categories: { x: false },
            tokenIds: new Uint8Array(8),
            features: new Uint8Array(4),
            tokenCount: 1,
            truncated: false,
            clientKeyId: null,
          },
        ],
        tasks: [],
      };
    };
    const count = async () => Number((await sql<{ n: number }>`select count(*) as n from decisions`.execute(d.db)).rows[0].n);

    test('concurrent writes share transactions; each resolves only once its rows are committed', async () => {
      const commits: WriterStats[] = [];
      const writer = new DecisionWriter(d.db, { onCommit: (s) => commits.push(s) });
      const before = await count();
      const writes = Array.from({ length: 40 }, () => rows());
      await Promise.all(writes.map(async (w) => {
        await writer.write(w);
        const found = await d.db.selectFrom('decisions').select('id').where('id', '=', w.decisions[0].id).executeTakeFirst();
        assert.ok(found, 'committed before the write resolved');
      }));
      assert.equal((await count()) - before, 40);
      assert.ok(commits.length < 40, `${commits.length} commits for 40 writes`);
      assert.equal(commits.reduce((n, c) => n + c.requests, 0), 40);
      assert.equal(commits[0].requests, 1, 'an idle writer commits the first write at once');
    });

    test('a bad write fails alone; the others in its group commit', async () => {
      const writer = new DecisionWriter(d.db);
      const before = await count();
      const results = await Promise.allSettled([rows(), rows(), rows({ badPolicy: true }), rows(), rows()].map((w) => writer.write(w)));
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      assert.match(String((results[2] as PromiseRejectedResult).reason), /foreign key|violates/);
      assert.equal((await count()) - before, 4);
    });
  });
}
