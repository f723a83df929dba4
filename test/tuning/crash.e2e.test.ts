/**
 * Killing the process in the middle of a training run: the active head is unchanged and, after a
 * restart, the run is `failed`. The run is the real `npm run train` in a child process, killed with
 * SIGKILL while it trains.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { startTestApp } from '../helpers/app.js';
import { quietLogger, seedEmbeddedDatabase } from '../helpers/db.js';
import { makeTexts, moderateAndReview } from '../helpers/feedback.js';
import { reviewPolicyYaml } from '../helpers/policies.js';
import { baseEnv } from '../helpers/process.js';
import { serverDatabaseKinds } from '../helpers/scratch-database.js';
import { processWorkspace, type ProcessWorkspace } from '../helpers/service-dir.js';
import { tinyModelDir } from '../helpers/tiny-model.js';
import { waitFor } from '../helpers/wait.js';

const POLICY = reviewPolicyYaml({}, { training: { min_pairs: 10 } });
const kinds = serverDatabaseKinds();

for (const kind of kinds) {
  describe(`a training run killed mid-way (${kind.name})`, { skip: kind.skip }, () => {
    let dir: string;
    let env: Record<string, string>;
    let dbUrl: string | undefined;
    let workspace: ProcessWorkspace | undefined;

    const open = (): Promise<Database> => openDatabase({ url: dbUrl, dataDir: path.join(dir, 'data'), logger: quietLogger() });

    before(async () => {
      workspace = await processWorkspace('crash', POLICY, kind.url);
      ({ dir, dbUrl } = workspace);
      if (!dbUrl) await seedEmbeddedDatabase(path.join(dir, 'data'));
      env = baseEnv({
        DATA_DIR: path.join(dir, 'data'),
        MODEL_DIR: await tinyModelDir(),
        MODEL_AUTO_BUILD: 'false',
        POLICY_DIR: path.join(dir, 'policies'),
        LOG_LEVEL: 'warn',
        DATABASE_URL: dbUrl,
      });
      // Seed: a server in this process scores and reviews enough items for a run, then closes.
      const database = await open();
      await migrateToLatest(database.db);
      const { loadPolicies } = await import('../../src/policy/loader.js');
      const app = await startTestApp({ database, policies: await loadPolicies(path.join(dir, 'policies')), env: { MODEL_DIR: env.MODEL_DIR } });
      await moderateAndReview(app, await app.key('client'), await app.key('moderator'), await makeTexts(400, 3));
      await app.close();
      await database.destroy();
    });
    after(async () => {
      await workspace?.remove();
    });

    test('SIGKILL during training: active head unchanged, the run is failed after restart', async () => {
      const database = await open();
      const activeBefore = await database.db.selectFrom('head_versions').select(['id', 'version']).where('status', '=', 'active').executeTakeFirstOrThrow();
      const headsBefore = await database.db.selectFrom('head_versions').select('id').execute();
      await database.destroy();

      // A long search (20 folds, 10 L2 values per expert and category) so the run is still training when it is killed.
      const l2 = [100, 30, 10, 3, 1, 0.3, 0.1, 0.03, 0.01, 0.003].join(',');
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', '--folds', '20', '--l2', l2], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await waitFor(
        () => {
          if (child.exitCode !== null) assert.fail('the run exited before it trained');
          return /selection: \w+: (backbone|lexical) expert, 10 L2 values on \d+ folds/.test(out);
        },
        'the run to start training',
        60_000,
      ).catch((err: Error) => assert.fail(`the run did not start training (${err.message}):\n${out}`));
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');

      // The restart: the service marks the run it finds `running` as failed.
      const restarted = await open();
      try {
        const { TrainingService } = await import('../../src/tuning/training.service.js');
        const { PolicyRegistry } = await import('../../src/policy/registry.js');
        const { loadPolicies } = await import('../../src/policy/loader.js');
        const registry = new PolicyRegistry(await loadPolicies(path.join(dir, 'policies')), 'default');
        const before = await restarted.db.selectFrom('training_runs').select(['id', 'status']).execute();
        assert.deepEqual(before.map((r) => r.status), ['running'], 'the killed run was left running');
        const recovered = await new TrainingService(restarted, registry, quietLogger()).recoverAbandonedRuns();
        assert.deepEqual(recovered, [before[0].id]);
        const run = await restarted.db.selectFrom('training_runs').selectAll().executeTakeFirstOrThrow();
        assert.equal(run.status, 'failed');
        assert.match(run.error ?? '', /stopped before it finished/);
        assert.equal(run.candidate_head_id, null);
        const activeAfter = await restarted.db.selectFrom('head_versions').select(['id', 'version']).where('status', '=', 'active').executeTakeFirstOrThrow();
        assert.deepEqual(activeAfter, activeBefore, 'the active head is unchanged');
        assert.equal((await restarted.db.selectFrom('head_versions').select('id').execute()).length, headsBefore.length, 'no half-made head');
      } finally {
        await restarted.destroy();
      }
    });
  });
}
