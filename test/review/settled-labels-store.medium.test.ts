/**
 * The settled-label store as training and the pair export read it (`settledLabels`): the latest label per
 * item × category, an appeal's later label replacing the earlier one, a later dropped tie leaving the
 * cell without a label, a snapshot id that later labels neither join nor replace, and the task's reason
 * as a filter. Rows from the factories, on PGlite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labelSnapshot, settledLabels } from '../../src/review/settled-labels.repository.js';
import { createDecision, createLabels, createTask, seedModel } from '../helpers/factories.js';
import { suiteDatabase, testDatabases } from '../helpers/db.js';

for (const kind of testDatabases()) {
  describe(`the settled-label store (${kind.name})`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'migrated');

    test('latest label per item and category; a snapshot is what was settled by its id; the reason filters', async () => {
      const db = database().db;
      const model = await seedModel(db);
      const { itemId, decisionId } = await createDecision(db, model);
      const cell = { itemId, decisionId, policyName: model.policyName, policyVersion: model.policyVersion };
      const audit = await createTask(db, cell, { categories: ['hate', 'violence'] });
      await createLabels(db, { taskId: audit, itemId, decisionId }, { hate: true, violence: false });
      const snapshot = await labelSnapshot(db);
      const appeal = await createTask(db, cell, { reason: 'appeal', priority: 10, categories: ['hate', 'violence'] });
      // The appeal's moderators cleared hate and tied on violence (the tie is dropped: null).
      await createLabels(db, { taskId: appeal, itemId, decisionId }, { hate: false, violence: null });

      const cells = (rows: Awaited<ReturnType<typeof settledLabels>>) => rows.map((r) => [r.category, r.label, r.reason, r.task_id === appeal ? 'appeal' : 'audit']);
      assert.deepEqual(cells(await settledLabels(db)), [['hate', false, 'appeal', 'appeal']], 'the appeal replaced hate; its tie left violence without a label');
      assert.deepEqual(
        cells(await settledLabels(db, { maxId: snapshot })),
        [
          ['hate', true, 'audit', 'audit'],
          ['violence', false, 'audit', 'audit'],
        ],
        'at the snapshot, the audit labels stand: later ones neither count nor replace',
      );
      assert.deepEqual(cells(await settledLabels(db, { reason: 'audit' })), [], "the audit's labels were replaced, so the audit sample holds none of this item");
    });
  });
}
