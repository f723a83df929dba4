/**
 * Who trains a queued run, under the one training lock: `execute` (the API, schedule and CLI path) and
 * `pickUp` (a jobs process taking a run another process queued). Neither writes over a run someone else
 * has claimed; a sweep that finds nothing does not take the lock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Database } from '../../src/db/connect.js';
import { PolicyRegistry } from '../../src/policy/registry.js';
import * as repo from '../../src/tuning/training.repository.js';
import { TRAINING_LOCK, TrainingService } from '../../src/tuning/training.service.js';
import { quietLogger, testDatabases, type TestDatabaseKind } from '../helpers/db.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

/** The database with its training-lock attempts counted. */
function counted(database: Database): { database: Database; attempts: { n: number } } {
  const attempts = { n: 0 };
  const watched: Database = Object.create(database);
  watched.tryAdvisoryLock = async (key) => {
    if (key === TRAINING_LOCK) attempts.n++;
    return database.tryAdvisoryLock(key);
  };
  return { database: watched, attempts };
}

async function withTraining(kind: TestDatabaseKind, fn: (t: { training: TrainingService; database: Database; attempts: { n: number } }) => Promise<void>): Promise<void> {
  const owned = await kind.migrated();
  try {
    const { database, attempts } = counted(owned);
    await fn({ training: new TrainingService(database, new PolicyRegistry(policies(reviewPolicy()), 'default'), quietLogger()), database: owned, attempts });
  } finally {
    await owned.destroy();
  }
}

const status = async (training: TrainingService, id: string) => (await training.getRun(id)).status;

for (const kind of testDatabases()) {
  describe(`who trains a queued run (${kind.name})`, { skip: kind.skip }, () => {
    test('a sweep trains only runs queued before its cutoff, and takes the lock only when it found one', async () => {
      await withTraining(kind, async ({ training, attempts }) => {
        assert.equal(await training.pickUp({ queuedBefore: new Date() }), null);
        assert.equal(attempts.n, 0, 'nothing queued: no lock taken');

        const id = (await training.createRun('api', { requestedBy: null }))!;
        assert.equal(await training.pickUp({ queuedBefore: new Date(Date.now() - 60_000) }), null, 'queued a moment ago: left to the process that queued it');
        assert.equal(attempts.n, 0);
        assert.equal(await status(training, id), 'queued');

        const outcome = await training.pickUp({ queuedBefore: new Date(Date.now() + 1_000) });
        assert.ok(outcome !== null, 'the sweep trained the run');
        assert.equal(attempts.n, 1);
        assert.notEqual(await status(training, id), 'queued');
        assert.equal((await training.getRun(id)).replica, training.replica);
      });
    });

    test('while another run holds the lock: pickUp leaves the run queued; execute skips only a run still queued', async () => {
      await withTraining(kind, async ({ training, database }) => {
        const release = (await database.tryAdvisoryLock(TRAINING_LOCK))!;
        try {
          const queued = (await training.createRun('api', { requestedBy: null }))!;
          assert.equal(await training.pickUp({ runId: queued }), null);
          assert.equal(await status(training, queued), 'queued', 'left for a later sweep');

          assert.equal(await training.execute(queued), 'skipped');
          const skipped = await training.getRun(queued);
          assert.equal(skipped.status, 'skipped');
          assert.match(String(skipped.error), /another training run was in progress/);

          // A run another process has claimed meanwhile is not written over.
          const claimed = (await training.createRun('api', { requestedBy: null, force: true }))!;
          assert.equal(await repo.updateRun(database.db, claimed, { status: 'running', started: true, replica: 'elsewhere:1' }, 'queued'), true);
          assert.equal(await training.execute(claimed), 'skipped');
          const still = await training.getRun(claimed);
          assert.equal(still.status, 'running');
          assert.equal(still.replica, 'elsewhere:1');
        } finally {
          await release();
        }
      });
    });

    test('execute on a run that is no longer queued refuses without recording anything over it', async () => {
      await withTraining(kind, async ({ training, database }) => {
        const id = (await training.createRun('api', { requestedBy: null }))!;
        await repo.updateRun(database.db, id, { status: 'promoted', finished: true });
        await assert.rejects(training.execute(id), /is promoted/);
        assert.equal(await status(training, id), 'promoted');
      });
    });
  });
}
