import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../../src/db/connect.js';
import { DecisionWriter, type DecisionRows, type WriterStats } from '../../src/moderation/decision-writer.js';
import { testDatabases } from '../helpers/db.js';
import { countRows, newDecision, newItem, seedModel, type DecisionModel } from '../helpers/factories.js';

for (const kind of testDatabases()) {
  describe(`group commit (${kind.name})`, { skip: kind.skip }, () => {
    let d: Database;
    let model: DecisionModel;
    before(async () => {
      d = await kind.migrated();
      model = await seedModel(d.db);
    });
    after(async () => {
      await d?.destroy();
    });

    const rows = (opts: { badPolicy?: boolean } = {}): DecisionRows => {
      const item = newItem();
      return { items: [item], decisions: [newDecision(item.id, model, opts.badPolicy ? { policyVersion: 'no-such-version' } : {})], tasks: [] };
    };
    const count = () => countRows(d.db, 'decisions');

    test('concurrent writes share transactions; each resolves only once its rows are committed', async () => {
      const commits: WriterStats[] = [];
      const writer = new DecisionWriter(d.db, { onCommit: (s) => commits.push(s) });
      const before = await count();
      const writes = Array.from({ length: 40 }, () => rows());
      await Promise.all(writes.map(async (w) => {
        await writer.write(w);
        assert.equal(await countRows(d.db, 'decisions', { id: w.decisions[0].id }), 1, 'committed before the write resolved');
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
      assert.match(String((results[2] as PromiseRejectedResult).reason), /policy p@no-such-version is not recorded/);
      assert.equal((await count()) - before, 4);
    });

    test('a policy version\'s category order is read once per writer, and its decisions are stored in it', async () => {
      const writer = new DecisionWriter(d.db);
      await writer.write(rows());
      // The service never changes a recorded version's categories; here the row is changed behind the
      // writer's back: a writer that read it again would refuse category x.
      await d.db.updateTable('policy_versions').set({ categories: ['y'] }).where('name', '=', model.policyName).where('version', '=', model.policyVersion).execute();
      try {
        await writer.write(rows());
        await assert.rejects(new DecisionWriter(d.db).write(rows()), /category 'x' is not one of the policy version's recorded categories \(y\)/);
      } finally {
        await d.db.updateTable('policy_versions').set({ categories: ['x'] }).where('name', '=', model.policyName).where('version', '=', model.policyVersion).execute();
      }
      const stored = await d.db.selectFrom('decisions').select(['scores', 'flags']).orderBy('id', 'desc').limit(2).execute();
      assert.deepEqual(stored, [{ scores: [0.1], flags: '0' }, { scores: [0.1], flags: '0' }]);
    });
  });
}
