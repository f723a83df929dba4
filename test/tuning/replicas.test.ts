/**
 * Two server processes on one PostgreSQL: the scheduled run for a slot happens once (not once per
 * replica), and after its promotion both replicas serve the new head within a few seconds.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { loadPolicies } from '../../src/policy/loader.js';
import { startTestApp } from '../helpers/app.js';
import { quietLogger } from '../helpers/db.js';
import { makeTexts, moderateAndReview } from '../helpers/feedback.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

const url = process.env.TEST_DATABASE_URL;

function policyYaml(schedule: string): string {
  return [
    'categories:',
    '  violence: { flag: 0.5, block: 0.9 }',
    '  harassment: { flag: 0.5, block: 0.95 }',
    '  hate: { flag: 0.5, block: 0.95 }',
    'review: { audit_rate: 1, audit_reviews_per_task: 1 }',
    `training: { schedule: "${schedule}", timezone: UTC, epochs: 40, learning_rate: 0.2, batch_size: 16, beta: 0.1, lexical_l2: 0.0001, min_pairs: 10, seed: 7 }`,
    'gate: { min_eval_items: 10, min_improvement: 0.02 }',
  ].join('\n');
}

describe('two replicas on one PostgreSQL', { skip: url ? false : 'TEST_DATABASE_URL is not set: PostgreSQL-only test skipped' }, () => {
  let scratch: ScratchDatabase;
  let dbUrl: string;
  let dir: string;
  let database: Database;
  const children: ChildProcess[] = [];

  before(async () => {
    scratch = await createScratchDatabase(url!, 'modtune_replicas');
    dbUrl = scratch.url;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-replicas-'));
    database = await openDatabase({ url: dbUrl, dataDir: 'unused', logger: quietLogger() });
    await migrateToLatest(database.db);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await database?.destroy();
    await fs.rm(dir, { recursive: true, force: true });
    await scratch?.drop();
  });

  test('one run per scheduled slot; both replicas switch to the promoted head', async (t) => {
    // Feedback first, from a server in this process (no schedule).
    await fs.mkdir(path.join(dir, 'seed'));
    await fs.writeFile(path.join(dir, 'seed', 'default.yaml'), policyYaml('0 3 * * *'));
    const seeder = await startTestApp({ database, policies: await loadPolicies(path.join(dir, 'seed')) });
    await moderateAndReview(seeder, await seeder.key('client'), await seeder.key('moderator'), await makeTexts(300, 1));
    await seeder.close();

    // A schedule that fires once, a few seconds after both replicas are up.
    const at = new Date(Date.now() + 20_000);
    await fs.mkdir(path.join(dir, 'live'));
    await fs.writeFile(path.join(dir, 'live', 'default.yaml'), policyYaml(`${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`));
    const start = async (i: number): Promise<number> => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          DATABASE_URL: dbUrl,
          MODEL_DIR: await tinyModelDir(),
          MODEL_AUTO_BUILD: 'false',
          POLICY_DIR: path.join(dir, 'live'),
          PORT: '0',
          INFERENCE_WORKERS: '1',
          ORT_THREADS: '1',
          HEAD_POLL_MS: '1000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setInterval(() => {
          const line = out.split('\n').find((l) => l.includes('"listening"'));
          if (line) {
            clearInterval(timer);
            resolve((JSON.parse(line) as { port: number }).port);
          } else if (child.exitCode !== null) {
            clearInterval(timer);
            reject(new Error(`replica ${i} exited:\n${out}`));
          }
        }, 50);
      });
      return port;
    };
    // Started together; the slot is far enough ahead for both to be up on a slow machine.
    const ports = await Promise.all([start(0), start(1)]);
    assert.ok(Date.now() < at.getTime() - 2_000, 'both replicas were up before the slot');
    const headOf = async (port: number) => ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { model: { head_id: string } }).model.head_id;
    const initial = await Promise.all(ports.map(headOf));
    assert.equal(initial[0], initial[1]);

    // Wait for the slot's run to finish.
    let run: { id: string; status: string; scheduled_for: Date | null; candidate_head_id: string | null; finished_at: Date | null } | undefined;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      run = await database.db.selectFrom('training_runs').select(['id', 'status', 'scheduled_for', 'candidate_head_id', 'finished_at']).where('trigger', '=', 'cron').executeTakeFirst();
      if (run && run.finished_at) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(run?.finished_at, 'the scheduled run finished');
    assert.equal(run.status, 'promoted');
    assert.equal(run.scheduled_for?.getTime(), Math.floor(at.getTime() / 1000) * 1000);
    await new Promise((r) => setTimeout(r, 1500));
    const runs = await database.db.selectFrom('training_runs').select(['id', 'replica']).where('trigger', '=', 'cron').execute();
    assert.equal(runs.length, 1, 'one run for the slot, though both replicas fired');

    // Both replicas serve the promoted head within a few seconds of the promotion.
    const promotedAt = run.finished_at!.getTime();
    let switched: string[] = [];
    while (Date.now() - promotedAt < 5_000) {
      switched = await Promise.all(ports.map(headOf));
      if (switched.every((h) => h === run!.candidate_head_id)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(switched, [run.candidate_head_id, run.candidate_head_id]);
    t.diagnostic(`both replicas served head ${run.candidate_head_id} ${Date.now() - promotedAt} ms after the run finished (run on ${runs[0].replica})`);
  });
});
