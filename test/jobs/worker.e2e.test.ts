/**
 * `npm run worker`: the background jobs in a process of their own beside API replicas on PostgreSQL,
 * run exactly as the README's "Processes" section types it; refused, with what to do instead, on the
 * embedded database (one process owns it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt } from '../helpers/build.js';
import { baseEnv, runNode, waitFor } from '../helpers/process.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

const runWorker = (env: Record<string, string>) => runNode(['dist/worker.js'], env);

before(() => ensureBuilt());

test('without DATABASE_URL the worker refuses: exit 2, and says the API runs the jobs on the embedded database', async () => {
  const w = runWorker({ MODEL_DIR: await tinyModelDir(), MODEL_AUTO_BUILD: 'false' });
  assert.equal(await w.exited, 2);
  assert.match(w.stderr(), /needs DATABASE_URL/);
  assert.match(w.stderr(), /BACKGROUND_JOBS=true/);
  assert.doesNotMatch(w.stderr(), /\n\s+at /, 'no stack trace');
});

const url = process.env.TEST_DATABASE_URL;
describe('the README\'s API + worker split on PostgreSQL', { skip: url ? false : 'TEST_DATABASE_URL is not set: PostgreSQL-only test skipped' }, () => {
  let scratch: ScratchDatabase;
  before(async () => {
    scratch = await createScratchDatabase(url!, 'modtune_worker');
  });
  after(async () => {
    await scratch?.drop();
  });

  /** `npm <args>` as the README types it, in its own process group (as in a terminal). */
  function npm(args: string[], env: Record<string, string>) {
    const child = spawn('npm', args, { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const logs = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    /** SIGTERM to the group; resolves when every process in it is gone. */
    const stop = async () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      await waitFor(() => {
        try {
          process.kill(-child.pid!, 0);
          return false;
        } catch {
          return true;
        }
      }, `npm ${args.join(' ')} to exit after SIGTERM`, 30_000);
    };
    return { child, output: () => out, logs, exited, stop };
  }

  test('BACKGROUND_JOBS=false npm start serves without jobs; npm run worker runs them, serves no HTTP, stops on SIGTERM', async () => {
    const common = {
      DATABASE_URL: scratch.url,
      MODEL_DIR: await tinyModelDir(),
      MODEL_AUTO_BUILD: 'false',
      POLICY_DIR: path.resolve('policies'),
      INFERENCE_WORKERS: '1',
      ORT_THREADS: '1',
      BATCH_CALIBRATE: 'false',
      LOG_LEVEL: 'info',
      MODTUNE_ADMIN_KEY: 'worker-test-admin-key-0123456789abcdef',
    };
    const api = npm(['start'], { ...common, BACKGROUND_JOBS: 'false', PORT: '0' });
    const worker = npm(['run', 'worker'], common);
    try {
      await waitFor(() => api.output().includes('"msg":"listening"') || api.child.exitCode !== null, 'the API to listen', 90_000);
      await waitFor(() => worker.output().includes('"msg":"worker running"') || worker.child.exitCode !== null, 'the worker to start', 90_000);
      assert.equal(api.child.exitCode, null, api.output().slice(-3000));
      assert.equal(worker.child.exitCode, null, worker.output().slice(-3000));

      assert.ok(api.logs().some((l) => l.msg === 'background jobs are off in this process (BACKGROUND_JOBS=false): run them with npm run worker'));
      assert.ok(!api.logs().some((l) => l.msg === 'training schedule armed'), 'the API does not arm the schedule');
      const port = api.logs().find((l) => l.msg === 'listening')!.port as number;
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(ready.status, 200);

      const running = worker.logs().find((l) => l.msg === 'worker running')!;
      assert.deepEqual(running.jobs, ['readiness', 'training schedule', 'retention', 'queued-run sweep', 'training requests', 'review listener', 'promotion guard', 'training', 'inference', 'database']);
      assert.ok(worker.logs().some((l) => l.msg === 'training schedule armed'));
      assert.ok(!worker.logs().some((l) => l.msg === 'listening'), 'a worker serves no HTTP');
    } finally {
      await Promise.all([api.stop(), worker.stop()]);
    }
    assert.ok(!worker.logs().some((l) => (l.level as number) >= 50), `no errors from the worker:\n${worker.output().slice(-3000)}`);
  });
});
