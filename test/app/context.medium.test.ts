/**
 * The composition root: one lifecycle unwinds a failed start and an orderly stop alike (the API-key
 * LISTEN included, on a database the caller owns), and the process roles decide who runs the jobs.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { API_KEYS_CHANNEL } from '../../src/auth/auth.service.js';
import { loadConfig } from '../../src/config.js';
import { AppContext, type ContextOverrides } from '../../src/context.js';
import type { Database } from '../../src/db/connect.js';
import { REVIEW_COMPLETED_CHANNEL } from '../../src/review/review.repository.js';
import { quietLogger, testDatabases } from '../helpers/db.js';
import { tinyModelDir } from '../helpers/tiny-model.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN_KEY = 'mt_test_admin_key_0123456789abcdefghijkl';

async function config(env: Record<string, string> = {}) {
  return loadConfig({
    MODEL_DIR: await tinyModelDir(),
    MODEL_AUTO_BUILD: 'false',
    POLICY_DIR: path.resolve('policies'),
    INFERENCE_WORKERS: '1',
    ORT_THREADS: '1',
    EXECUTION_PROVIDERS: 'cpu',
    BATCH_CALIBRATE: 'false',
    TRAINING_SCHEDULER: 'true',
    ...env,
  });
}

/** The caller's database, with its LISTENs counted (PGlite's are no-ops, so count them here). */
function watchListens(database: Database): { database: Database; open: Set<string> } {
  const open = new Set<string>();
  const watched: Database = Object.create(database);
  watched.listen = async (channel, onMessage) => {
    const stop = await database.listen(channel, onMessage);
    open.add(channel);
    return async () => {
      open.delete(channel);
      await stop();
    };
  };
  return { database: watched, open };
}

for (const kind of testDatabases()) {
  describe(`the context's lifecycle and roles (${kind.name})`, { skip: kind.skip }, () => {
    test('destroy() stops everything the context started, the API-key LISTEN included, and leaves the caller\'s database open', async () => {
      const owned = await kind.migrated();
      try {
        const { database, open } = watchListens(owned);
        const ctx = await AppContext.fromConfig(await config({ MODTUNE_ADMIN_KEY: ADMIN_KEY }), { database, logger: quietLogger() });
        assert.deepEqual(ctx.components, ['readiness', 'training schedule', 'retention', 'queued-run sweep', 'training requests', 'review listener', 'promotion guard', 'shadow statistics', 'training', 'api-key listener', 'inference']);
        assert.ok(open.has(API_KEYS_CHANNEL), `the API-key channel is listened to (${[...open]})`);
        assert.ok(open.has(REVIEW_COMPLETED_CHANNEL), `the guard listens for reviews completed elsewhere (${[...open]})`);
        await ctx.destroy(0);
        assert.equal(ctx.draining, true);
        assert.equal(ctx.models.loaded, false, 'inference stopped');
        assert.equal(open.size, 0, `every LISTEN stopped (${[...open]})`);
        await owned.ping();
      } finally {
        await owned.destroy();
      }
    });

    test('a start that fails half-way unwinds what it had started, through the same lifecycle', async () => {
      const owned = await kind.migrated();
      try {
        const { database, open } = watchListens(owned);
        // No admin key configured and none stored: the first key is generated and announced; make that fail.
        const overrides: ContextOverrides = {
          database,
          logger: quietLogger(),
          announceAdminKey: () => {
            throw new Error('could not show the key');
          },
        };
        await assert.rejects(AppContext.fromConfig(await config(), overrides), /could not show the key/);
        assert.equal(open.size, 0, 'the API-key LISTEN opened before the failure was stopped');
        await owned.ping();
      } finally {
        await owned.destroy();
      }
    });

    test('roles: BACKGROUND_JOBS=false leaves the jobs to a worker; a worker runs the jobs and no HTTP-side parts', async () => {
      const owned = await kind.migrated();
      try {
        const api = await AppContext.fromConfig(await config({ MODTUNE_ADMIN_KEY: ADMIN_KEY, BACKGROUND_JOBS: 'false' }), { database: owned, logger: quietLogger() });
        assert.equal(api.jobs, null);
        assert.equal(api.scheduler, null);
        assert.deepEqual(api.components, ['readiness', 'shadow statistics', 'training', 'api-key listener', 'inference']);
        await api.destroy(0);

        const worker = await AppContext.fromConfig(await config(), { database: owned, logger: quietLogger(), role: 'worker' });
        assert.equal(worker.role, 'worker');
        assert.ok(worker.jobs?.guard);
        assert.ok(worker.scheduler?.nextRun instanceof Date, 'the training schedule is armed in the worker');
        assert.deepEqual(worker.components, ['readiness', 'training schedule', 'retention', 'queued-run sweep', 'training requests', 'review listener', 'promotion guard', 'training', 'inference']);
        await worker.destroy(0);
      } finally {
        await owned.destroy();
      }
    });
  });
}

/** Processes that hear one another through NOTIFY: PGlite serves one process and its LISTEN is a no-op, so these run on PostgreSQL only. */
const [, server] = testDatabases();

test('a review completed on an API replica without the jobs prompts the worker\'s guard at once, not at its next interval', { skip: server.skip }, async () => {
  const owned = await server.migrated();
  // An hour between the guard's own checks: a check within the test comes only from the NOTIFY.
  const hour = { GUARD_INTERVAL_MS: String(3_600_000) };
  const heard: string[] = [];
  const stopHearing = await owned.listen(REVIEW_COMPLETED_CHANNEL, (taskId) => heard.push(taskId));
  const until = (done: () => boolean, what: string) => waitFor(done, what, 10_000, 20);
  const counted = (ctx: AppContext) => {
    const guard = ctx.jobs!.guard;
    const calls = { n: 0 };
    const poke = guard.poke.bind(guard);
    guard.poke = () => {
      calls.n++;
      poke();
    };
    return calls;
  };
  const [first, second, third] = ['01900000-0000-7000-8000-000000000001', '01900000-0000-7000-8000-000000000002', '01900000-0000-7000-8000-000000000003'];
  const started: AppContext[] = [];
  try {
    const worker = await AppContext.fromConfig(await config(hour), { database: owned, logger: quietLogger(), role: 'worker' });
    started.push(worker);
    const workerPokes = counted(worker);
    const api = await AppContext.fromConfig(await config({ ...hour, MODTUNE_ADMIN_KEY: ADMIN_KEY, BACKGROUND_JOBS: 'false' }), { database: owned, logger: quietLogger() });
    started.push(api);

    // What the review service publishes after a task reaches done.
    await api.events.emit('review.task_completed', { taskId: first });
    // The worker and this test listen on connections of their own: either may hear the NOTIFY first.
    await until(() => workerPokes.n === 1 && heard.length > 0, 'the worker\'s guard prompted by the API replica\'s completed review, and the announcement heard');
    assert.deepEqual(heard, [first]);

    // An API process that runs the guard itself prompts its own and announces nothing; it hears the others.
    const withJobs = await AppContext.fromConfig(await config({ ...hour, MODTUNE_ADMIN_KEY: ADMIN_KEY }), { database: owned, logger: quietLogger() });
    started.push(withJobs);
    const ownPokes = counted(withJobs);
    await withJobs.events.emit('review.task_completed', { taskId: second });
    assert.equal(ownPokes.n, 1, 'its own guard is prompted in-process');
    await api.events.emit('review.task_completed', { taskId: third });
    // Notifications arrive in commit order: had the second been announced, it would be heard before the third.
    await until(() => heard.includes(third), 'the third announcement heard');
    assert.deepEqual(heard, [first, third], 'only the replica without the jobs announces');
    await until(() => workerPokes.n === 2 && ownPokes.n === 2, `both guards prompted by the third (worker ${workerPokes.n}, own ${ownPokes.n})`);
  } finally {
    for (const ctx of started.reverse()) await ctx.destroy(0);
    await stopHearing();
    await owned.destroy();
  }
});

describe('training runs asked for on an API replica without the jobs are trained by the worker', { skip: server.skip }, () => {
  const hour = { GUARD_INTERVAL_MS: String(3_600_000), QUEUED_RUN_SWEEP_MS: String(3_600_000) };
  const until = (done: () => Promise<boolean>, what: string) => waitFor(done, what, 20_000, 50);
  const finished = (ctx: AppContext, runId: string) => async () => !['queued', 'running'].includes((await ctx.training.getRun(runId)).status as string);
  /** Counts calls of `ctx.training[method]`, keeping what they resolved to. */
  const spy = <M extends 'execute' | 'pickUp'>(ctx: AppContext, method: M) => {
    const results: unknown[] = [];
    const original = (ctx.training[method] as (...a: unknown[]) => Promise<unknown>).bind(ctx.training);
    (ctx.training as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const r = await original(...args);
      results.push(r);
      return r;
    };
    return results;
  };

  test('announced by NOTIFY: one of two workers trains it, the replica does not, the other leaves it alone', async () => {
    const owned = await server.migrated();
    const started: AppContext[] = [];
    try {
      const workers = [
        await AppContext.fromConfig(await config(hour), { database: owned, logger: quietLogger(), role: 'worker' }),
        await AppContext.fromConfig(await config(hour), { database: owned, logger: quietLogger(), role: 'worker' }),
      ];
      started.push(...workers);
      const pickUps = workers.map((w) => spy(w, 'pickUp'));
      const api = await AppContext.fromConfig(await config({ ...hour, MODTUNE_ADMIN_KEY: ADMIN_KEY, BACKGROUND_JOBS: 'false' }), { database: owned, logger: quietLogger() });
      started.push(api);
      const executed = spy(api, 'execute');

      const runId = await api.training.request({ requestedBy: null });
      await until(finished(api, runId), 'the run finished');
      await until(async () => pickUps[0].length + pickUps[1].length === 2, 'both workers heard the announcement');
      const run = await api.training.getRun(runId);
      // Trained (and, on a database without labels, skipped for want of pairs), not skipped for a lock.
      assert.equal(run.status, 'skipped');
      assert.match(String(run.error), /too few preference pairs/);
      assert.equal(executed.length, 0, 'the API replica did not train');
      const outcomes = [...pickUps[0], ...pickUps[1]];
      assert.deepEqual(outcomes.filter((o) => o !== null), ['skipped'], `one worker trained it (${JSON.stringify(outcomes)})`);
      assert.deepEqual(outcomes.filter((o) => o === null), [null], 'the other found it taken and left it');
    } finally {
      for (const ctx of started.reverse()) await ctx.destroy(0);
      await owned.destroy();
    }
  });

  test('queued and never announced (a missed NOTIFY, a process that stopped first): the sweep trains it; start-up no longer fails it', async () => {
    const owned = await server.migrated();
    const started: AppContext[] = [];
    try {
      // Queued by a process that stopped before announcing or starting it.
      const gone = await AppContext.fromConfig(await config({ ...hour, MODTUNE_ADMIN_KEY: ADMIN_KEY, BACKGROUND_JOBS: 'false' }), { database: owned, logger: quietLogger() });
      const runId = (await gone.training.createRun('api', { requestedBy: null }))!;
      await gone.destroy(0);

      const worker = await AppContext.fromConfig(await config({ ...hour, QUEUED_RUN_SWEEP_MS: '1000' }), { database: owned, logger: quietLogger(), role: 'worker' });
      started.push(worker);
      assert.equal((await worker.training.getRun(runId)).status, 'queued', 'start-up left the queued run for the sweep');
      await until(finished(worker, runId), 'the sweep trained the run');
      const run = await worker.training.getRun(runId);
      assert.equal(run.status, 'skipped');
      assert.match(String(run.error), /too few preference pairs/);
    } finally {
      for (const ctx of started.reverse()) await ctx.destroy(0);
      await owned.destroy();
    }
  });
});
