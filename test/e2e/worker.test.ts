/**
 * `npm run worker` (the compiled dist/worker.js, as the script runs it): the background jobs in a process of their own beside API replicas on PostgreSQL;
 * refused, with what to do instead, on the embedded database (one process owns it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt } from '../helpers/build.js';
import { baseEnv, waitFor } from '../helpers/process.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

function runWorker(env: Record<string, string>) {
  const child = spawn(process.execPath, ['dist/worker.js'], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

before(() => ensureBuilt());

test('without DATABASE_URL the worker refuses: exit 2, and says the API runs the jobs on the embedded database', async () => {
  const w = runWorker({ MODEL_DIR: await tinyModelDir(), MODEL_AUTO_BUILD: 'false' });
  assert.equal(await w.exited, 2);
  assert.match(w.stderr(), /needs DATABASE_URL/);
  assert.match(w.stderr(), /BACKGROUND_JOBS=true/);
  assert.doesNotMatch(w.stderr(), /\n\s+at /, 'no stack trace');
});

const url = process.env.TEST_DATABASE_URL;
describe('the worker process on PostgreSQL', { skip: url ? false : 'TEST_DATABASE_URL is not set: PostgreSQL-only test skipped' }, () => {
  let scratch: ScratchDatabase;
  before(async () => {
    scratch = await createScratchDatabase(url!, 'modtune_worker');
  });
  after(async () => {
    await scratch?.drop();
  });

  test('runs the schedule, guard and retention, serves no HTTP, and stops cleanly on SIGTERM', async () => {
    const w = runWorker({
      DATABASE_URL: scratch.url,
      MODEL_DIR: await tinyModelDir(),
      MODEL_AUTO_BUILD: 'false',
      POLICY_DIR: path.resolve('policies'),
      INFERENCE_WORKERS: '1',
      ORT_THREADS: '1',
      BATCH_CALIBRATE: 'false',
      LOG_LEVEL: 'info',
    });
    try {
      await waitFor(() => w.stdout().includes('"worker running"') || w.child.exitCode !== null, 'the worker to start', 60_000);
      assert.equal(w.child.exitCode, null, `the worker exited early:\n${w.stdout()}\n${w.stderr()}`);
      const lines = w.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const running = lines.find((l) => l.msg === 'worker running')!;
      assert.deepEqual(running.jobs, ['readiness', 'training schedule', 'retention', 'promotion guard', 'training', 'inference', 'database']);
      assert.ok(lines.some((l) => l.msg === 'training schedule armed'));
      assert.ok(!lines.some((l) => l.msg === 'listening'), 'a worker serves no HTTP');
      w.child.kill('SIGTERM');
      assert.equal(await w.exited, 0, w.stderr());
    } finally {
      w.child.kill('SIGKILL');
    }
  });
});
