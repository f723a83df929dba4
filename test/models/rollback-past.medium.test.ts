/**
 * rollBackPast: when labels are held after heads trained on them (a slow poisoning found across nights),
 * the active head goes back along its lineage to the newest head trained without them, audited as a
 * rollback; a clean active head, or one that changed meanwhile, is left alone.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rollBackPast } from '../../src/models/activation.js';
import { activateInTransaction } from '../../src/models/activation.js';
import * as heads from '../../src/models/head.repository.js';
import { suiteDatabase, testDatabases } from '../helpers/db.js';
import { auditEvents, createBackbone, createHead } from '../helpers/factories.js';

for (const kind of testDatabases()) {
  describe(`rollBackPast (${kind.name})`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'migrated');

    test('back to the newest ancestor trained only on labels before the held ones; nothing when clean or changed', async () => {
      const d = database();
      const db = d.db;
      const backbone = await createBackbone(db, { featureDim: 2, labels: ['violence'] });
      // base (no labels) ← v2 (labels ≤ 100) ← v3 (≤ 200) ← v4 (≤ 300), v4 active.
      const ids: string[] = [];
      for (const [k, upTo] of [null, 100, 200, 300].entries()) {
        const { id } = await createHead(db, backbone, { parentId: ids[k - 1] ?? null, source: k === 0 ? 'starter' : 'dpo', dim: 2, dataSnapshot: upTo === null ? null : { max_label_id: upTo } });
        ids.push(id);
      }
      await db.transaction().execute((trx) => activateInTransaction(trx, ids[3], 'test', { name: 'test' }));
      const active = async () => (await heads.getActiveHead(db))!;

      assert.equal(await rollBackPast(db, await active(), 300, { name: 'run' }), null, 'the active head trained on nothing after 300');
      // Someone else activated another head meanwhile: compare-and-swap leaves it.
      const stale = await heads.getHead(db, ids[2]);
      assert.equal(await rollBackPast(db, stale!, 150, { name: 'run' }), null);
      assert.equal((await active()).id, ids[3]);

      const back = await rollBackPast(db, await active(), 150, { name: 'training run x' }, { training_run_id: 'x' });
      assert.deepEqual(back, { id: ids[1], version: 2 }, 'v3 and v4 trained on labels after 150; v2 did not');
      assert.equal((await active()).id, ids[1]);
      const audit = (await auditEvents(db, { action: 'head.activated' })).at(-1)!;
      assert.equal(audit.actor, 'training run x');
      assert.equal(audit.details.rollback, true);
      assert.equal(audit.details.held_after_label_id, 150);
      assert.equal(audit.details.previous_head_id, ids[3]);

      // Held from the very first label: back to the base head, which trained on none.
      const base = await rollBackPast(db, await active(), 0, { name: 'run' });
      assert.deepEqual(base, { id: ids[0], version: 1 });
    });
  });
}
