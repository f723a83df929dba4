/**
 * The composition root: one lifecycle unwinds a failed start and an orderly stop alike (the API-key
 * LISTEN included, on a database the caller owns), and the process roles decide who runs the jobs.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { API_KEYS_CHANNEL } from '../../src/auth/auth.service.js';
import { loadConfig } from '../../src/config.js';
import { AppContext, type ContextOverrides } from '../../src/context.js';
import type { Database } from '../../src/db/connect.js';
import { quietLogger, testDatabases } from '../helpers/db.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

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

const [kind] = testDatabases();

test('destroy() stops everything the context started, the API-key LISTEN included, and leaves the caller\'s database open', async () => {
  const owned = await kind.migrated();
  try {
    const { database, open } = watchListens(owned);
    const ctx = await AppContext.fromConfig(await config({ MODTUNE_ADMIN_KEY: ADMIN_KEY }), { database, logger: quietLogger() });
    assert.deepEqual(ctx.components, ['readiness', 'training schedule', 'retention', 'promotion guard', 'shadow statistics', 'training', 'api-key listener', 'inference']);
    assert.ok(open.has(API_KEYS_CHANNEL), `the API-key channel is listened to (${[...open]})`);
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
    assert.deepEqual(worker.components, ['readiness', 'training schedule', 'retention', 'promotion guard', 'training', 'inference']);
    await worker.destroy(0);
  } finally {
    await owned.destroy();
  }
});
